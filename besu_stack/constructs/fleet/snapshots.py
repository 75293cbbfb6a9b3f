"""Snapshots of the validators' data volumes (Data Lifecycle Manager)."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.dlm_lifecycle_policy import (
    DlmLifecyclePolicy,
    DlmLifecyclePolicyPolicyDetails,
    DlmLifecyclePolicyPolicyDetailsSchedule,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from besu_stack.constructs.fleet.names import DATA_VOLUME_TAG, SnapshotSchedule
from besu_stack.constructs.iam import policy_document
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform


def snapshot_policy(
    scope: Construct,
    *,
    naming: Naming,
    platform: Platform,
    kms_key_arn: str,
    schedule: SnapshotSchedule,
) -> DlmLifecyclePolicy:
    """Data Lifecycle Manager snapshots of every data volume of this network."""
    role = IamRole(
        scope,
        "snapshot_role",
        name=naming.name("snapshots"),
        description="Data Lifecycle Manager: snapshots of the validators' data volumes",
        assume_role_policy=policy_document(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "dlm.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    # Confused-deputy guard ("The confused deputy problem", IAM User Guide,
                    # https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html):
                    # only on behalf of this account. IfExists: the DLM service-role page does
                    # not say that DLM sends aws:SourceAccount when it assumes the role, and a
                    # plain StringEquals would then stop the snapshots.
                    "Condition": {
                        "StringEqualsIfExists": {"aws:SourceAccount": platform.account_id}
                    },
                }
            ]
        ),
    )
    IamRolePolicyAttachment(
        scope,
        "snapshot_role_dlm",
        role=role.name,
        policy_arn=f"arn:{platform.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole",
    )
    IamRolePolicy(
        scope,
        "snapshot_role_kms",
        role=role.id,
        name=naming.name("snapshots-kms"),
        policy=policy_document(
            [
                {
                    "Sid": "SnapshotEncryptedVolumesThroughEc2",
                    "Effect": "Allow",
                    "Action": [
                        "kms:CreateGrant",
                        "kms:Decrypt",
                        "kms:DescribeKey",
                        "kms:Encrypt",
                        "kms:GenerateDataKeyWithoutPlaintext",
                        "kms:ReEncryptFrom",
                        "kms:ReEncryptTo",
                    ],
                    "Resource": kms_key_arn,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"ec2.{platform.region}.amazonaws.com"}
                    },
                }
            ]
        ),
    )
    return DlmLifecyclePolicy(
        scope,
        "snapshots",
        description=f"Snapshots of the data volumes of Besu network {naming.network_name}",
        execution_role_arn=role.arn,
        state="ENABLED",
        policy_details=DlmLifecyclePolicyPolicyDetails(
            resource_types=["VOLUME"],
            target_tags={DATA_VOLUME_TAG: naming.network_name},
            schedule=[
                DlmLifecyclePolicyPolicyDetailsSchedule(
                    name="periodic",
                    copy_tags=True,
                    create_rule={"interval": schedule.interval_hours, "interval_unit": "HOURS"},
                    retain_rule={"count": schedule.retention_count},
                    tags_to_add={"besu:snapshot": "dlm"},
                )
            ],
        ),
    )
