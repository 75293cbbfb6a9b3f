"""The validator fleet: ECS on EC2 Auto Scaling, one Besu task per instance, rolled f at a time.

One module per part, like the ECS modules engineers reuse:

* :mod:`.validator_fleet`: the :class:`ValidatorFleet` construct (cluster, logs, service) that
  composes the parts below;
* :mod:`.capacity`: AMI, launch template, Auto Scaling group, capacity provider;
* :mod:`.task`: task definition and the Besu container definition;
* :mod:`.instance_role`: the validator hosts' IAM role;
* :mod:`.reference`: the fleet's names, ARNs and grants, for the constructs created before it;
* :mod:`.snapshots`: Data Lifecycle Manager snapshots of the data volumes;
* :mod:`.node_entrypoint` and :mod:`.host_bootstrap`: the container entry point and the host
  user data that the task and the launch template ship (pure Python, no cdktf);
* :mod:`.names`: names, constants and plain settings.

The construct classes are imported lazily, so importing a pure module (the entry point, the
host bootstrap, the names) does not load cdktf and the AWS provider bindings.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from besu_stack.constructs.fleet.names import (
    CONTAINER_NAME,
    DATA_VOLUME_TAG,
    ECS_AMI_PARAMETER,
    KEY_REFUSAL_METRIC,
    METRIC_NAMESPACE,
    LifecycleHooks,
    NodeImage,
    NodeSizing,
    SnapshotSchedule,
    fleet_name,
    instance_role_name,
)

if TYPE_CHECKING:
    from besu_stack.constructs.fleet.reference import FleetReference
    from besu_stack.constructs.fleet.task import LIVENESS_PROBE
    from besu_stack.constructs.fleet.validator_fleet import ValidatorFleet

_LAZY = {
    "FleetReference": "besu_stack.constructs.fleet.reference",
    "ValidatorFleet": "besu_stack.constructs.fleet.validator_fleet",
    "LIVENESS_PROBE": "besu_stack.constructs.fleet.task",
}

__all__ = [
    "CONTAINER_NAME",
    "DATA_VOLUME_TAG",
    "ECS_AMI_PARAMETER",
    "KEY_REFUSAL_METRIC",
    "LIVENESS_PROBE",
    "METRIC_NAMESPACE",
    "FleetReference",
    "LifecycleHooks",
    "NodeImage",
    "NodeSizing",
    "SnapshotSchedule",
    "ValidatorFleet",
    "fleet_name",
    "instance_role_name",
]


def __getattr__(name: str) -> Any:
    """Import the cdktf-backed names on first use (PEP 562)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
