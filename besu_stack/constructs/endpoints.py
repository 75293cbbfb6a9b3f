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
    EndpointUse("kms", "decrypt the validator key secret and encrypted EBS volumes"),
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
