"""The AWS APIs the network's nodes and Lambdas call, and so the VPC endpoints it needs.

Nodes have no internet path (no internet or NAT gateway), so every AWS API they or the Lambdas
in the VPC (health checker, key generation) call needs a VPC endpoint. The lifecycle Lambdas run
outside the VPC (they call Route 53's API, which has no endpoint).
``tests/synth/test_reachability.py`` derives the services each caller uses from the code and
checks that this table and the security groups give a path to each. This table is the one place that lists them: a construct
that starts calling a new AWS API adds a row here, with who calls it and why. The ``Network``
construct creates one gateway endpoint per :data:`GATEWAY_ENDPOINTS` row and one interface
endpoint (private DNS on) per :data:`INTERFACE_ENDPOINTS` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from besu_stack.constructs.iam import Statement, policy_document

if TYPE_CHECKING:
    from besu_stack.constructs.platform import Platform


@dataclass(frozen=True)
class EndpointUse:
    """One AWS API reached through a VPC endpoint, by its endpoint service suffix.

    ``service`` is the last part of the endpoint service name ``com.amazonaws.<region>.<service>``;
    ``used_by`` says which part of the network calls it and for what.
    """

    service: str
    used_by: str


GATEWAY_ENDPOINTS: tuple[EndpointUse, ...] = (
    EndpointUse("dynamodb", "registry Lambdas and nodes: the key-to-node slot table"),
    EndpointUse("s3", "ECR image layers, ECS agent and SSM downloads, Lambda code"),
)
"""Services reached through gateway endpoints (route table entries, no ENIs, no cost)."""

INTERFACE_ENDPOINTS: tuple[EndpointUse, ...] = (
    EndpointUse("autoscaling", "health checker marks nodes unhealthy (replacement)"),
    EndpointUse("ec2", "agents on the hosts (ECS, SSM, CloudWatch) describe their instance"),
    EndpointUse("ec2messages", "SSM agent on the hosts (Session Manager instead of SSH)"),
    EndpointUse("ecr.api", "ECS agent authenticates to ECR and resolves the Besu image"),
    EndpointUse("ecr.dkr", "ECS agent pulls the Besu image (layers come from S3)"),
    EndpointUse("ecs", "ECS agent registers the container instance and polls tasks"),
    EndpointUse("ecs-agent", "ECS agent communication channel"),
    EndpointUse("ecs-telemetry", "ECS agent container metrics"),
    EndpointUse(
        "kms",
        "decrypt the validator key secret and encrypted EBS volumes; the health checker signs "
        "its RPC tokens, the hosts read the token key's public key",
    ),
    EndpointUse("logs", "awslogs driver (node logs), Lambdas in the VPC, CloudWatch agent"),
    EndpointUse("monitoring", "health checker publishes metrics; CloudWatch agent"),
    EndpointUse("secretsmanager", "nodes fetch their slot's validator key; key generation Lambda"),
    EndpointUse("ssm", "ECS-optimized AMI parameter, SSM agent, node configuration parameters"),
    EndpointUse("ssmmessages", "SSM agent Session Manager channel"),
    EndpointUse("sts", "IAM role credentials for tasks and Lambdas (regional STS)"),
)
"""Services reached through interface endpoints (an ENI per subnet, private DNS on)."""


def gateway_services() -> list[str]:
    """Gateway endpoint service suffixes, sorted (the ``for_each`` keys)."""
    return sorted(e.service for e in GATEWAY_ENDPOINTS)


def interface_services() -> list[str]:
    """Interface endpoint service suffixes, sorted (the ``for_each`` keys)."""
    return sorted(e.service for e in INTERFACE_ENDPOINTS)


# --- endpoint policies -----------------------------------------------------------------------
#
# An endpoint policy limits what may pass through the endpoint; it never grants. Without one, the
# S3 gateway endpoint reaches every bucket of every account, so anything on a host could copy what
# the host's credentials read to a bucket elsewhere. Each policy admits this account's principals
# acting on this account's resources, plus the AWS-owned buckets the hosts need, each with the
# page that documents it.


@dataclass(frozen=True)
class AwsOwnedBucket:
    """An AWS-owned bucket the hosts read through the S3 gateway endpoint.

    ``name`` is the bucket name (``{region}`` is filled in, ``*`` matches a suffix), ``used_by``
    says who reads it, ``documented_at`` is the AWS page that documents the bucket.
    """

    name: str
    used_by: str
    documented_at: str


AWS_OWNED_BUCKETS: tuple[AwsOwnedBucket, ...] = (
    AwsOwnedBucket(
        # ECR stores image layers in this bucket; pulls through a restricted S3 gateway endpoint
        # need s3:GetObject on it (section "Minimum Amazon S3 bucket permissions for Amazon ECR").
        "prod-{region}-starport-layer-bucket",
        "ECR image layers: the ECS agent pulls the Besu image",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html",
    ),
    AwsOwnedBucket(
        # The Amazon Linux 2023 package repositories, which dnf reaches through the S3 gateway
        # endpoint (the host bootstrap installs awscli-2 and amazon-cloudwatch-agent). The
        # bucket is al2023-repos-<region>-de612dc2; the suffix is matched by wildcard.
        "al2023-repos-{region}-*",
        "Amazon Linux 2023 package repositories: dnf on the hosts",
        "https://docs.aws.amazon.com/linux/al2023/ug/managing-repos-os-updates.html",
    ),
)
"""AWS-owned buckets the hosts read through the S3 gateway endpoint (name pattern, why)."""


def own_account_statement(account_id: str) -> Statement:
    """Admit this account's principals acting on this account's resources, and nothing else.

    ``aws:ResourceAccount`` uses ``StringEqualsIfExists``: a few actions carry no resource
    account in their request context ("AWS global condition context keys", aws:ResourceAccount,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html),
    and for them the principal condition still holds.
    """
    return {
        "Sid": "OwnAccountOnly",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:PrincipalAccount": account_id},
            "StringEqualsIfExists": {"aws:ResourceAccount": account_id},
        },
    }


def interface_endpoint_policy(account_id: str) -> str:
    """The policy of every interface endpoint: this account's principals and resources only."""
    return policy_document([own_account_statement(account_id)])


def gateway_endpoint_policy(service: str, platform: Platform) -> str:
    """The policy of one gateway endpoint; the S3 one also reads the AWS-owned buckets."""
    account_id = platform.account_id
    statements: list[Statement] = [own_account_statement(account_id)]
    if service == "s3":
        statements.append(
            {
                "Sid": "AwsOwnedBucketsTheHostsRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": [
                    platform.arn(
                        "s3",
                        f"{bucket.name.format(region=platform.region)}/*",
                        regional=False,
                        in_account=False,
                    )
                    for bucket in AWS_OWNED_BUCKETS
                ],
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account_id}},
            }
        )
    return policy_document(statements)
