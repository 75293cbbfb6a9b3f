"""The reconciler (scheduled): free slots whose owner vanished, report slots that are stuck.

* An ``in_use`` slot whose owner is gone (EC2 does not know it, or it is ``shutting-down`` or
  ``terminated``) is released: its secret access withdrawn (the secret's policy deleted if it
  names that owner; the reconciler may delete a policy, never write one), its volume detached
  from the dead owner if still attached, then a write conditional on the item's version and
  owner. EC2's API is eventually consistent (a new instance may be missing from
  ``DescribeInstances`` for a while,
  https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html), so a slot is freed
  only when it was claimed at least ``MIN_CLAIM_AGE_SECONDS`` ago and its owner was
  already seen gone by a run at least ``RECONCILE_CONFIRM_SECONDS`` earlier (the first sighting
  is recorded as ``gone_since``; seeing the owner again clears it).
* A slot is *stuck* when a launch's lease expired (``lease_expires_at`` in the past: the hook
  neither finished nor undid) while its owner still exists, or when it has been ``available``
  longer than ``STUCK_AFTER_SECONDS`` (a validator is missing from the network). Stuck slots are
  logged and counted in the ``SlotsStuck`` metric; an alarm on it is the operator's signal.
* Items without ``status_since`` (as keygen writes them) are stamped on first sight.
* A volume a cross-AZ restore took out of its slot (``besu:superseded-by``) is deleted
  ``SUPERSEDED_RETENTION_DAYS`` after it was superseded, once it is detached (``available``).

Never releases a slot whose owner still exists: that node may hold the key.

Every AWS call is checked against the run's budget (one call, the metrics, kept in reserve):
a run that runs out of time stops where it is and the next run (5 minutes later) goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from besu_stack.lambda_kernel.aws import Budget, OutOfTimeError, worst_case_call_seconds
from besu_stack.lambda_log import JsonLogger

from .config import LifecycleConfig
from .registry import AVAILABLE, IN_USE, RETIRED
from .store import GONE_STATES, SUPERSEDED_AT_TAG, Stores
from .termination import release_slot


def reconcile(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    *,
    account: str,
    region: str,
    partition: str = "aws",
    now: Callable[[], float] = time.time,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Run one reconciliation; return counts and the released and stuck slots."""
    if budget is None:
        budget = Budget.starting_now(config.function_timeout_seconds, worst_case_call_seconds())
    if stores.guard is not None:
        stores.guard.budget = budget
    try:
        return _reconcile(config, stores, log, account, region, partition, now)
    finally:
        if stores.guard is not None:
            stores.guard.budget = None


def _reconcile(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    account: str,
    region: str,
    partition: str,
    now: Callable[[], float],
) -> dict[str, Any]:
    released: list[int] = []
    stuck: list[dict[str, Any]] = []
    try:
        _reconcile_slots(config, stores, log, account, region, partition, now, released, stuck)
        deleted = _delete_old_superseded(config, stores, log, int(now()))
    except OutOfTimeError as exc:
        log.warning("reconciliation stopped: out of time; the next run goes on", detail=str(exc))
        if stores.guard is not None:
            stores.guard.budget = None  # the reserve pays for the metrics
        stores.metrics.put({"SlotsStuck": float(len(stuck)), "SlotsReleased": float(len(released))})
        return {"released_slots": released, "stuck": stuck, "counts": {}, "incomplete": True}
    report = _report(stores, log, released, stuck)
    report["deleted_superseded_volumes"] = deleted
    return report


def _delete_old_superseded(
    config: LifecycleConfig, stores: Stores, log: JsonLogger, stamp: int
) -> list[str]:
    deleted: list[str] = []
    cutoff = stamp - config.superseded_retention_days * 86_400
    for volume in stores.ec2.superseded_volumes(config.network_name):
        since = volume.tags.get(SUPERSEDED_AT_TAG, "")
        if volume.state != "available" or not since.isdigit() or int(since) > cutoff:
            continue
        stores.ec2.delete_volume(volume.volume_id)
        log.info("superseded volume deleted", volume_id=volume.volume_id, superseded_at=since)
        deleted.append(volume.volume_id)
    return deleted


def _reconcile_slots(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    account: str,
    region: str,
    partition: str,
    now: Callable[[], float],
    released: list[int],
    stuck: list[dict[str, Any]],
) -> None:
    records = stores.registry.scan()
    owners = [r.owner_instance_id for r in records if r.status == IN_USE and r.owner_instance_id]
    instances = stores.ec2.instances(owners) if owners else {}
    stamp = int(now())
    for record in records:
        if record.status_since is None:
            updated = stores.registry.first_seen(record, stamp)
            record = updated or record
        if record.status == IN_USE:
            owner = record.owner_instance_id
            if owner is None:
                stuck.append({"slot": record.slot, "reason": "in_use without an owner"})
                continue
            instance = instances.get(owner)
            alive = instance is not None and instance.state not in GONE_STATES
            if alive and record.gone_since is not None:
                record = stores.registry.clear_gone(record, owner) or record
            if instance is None or instance.state in GONE_STATES:
                claimed = record.claimed_at if record.claimed_at is not None else 0
                if stamp - claimed < config.min_claim_age_seconds:
                    continue  # too young: EC2 may not list a new instance yet
                if config.reconcile_confirm_seconds > 0:
                    if record.gone_since is None:
                        stores.registry.mark_gone(record, owner, stamp)
                        log.info("owner not found; will look again", slot=record.slot)
                        continue
                    if stamp - record.gone_since < config.reconcile_confirm_seconds:
                        continue
                arn = f"arn:{partition}:ec2:{region}:{account}:instance/{owner}"
                log.info(
                    "owner is gone; releasing slot",
                    slot=record.slot,
                    instance_id=owner,
                    state=None if instance is None else instance.state,
                )
                if release_slot(config, stores, log, record, owner, arn, stamp, snapshot=False):
                    released.append(record.slot)
                else:
                    stuck.append({"slot": record.slot, "reason": "owner gone, release incomplete"})
            elif record.lease_expires_at is not None and record.lease_expires_at < stamp:
                stuck.append(
                    {
                        "slot": record.slot,
                        "reason": "launch lease expired",
                        "instance_id": owner,
                        "seconds_over": stamp - record.lease_expires_at,
                    }
                )
        elif (
            record.status == AVAILABLE
            and record.status_since is not None
            and stamp - record.status_since > config.stuck_after_seconds
        ):
            stuck.append(
                {
                    "slot": record.slot,
                    "reason": "available too long",
                    "seconds": stamp - record.status_since,
                }
            )


def _report(
    stores: Stores, log: JsonLogger, released: list[int], stuck: list[dict[str, Any]]
) -> dict[str, Any]:
    for item in stuck:
        log.warning("slot stuck", **item)
    final = stores.registry.scan()
    counts = {
        "SlotsInUse": float(sum(r.status == IN_USE for r in final)),
        "SlotsAvailable": float(sum(r.status == AVAILABLE for r in final)),
        "SlotsRetired": float(sum(r.status == RETIRED for r in final)),
        "SlotsStuck": float(len(stuck)),
        "SlotsReleased": float(len(released)),
    }
    stores.metrics.put(counts)
    outcome = {"released_slots": released, "stuck": stuck, "counts": counts}
    log.info("reconciliation finished", released_slots=released, stuck_slots=len(stuck))
    return outcome
