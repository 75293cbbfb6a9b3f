"""Snapshots of the validators' data volumes (Data Lifecycle Manager)."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.dlm_lifecycle_policy import (
    DlmLifecyclePolicy,
    DlmLifecyclePolicyPolicyDetails,
    DlmLifecyclePolicyPolicyDetailsSchedule,
)
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from besu_stack.constructs.fleet.names import DATA_VOLUME_TAG, SnapshotSchedule
from besu_stack.constructs.iam import Role, service_trust_policy
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EBS_VOLUMES, EncryptionKey

DLM_SERVICE_ROLE_POLICY = "service-role/AWSDataLifecycleManagerServiceRole"


def snapshot_policy(
    scope: Construct,
    *,
    identity: NetworkIdentity,
    key: EncryptionKey,
    schedule: SnapshotSchedule,
) -> DlmLifecyclePolicy:
    """Data Lifecycle Manager snapshots of every data volume of this network.

    The role is the one the DLM guide prescribes ("AWS managed policies for Amazon Data
    Lifecycle Manager", https://docs.aws.amazon.com/ebs/latest/userguide/managed-policies.html):
    ``AWSDataLifecycleManagerServiceRole``, assumable only by DLM on behalf of this account,
    plus the network key through EC2 for the encrypted volumes. It is the one AWS-managed policy
    left in the stack (the service-role policy DLM is built against; a hand-narrowed copy could
    stop the snapshots without any error a test here could see), and it is accepted in
    ``besu_stack/policy/suppressions.py`` with that reason.
    """
    platform = identity.platform
    role = Role(
        scope,
        "snapshot_role",
        name=identity.name("snapshots"),
        description="Data Lifecycle Manager: snapshots of the validators' data volumes",
        # Confused-deputy guard ("The confused deputy problem", IAM User Guide,
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html): only on
        # behalf of this account. IfExists: the DLM service-role page does not say that DLM
        # sends aws:SourceAccount when it assumes the role, and a plain StringEquals would then
        # stop the snapshots.
        assume_role_policy=service_trust_policy(
            "dlm.amazonaws.com",
            condition={"StringEqualsIfExists": {"aws:SourceAccount": platform.account_id}},
        ),
        policy_id="snapshot_role_kms",
        policy_name=identity.name("snapshots-kms"),
    )
    IamRolePolicyAttachment(
        scope,
        "snapshot_role_dlm",
        role=role.name,
        policy_arn=platform.managed_policy_arn(DLM_SERVICE_ROLE_POLICY),
    )
    key.grant(role, (*EBS_VOLUMES, "kms:Encrypt"), via_service="ec2")
    return DlmLifecyclePolicy(
        scope,
        "snapshots",
        description=f"Snapshots of the data volumes of Besu network {identity.network_name}",
        execution_role_arn=role.arn,
        state="ENABLED",
        policy_details=DlmLifecyclePolicyPolicyDetails(
            resource_types=["VOLUME"],
            target_tags={DATA_VOLUME_TAG: identity.network_name},
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
