"""The termination hook: take the slot back from a terminating instance.

1. drain the instance's ECS container instance (optional, when ``ECS_CLUSTER_NAME`` is set) so
   ECS stops Besu cleanly before its volume goes;
2. for each slot the instance owns: withdraw its secret access, detach the data volume and wait
   until it is ``available``, snapshot it (the source of a later cross-AZ restore), and release
   the slot with a write conditional on this instance owning it;
3. complete the lifecycle action with ``CONTINUE`` (always: termination must proceed).

A slot whose volume does not detach in time stays ``in_use``; the reconciler releases it once
the instance is gone (EC2 detaches volumes of terminated instances).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from besu_stack.lambda_log import JsonLogger

from .config import LifecycleConfig
from .events import TERMINATE_TRANSITION, parse_lifecycle_action
from .registry import IN_USE, SlotRecord
from .store import Stores


def release_slot(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    record: SlotRecord,
    instance_id: str,
    instance_arn: str,
    now: int,
    *,
    snapshot: bool,
) -> bool:
    """Withdraw access, detach the volume, optionally snapshot it, release the slot.

    Returns ``True`` when the slot was released; ``False`` when the volume is still attached
    or the registry item changed (another actor owns the slot now).
    """
    slot = record.slot
    if stores.secrets.revoke(record.secret_name, instance_arn):
        log.info("secret access withdrawn", slot=slot, instance_id=instance_id)
    if record.volume_id is not None:
        volume = stores.ec2.volume(record.volume_id)
        if volume is not None and volume.attached_to(instance_id):
            stores.ec2.detach(record.volume_id, instance_id)
            log.info("volume detaching", slot=slot, volume_id=record.volume_id)
        if volume is not None:
            ready = stores.ec2.wait_until_available(record.volume_id, config.volume_wait_seconds)
            if ready is None:
                log.warning(
                    "volume still attached; slot kept for the reconciler",
                    slot=slot,
                    volume_id=record.volume_id,
                    instance_id=instance_id,
                )
                return False
            if snapshot:
                snapshot_id = stores.ec2.create_snapshot(
                    config.network_name, slot, record.volume_id
                )
                log.info("volume snapshot started", slot=slot, snapshot_id=snapshot_id)
    released = stores.registry.release(record, instance_id, now)
    if released is None:
        log.warning("slot changed meanwhile; not released", slot=slot, instance_id=instance_id)
        return False
    log.info("slot released", slot=slot, instance_id=instance_id)
    return True


def handle_termination(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    event: object,
    *,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Run the termination hook for ``event`` and complete its lifecycle action (CONTINUE)."""
    action = parse_lifecycle_action(event, TERMINATE_TRANSITION)
    instance_id = action.instance_id
    released: list[int] = []
    incomplete = False
    try:
        owned = [
            r
            for r in stores.registry.scan()
            if r.status == IN_USE and r.owner_instance_id == instance_id
        ]
        if owned and stores.containers is not None:
            drained = stores.containers.drain(instance_id, config.drain_wait_seconds)
            log.info("container instance drained", instance_id=instance_id, drained=drained)
        for record in owned:
            if release_slot(
                config,
                stores,
                log,
                record,
                instance_id,
                action.instance_arn,
                int(now()),
                snapshot=config.snapshot_on_termination,
            ):
                released.append(record.slot)
            else:
                incomplete = True
    except Exception as exc:
        # The instance terminates anyway; the reconciler finishes the release.
        log.error(
            "termination hook failed; the reconciler will release the slot",
            instance_id=instance_id,
            error=type(exc).__name__,
        )
        incomplete = True
    stores.lifecycle.complete(
        action.group_name, action.hook_name, action.token, instance_id, "CONTINUE"
    )
    outcome = {
        "result": "CONTINUE",
        "instance_id": instance_id,
        "released_slots": released,
        "incomplete": incomplete,
    }
    log.info("termination hook completed", **outcome)
    return outcome
