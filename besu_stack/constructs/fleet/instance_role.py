"""The validator hosts' IAM role."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from besu_stack.constructs.fleet.names import instance_role_name
from besu_stack.constructs.iam import Statement, policy_document
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform


def instance_role(
    scope: Construct,
    *,
    naming: Naming,
    platform: Platform,
    slot_secret_arns: Sequence[str],
    artifact_bucket_arn: str,
    object_keys: Sequence[str],
    kms_key_arn: str,
) -> IamRole:
    """The validator hosts' role, created in ``scope``.

    The SSM, ECS and CloudWatch agent policies, reading the two network files and the slot
    secrets (each secret's resource policy narrows this to the slot's own instance), and finding
    the load balancer's addresses.
    """
    role = IamRole(
        scope,
        "instance_role",
        name=instance_role_name(naming),
        description="Validator hosts: ECS agent, SSM, CloudWatch agent, own slot's key",
        assume_role_policy=policy_document(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ]
        ),
    )
    for managed in (
        "AmazonSSMManagedInstanceCore",
        "service-role/AmazonEC2ContainerServiceforEC2Role",
        "CloudWatchAgentServerPolicy",
    ):
        IamRolePolicyAttachment(
            scope,
            "instance_" + managed.rsplit("/", 1)[-1],
            role=role.name,
            policy_arn=f"arn:{platform.partition}:iam::aws:policy/{managed}",
        )
    statements: list[Statement] = [
        {
            # Each secret's resource policy admits only the instance that holds the slot.
            "Sid": "ReadSlotKey",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": list(slot_secret_arns),
        },
        {
            "Sid": "ReadNetworkFiles",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"{artifact_bucket_arn}/{key}" for key in object_keys],
        },
        {
            # The host bootstrap reads the NLB's addresses (its health check sends one as
            # Host, which Besu's allow-list must admit). Describe actions support no
            # resource-level permissions, hence "*" (read-only; for issue 13's review).
            "Sid": "FindLoadBalancerAddresses",
            "Effect": "Allow",
            "Action": "ec2:DescribeNetworkInterfaces",
            "Resource": "*",
        },
        {
            "Sid": "DecryptThroughSecretsManagerAndS3",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arn,
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": [
                        f"secretsmanager.{platform.region}.amazonaws.com",
                        f"s3.{platform.region}.amazonaws.com",
                    ]
                }
            },
        },
    ]
    IamRolePolicy(
        scope,
        "instance_policy",
        role=role.id,
        name=instance_role_name(naming),
        policy=policy_document(statements),
    )
    return role
