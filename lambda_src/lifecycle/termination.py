"""The termination hook: take the slot back from a terminating instance, data intact.

1. mark each slot the instance owns as being released (``releasing_since``), so a launch that
   finds no free slot waits for it instead of abandoning;
2. drain the instance's ECS container instance so ECS stops Besu (SIGTERM, then SIGKILL after
   the container's ``stopTimeout``); the wait (``DRAIN_WAIT_SECONDS``, default 150) is longer
   than that stop timeout (120 s);
3. once no task runs, unmount the data volume on the host through SSM Run Command
   (``sync; umount``): the volume is detached only from an unmounted file system;
4. for each slot: withdraw its secret access (delete the secret's policy if it names this
   instance: a revoke never writes a policy, so it can never open a secret), detach the volume
   and wait until it is ``available``, snapshot it (the source of a later cross-AZ restore),
   and release the slot with a write conditional on this instance owning it;
5. complete the lifecycle action with ``CONTINUE`` (always: termination must proceed).

When Besu could not be stopped or the volume not unmounted in time, the volume is *not*
detached: the instance's own shutdown stops Docker and unmounts file systems before EC2
detaches its volumes, and the reconciler releases the slot once the instance is gone.

Every AWS call is checked against the invocation's budget, which keeps the ``CONTINUE`` call in
reserve; the waits are bounded by what the budget can spare.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from besu_stack.lambda_kernel.aws import Budget, worst_case_call_seconds
from besu_stack.lambda_log import JsonLogger

from .config import LifecycleConfig
from .events import TERMINATE_TRANSITION, parse_lifecycle_action
from .registry import IN_USE, SlotRecord
from .store import UNMOUNT_SCRIPT, Stores

UNMOUNT_WAIT_SECONDS = 60.0


def completion_reserve_seconds() -> float:
    """The worst case of the ``CONTINUE`` call: kept free by the termination's budget."""
    return worst_case_call_seconds()


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
    detach: bool = True,
    wait_seconds: float | None = None,
) -> bool:
    """Withdraw access, detach the volume, optionally snapshot it, release the slot.

    With ``detach=False`` a volume still attached to the instance is left to the instance's
    shutdown (the slot is then kept). Returns ``True`` when the slot was released; ``False``
    when the volume is still attached or the registry item changed (another actor owns the
    slot now).
    """
    slot = record.slot
    wait = config.volume_wait_seconds if wait_seconds is None else wait_seconds
    if stores.secrets.revoke(config.secret_name(slot), instance_arn):
        log.info("secret access withdrawn", slot=slot, instance_id=instance_id)
    if record.volume_id is not None:
        volume = stores.ec2.volume(record.volume_id)
        if volume is not None and volume.attached_to(instance_id):
            if not detach:
                log.warning(
                    "volume not unmounted; left to the instance's shutdown, slot kept for "
                    "the reconciler",
                    slot=slot,
                    volume_id=record.volume_id,
                    instance_id=instance_id,
                )
                return False
            stores.ec2.detach(record.volume_id, instance_id)
            log.info("volume detaching", slot=slot, volume_id=record.volume_id)
        if volume is not None:
            ready = stores.ec2.wait_until_available(record.volume_id, wait)
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
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Run the termination hook for ``event`` and complete its lifecycle action (CONTINUE)."""
    action = parse_lifecycle_action(event, TERMINATE_TRANSITION)
    instance_id = action.instance_id
    if budget is None:
        budget = Budget.starting_now(config.function_timeout_seconds, completion_reserve_seconds())
    released: list[int] = []
    incomplete = False
    unmounted: bool | None = None
    if stores.guard is not None:
        stores.guard.budget = budget
    try:
        owned = [
            r
            for r in stores.registry.scan()
            if r.status == IN_USE and r.owner_instance_id == instance_id
        ]
        stamp = int(now())
        owned = [stores.registry.mark_releasing(r, instance_id, stamp) or r for r in owned]
        drained = True
        if owned and stores.containers is not None:
            drained = stores.containers.drain(
                instance_id, min(config.drain_wait_seconds, budget.spare())
            )
            log.info("container instance drained", instance_id=instance_id, drained=drained)
        if owned and stores.commands is not None:
            unmounted = drained and stores.commands.run(
                instance_id, UNMOUNT_SCRIPT, min(UNMOUNT_WAIT_SECONDS, budget.spare())
            )
            log.info("data volume unmounted", instance_id=instance_id, unmounted=unmounted)
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
                detach=unmounted is not False,
                wait_seconds=min(config.volume_wait_seconds, budget.spare()),
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
    finally:
        if stores.guard is not None:
            stores.guard.budget = None
    stores.lifecycle.complete(
        action.group_name, action.hook_name, action.token, instance_id, "CONTINUE"
    )
    outcome = {
        "result": "CONTINUE",
        "instance_id": instance_id,
        "released_slots": released,
        "incomplete": incomplete,
        "unmounted": unmounted,
    }
    log.info("termination hook completed", **outcome)
    return outcome
