"""Names, constants and the plain settings of the validator fleet (no cdktf: cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass

from besu_stack.constructs.naming import Naming

ECS_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/{arch}recommended/image_id"
"""Public SSM parameter of the current ECS-optimized Amazon Linux 2023 AMI (``arm64/`` for
Graviton, nothing for x86_64)."""

CONTAINER_NAME = "besu"
DATA_VOLUME_TAG = "Network"
"""Tag key the launch hook puts on each data volume (value: the network name); DLM targets it."""
METRIC_NAMESPACE = "BesuStack"
KEY_REFUSAL_METRIC = "NodeKeyRefusals"


@dataclass(frozen=True)
class NodeSizing:
    """Instance and container sizes (plan-time tokens or literals)."""

    instance_type: str
    besu_memory_mib: float
    besu_jvm_heap_mib: float
    root_volume_size_gib: float


def fleet_name(naming: Naming) -> str:
    """Name of the cluster, Auto Scaling group, capacity provider and service (known at synth)."""
    return naming.name("validators")


def instance_role_name(naming: Naming) -> str:
    """Name of the validator hosts' IAM role (known at synth)."""
    return naming.name("validator-host")


@dataclass(frozen=True)
class LifecycleHooks:
    """The Auto Scaling lifecycle hooks the node lifecycle Lambdas answer."""

    launch_hook_name: str
    terminate_hook_name: str
    launch_timeout_seconds: int
    terminate_timeout_seconds: int


@dataclass(frozen=True)
class SnapshotSchedule:
    """Data Lifecycle Manager snapshots of the data volumes.

    A snapshot every ``interval_hours``; ``retention_count`` are kept per volume.
    """

    interval_hours: float
    retention_count: float


@dataclass(frozen=True)
class NodeImage:
    """The Besu container image: repository (ECR name in this account, or a full path) and tag."""

    repository: str
    tag: str
