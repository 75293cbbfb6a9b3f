"""The launch hook: give a launching instance a validator slot, its volume, name and secret.

Steps (each idempotent, so a retried event resumes where a failed or crashed run stopped):

1. find the instance (pending/running) and its AZ and private IP;
2. claim a slot with one conditional write (or find the slot it already owns);
3. find or create the slot's data volume in the instance's AZ (restore from the newest completed
   snapshot when the volume is in another AZ) and record it;
4. attach the volume (after it is ``available``; never while attached elsewhere);
5. UPSERT ``validator-<slot>.<domain>`` → the instance's private IP;
6. let the instance (only) read the slot's secret (the secret's resource policy; the secret's
   name derived from the slot number, never from the registry), unless the policy still opens
   it to another instance that is not gone;
7. tag the instance with its node configuration (read by the host bootstrap via IMDS);
8. end the launch lease in the registry;
9. complete the lifecycle action with ``CONTINUE``.

Lifecycle events arrive at least once (EventBridge targets and Lambda's asynchronous queue
may deliver one event more than once, https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html),
so a run never undoes what it did not do itself:

* a slot the instance already owns and that was handed over (a duplicate of a finished launch)
  is left alone: the run only completes the action again;
* when a step fails before the node configuration is published, the run undoes the steps *it*
  did, in reverse order (secret access it granted withdrawn, volume it attached detached,
  volume it created and nobody recorded deleted, slot it claimed released) and completes the
  action with ``ABANDON`` (Auto Scaling then terminates the instance), unless the instance owns
  a slot another delivery of its event claimed (the node runs, or another run is setting it
  up): then the error propagates and the event is retried, never abandoned;
* once the node configuration is published the host may start Besu, so nothing is undone: the
  error propagates and the event is retried (the run resumes), or the hook times out and the
  termination hook takes the slot back with Besu stopped.

A slot whose owner is terminating (its termination hook has started, or EC2 reports the owner
gone) is waited for within the invocation's budget instead of abandoning: Auto Scaling launches
a health replacement while it terminates the old instance
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/replace-unhealthy-instance.html). When
the budget's time for waiting is used up, the run records a lifecycle heartbeat (the hook's
timeout starts again) and fails, so Lambda retries the event (twice by default, a minute and
two minutes later) and the retry waits again.

Every AWS call is checked against the invocation's time budget first (:class:`CallGuard`), and
the budget keeps a reserve for the undo and the ``ABANDON``, so the function is never killed by
its timeout half-way (``tests/lambdas/test_time_budgets.py`` computes the figures).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from besu_stack.lambda_kernel.aws import Budget, OutOfTimeError, worst_case_call_seconds
from besu_stack.lambda_log import JsonLogger

from .config import LifecycleConfig
from .errors import (
    ConcurrentUpdateError,
    DuplicateDeliveryError,
    ForeignVolumeError,
    InstanceGoneError,
    KeyHeldElsewhereError,
    LifecycleError,
    NoSlotAvailableError,
    SlotBeingReleasedError,
    VolumeBusyError,
)
from .events import LAUNCH_TRANSITION, LifecycleAction, parse_lifecycle_action
from .registry import AVAILABLE, IN_USE, Registry, SlotRecord, error_code
from .store import (
    GONE_STATES,
    NETWORK_TAG,
    SLOT_TAG,
    SUPERSEDED_SLOT_TAG,
    SUPERSEDED_TAG,
    InstanceInfo,
    Stores,
    VolumeInfo,
    VolumeSpec,
)

FaultPoint = Callable[[str], None]
"""Called with a step name after each step; tests raise from it to inject failures."""

STEPS = (
    "after_claim",
    "after_volume_create",
    "after_volume",
    "after_attach",
    "after_dns",
    "after_secret_access",
    "after_node_config",
    "after_handover",
)
MAX_CLAIM_ROUNDS = 5
TAG_PREFIX = "besu:"
RELEASE_POLL_SECONDS = 5.0
SETUP_MARGIN_SECONDS = 20.0
"""Time a launch keeps, after waiting for a release, for its setup calls at ordinary speed."""
UNDO_CALLS = 6
"""AWS calls of the longest undo: release (scan, update), detach, delete an unrecorded volume
(or read that it was recorded), withdraw secret access (get policy, delete policy). ``tests/lambdas/test_time_budgets.py`` counts
them on a real run."""
COMPLETION_CALLS = 1
"""``CompleteLifecycleAction`` with ``ABANDON``."""


def undo_reserve_seconds() -> float:
    """The worst case of the undo plus the ``ABANDON``: kept free by the launch's budget."""
    return (UNDO_CALLS + COMPLETION_CALLS) * worst_case_call_seconds()


def _no_fault(step: str) -> None:
    """The production fault point: nothing happens."""


@dataclass
class _Undo:
    """Compensating actions, run in reverse order when a later step fails."""

    actions: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    held_by_another_delivery: bool = False
    """Set by the release step: the instance owns a slot another delivery of its event claimed
    (a finished launch, or one still in progress), so this run must not abandon it."""

    def add(self, name: str, action: Callable[[], object]) -> None:
        self.actions.append((name, action))

    def run(self, log: JsonLogger, **context: object) -> None:
        for name, action in reversed(self.actions):
            try:
                action()
            except Exception as exc:  # one failed undo must not stop the others
                log.error("undo step failed", step=name, error=type(exc).__name__, **context)
            else:
                log.info("undo step done", step=name, **context)


def _preference(az: str) -> Callable[[SlotRecord], tuple[int, int]]:
    def key(record: SlotRecord) -> tuple[int, int]:
        if record.volume_az == az:
            rank = 0
        elif record.volume_id is None:
            rank = 1
        else:
            rank = 2
        return (rank, record.slot)

    return key


def claim_slot(
    registry: Registry,
    instance_id: str,
    az: str,
    lease_expires_at: int,
    now: int,
    *,
    releasing: Callable[[list[SlotRecord]], bool] = lambda _: False,
    wait_for_release: Callable[[], bool] = lambda: False,
    token: str = "",
) -> tuple[SlotRecord, bool]:
    """Claim a slot for ``instance_id``; return it and whether this call claimed it.

    Idempotent: a slot the instance already owns is returned as it is. Otherwise the
    ``available`` slots are tried in order of preference (volume in the instance's AZ, then no
    volume yet, then volume elsewhere), each with one conditional write that succeeds for at
    most one claimant. When none is available but ``releasing`` says a slot's owner is on its
    way out, ``wait_for_release`` pauses (``False`` when the time for waiting is used up) and
    the claim is tried again. Raises :class:`NoSlotAvailableError` when none is left.
    """
    rounds = 0
    while rounds < MAX_CLAIM_ROUNDS:
        records = registry.scan()
        owned = [r for r in records if r.status == IN_USE and r.owner_instance_id == instance_id]
        if owned:
            return owned[0], False
        candidates = sorted((r for r in records if r.status == AVAILABLE), key=_preference(az))
        if not candidates:
            if releasing(records):
                if wait_for_release():
                    continue
                raise SlotBeingReleasedError(
                    f"no slot is free for {instance_id} yet; a terminating owner is releasing one"
                )
            raise NoSlotAvailableError(
                f"no validator slot is available for {instance_id} ({len(records)} slots, all "
                "in use or retired, none being released in time); the instance is abandoned"
            )
        rounds += 1
        for candidate in candidates:
            claimed = registry.claim(candidate, instance_id, az, lease_expires_at, now, token)
            if claimed is not None:
                return _keep_one_claim(registry, instance_id, claimed, now), True
    raise NoSlotAvailableError(
        f"could not claim a slot for {instance_id} in {MAX_CLAIM_ROUNDS} rounds of contention"
    )


def _keep_one_claim(
    registry: Registry, instance_id: str, claimed: SlotRecord, now: int
) -> SlotRecord:
    """Two concurrent deliveries of one event may each claim a slot: the lowest one is kept.

    The delivery that claimed another slot releases it and stops (:class:`DuplicateDeliveryError`)
    without touching the kept slot, which the other delivery sets up.
    """
    owned = [
        r for r in registry.scan() if r.status == IN_USE and r.owner_instance_id == instance_id
    ]
    if len(owned) <= 1 or owned[0].slot == claimed.slot:
        return claimed
    registry.release(claimed, instance_id, now)
    raise DuplicateDeliveryError(
        f"{instance_id} also claimed slot {owned[0].slot} in a concurrent delivery of the same "
        f"event; slot {claimed.slot} released, the other delivery continues"
    )


def _spec(config: LifecycleConfig) -> VolumeSpec:
    return VolumeSpec(
        kms_key_id=config.volume_kms_key_id,
        size_gib=config.volume_size_gib,
        iops=config.volume_iops,
        throughput=config.volume_throughput,
    )


def _adoptable(stores: Stores, config: LifecycleConfig, slot: int, az: str) -> VolumeInfo | None:
    """A volume tagged for the slot in ``az``, free and not superseded (left by a crashed run)."""
    for volume in stores.ec2.slot_volumes(config.network_name, slot):
        if (
            volume.az == az
            and volume.state in ("creating", "available")
            and not volume.live_attachments
            and SUPERSEDED_TAG not in volume.tags
        ):
            return volume
    return None


def ensure_volume(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    record: SlotRecord,
    instance: InstanceInfo,
    fault: FaultPoint = _no_fault,
    on_created: Callable[[str], None] = lambda _: None,
    wait_budget: Callable[[], float] = lambda: 0.0,
    now: int | None = None,
) -> tuple[SlotRecord, VolumeInfo]:
    """The slot's data volume in the instance's AZ, recorded in the registry.

    ``on_created`` is told the id of a volume this call creates, before it is recorded;
    ``wait_budget`` says how long a restore may still wait for the termination snapshot.
    """
    current = stores.ec2.volume(record.volume_id) if record.volume_id else None
    if current is not None and not _belongs_to_slot(current, config.network_name, record.slot):
        raise ForeignVolumeError(
            f"slot {record.slot}: the registry names volume {current.volume_id}, which is not "
            f"tagged {NETWORK_TAG}={config.network_name}, {SLOT_TAG}={record.slot}; not using it"
        )
    if current is not None and current.az == instance.az:
        return record, current
    volume = _adoptable(stores, config, record.slot, instance.az)
    if volume is not None:
        log.info("volume adopted", slot=record.slot, volume_id=volume.volume_id)
    else:
        snapshot_id = None
        if current is not None or record.volume_id is not None:
            snapshot_id = _restore_source(config, stores, log, record, wait_budget)
        volume = stores.ec2.create_volume(
            config.network_name, record.slot, instance.az, _spec(config), snapshot_id
        )
        on_created(volume.volume_id)
        log.info(
            "volume created",
            slot=record.slot,
            volume_id=volume.volume_id,
            az=instance.az,
            from_snapshot=snapshot_id,
            moved_from_az=None if current is None else current.az,
        )
        fault("after_volume_create")
    if current is not None and current.volume_id != volume.volume_id:
        stores.ec2.mark_superseded(current.volume_id, volume.volume_id, record.slot, now)
    updated = stores.registry.set_volume(
        record, instance.instance_id, volume.volume_id, instance.az
    )
    if updated is None:
        raise ConcurrentUpdateError(
            f"slot {record.slot}: the registry item changed while recording volume "
            f"{volume.volume_id}"
        )
    return updated, volume


def _restore_source(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    record: SlotRecord,
    wait_budget: Callable[[], float],
) -> str | None:
    """The snapshot a cross-AZ restore starts from.

    The termination snapshot of the slot's volume, waited for (within
    ``SNAPSHOT_WAIT_SECONDS`` and the budget) while it is pending; else the newest completed
    snapshot of the slot, said loudly (a log line and the metric ``RestoresFromOlderSnapshot``,
    or ``RestoresWithoutSnapshot`` for a blank volume).
    """
    slot = record.slot
    if record.volume_id is not None:
        final = stores.ec2.termination_snapshot(config.network_name, slot, record.volume_id)
        if final is not None:
            if final.state == "completed":
                return final.snapshot_id
            wait = max(0.0, min(config.snapshot_wait_seconds, wait_budget()))
            if final.state == "pending" and stores.ec2.wait_for_snapshot(final.snapshot_id, wait):
                log.info("termination snapshot completed", slot=slot, snapshot_id=final.snapshot_id)
                return final.snapshot_id
    older = stores.ec2.latest_snapshot(config.network_name, slot)
    if older is None:
        log.warning(
            "no snapshot of the slot's data: the node starts from a blank volume and syncs "
            "from its peers",
            slot=slot,
            previous_volume_id=record.volume_id,
        )
        stores.metrics.put({"RestoresWithoutSnapshot": 1.0})
    else:
        log.warning(
            "termination snapshot not available: restoring from an older snapshot; the node "
            "syncs the blocks since from its peers",
            slot=slot,
            snapshot_id=older,
            previous_volume_id=record.volume_id,
        )
        stores.metrics.put({"RestoresFromOlderSnapshot": 1.0})
    return older


def _attach(
    config: LifecycleConfig, stores: Stores, volume: VolumeInfo, instance_id: str, wait: float
) -> bool:
    """Attach the volume unless it already is attached here; ``True`` when this call did."""
    if volume.attached_to(instance_id):
        return False
    if volume.live_attachments:
        others = ", ".join(a.instance_id for a in volume.live_attachments)
        raise VolumeBusyError(f"volume {volume.volume_id} is still attached to {others}")
    ready = stores.ec2.wait_until_available(volume.volume_id, wait)
    if ready is None:
        raise VolumeBusyError(
            f"volume {volume.volume_id} did not become available within {wait:.0f}s"
        )
    stores.ec2.attach(volume.volume_id, instance_id, config.volume_device)
    return True


def _refuse_if_key_held_elsewhere(
    stores: Stores, slot: int, secret: str, holder_arn: str | None, instance_id: str
) -> None:
    """Raise :class:`KeyHeldElsewhereError` when the secret still opens to a live instance.

    Only the launch hook writes an owner into a secret policy, and the revokes withdraw it
    before a slot is released; so a policy naming an instance EC2 still knows as alive (not
    ``shutting-down`` or ``terminated``) means the registry was changed by someone else, or a
    revoke failed: the key is not opened to a second node either way.
    """
    if holder_arn is None:
        return
    holder = holder_arn.rsplit("/", 1)[-1]
    info = stores.ec2.instance(holder)
    if info is not None and info.state not in GONE_STATES:
        raise KeyHeldElsewhereError(
            f"slot {slot}: secret {secret} still opens to instance {holder} ({info.state}), "
            f"which is not gone; not opening it to {instance_id} as well"
        )


def _belongs_to_slot(volume: VolumeInfo, network: str, slot: int) -> bool:
    """Whether ``volume`` is tagged as the slot's data volume (or was, before a cross-AZ move)."""
    tags = volume.tags
    return tags.get(NETWORK_TAG) == network and str(slot) in (
        tags.get(SLOT_TAG),
        tags.get(SUPERSEDED_SLOT_TAG),
    )


def node_tags(config: LifecycleConfig, record: SlotRecord, volume_id: str) -> dict[str, str]:
    """The instance tags the host bootstrap reads from IMDS (public data only).

    The secret name is derived from the slot number; the address comes from the registry and is
    only what the node checks its key against (a wrong one makes the node refuse to start).
    """
    return {
        f"{TAG_PREFIX}slot": str(record.slot),
        f"{TAG_PREFIX}network": config.network_name,
        f"{TAG_PREFIX}secret-name": config.secret_name(record.slot),
        f"{TAG_PREFIX}address": record.address,
        f"{TAG_PREFIX}p2p-host": config.host(record.slot),
        f"{TAG_PREFIX}volume-id": volume_id,
        f"{TAG_PREFIX}genesis": f"s3://{config.artifact_bucket_name}/{config.genesis_object_key}",
        f"{TAG_PREFIX}static-nodes": (
            f"s3://{config.artifact_bucket_name}/{config.static_nodes_object_key}"
        ),
    }


class _ConfigPublished(Exception):
    """A step failed after the node configuration was published: retry, never undo."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _owner_leaving(stores: Stores) -> Callable[[list[SlotRecord]], bool]:
    """Whether some ``in_use`` slot's owner is terminating (hook started, or EC2 says gone)."""

    def leaving(records: list[SlotRecord]) -> bool:
        held = [r for r in records if r.status == IN_USE and r.owner_instance_id]
        if any(r.releasing_since is not None for r in held):
            return True
        owners = [r.owner_instance_id for r in held if r.owner_instance_id]
        if not owners:
            return False
        found = stores.ec2.instances(owners)
        return any(o not in found or found[o].state in GONE_STATES for o in owners)

    return leaving


def _run_launch(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    action: LifecycleAction,
    undo: _Undo,
    now: int,
    fault: FaultPoint,
    budget: Budget,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    instance_id = action.instance_id
    instance = stores.ec2.instance(instance_id)
    if instance is None or instance.state not in ("pending", "running"):
        raise InstanceGoneError(
            f"instance {instance_id} is "
            f"{'unknown' if instance is None else instance.state}; nothing to set up"
        )
    if not instance.private_ip:
        raise InstanceGoneError(f"instance {instance_id} has no private IP address yet")

    waited = 0.0

    def wait_for_release() -> bool:
        nonlocal waited
        pause = min(RELEASE_POLL_SECONDS, config.release_wait_seconds - waited)
        if pause <= 0 or budget.spare() < pause + worst_case_call_seconds() + SETUP_MARGIN_SECONDS:
            return False
        log.info("slot held by a terminating owner; waiting", instance_id=instance_id)
        sleep(pause)
        waited += pause
        return True

    # Registered before the claim: a claim whose response was lost (a timed-out call) carries
    # this invocation's token all the same, and only a claim with that token is released.
    token = uuid.uuid4().hex

    def release() -> None:
        for current in stores.registry.scan():
            if current.owner_instance_id != instance_id:
                continue
            if current.claim_token == token:
                stores.registry.release(current, instance_id, int(time.time()))
            else:
                undo.held_by_another_delivery = True

    undo.add("release slot", release)
    record, claimed_now = claim_slot(
        stores.registry,
        instance_id,
        instance.az,
        now + config.launch_lease_seconds,
        now,
        releasing=_owner_leaving(stores),
        wait_for_release=wait_for_release,
        token=token,
    )
    slot = record.slot
    if not claimed_now and record.lease_expires_at is None:
        # A duplicate of a launch that finished: the node runs; touch nothing.
        log.info("slot already handed over; duplicate event", slot=slot, instance_id=instance_id)
        return {
            "result": "CONTINUE",
            "instance_id": instance_id,
            "slot": slot,
            "volume_id": record.volume_id,
            "host": config.host(slot),
            "duplicate": True,
        }

    log.info(
        "slot claimed" if claimed_now else "slot already owned",
        slot=slot,
        instance_id=instance_id,
        az=instance.az,
        waited_seconds=waited,
    )
    fault("after_claim")

    secret = config.secret_name(slot)
    if record.secret_name != secret:
        # The registry's field is never used: a writer of the registry must not be able to
        # point this slot at another slot's key. A difference is worth a look.
        log.error(
            "the registry names another secret for the slot; ignored",
            slot=slot,
            registry_secret_name=record.secret_name,
            secret_name=secret,
        )
    # Before any volume or name moves: a slot the registry calls free while its key still
    # opens to a live instance is not taken (checked again when the access is granted).
    held_by = stores.secrets.owner(secret)
    if held_by != action.instance_arn:
        _refuse_if_key_held_elsewhere(stores, slot, secret, held_by, instance_id)

    def forget_unrecorded(volume_id: str) -> None:
        def delete() -> None:
            current = stores.registry.get(slot)
            if current is not None and current.volume_id == volume_id:
                return  # recorded: it is the slot's volume now
            stores.ec2.delete_volume(volume_id)

        undo.add("delete unrecorded new volume", delete)

    record, volume = ensure_volume(
        config,
        stores,
        log,
        record,
        instance,
        fault,
        on_created=forget_unrecorded,
        wait_budget=lambda: budget.spare() - worst_case_call_seconds() - SETUP_MARGIN_SECONDS,
        now=now,
    )
    fault("after_volume")

    wait = max(0.0, min(config.volume_wait_seconds, budget.spare() - worst_case_call_seconds()))
    if not volume.attached_to(instance_id):
        # Registered before the call: an attachment whose response was lost is undone too.
        undo.add("detach volume", lambda: stores.ec2.detach(volume.volume_id, instance_id))
    if _attach(config, stores, volume, instance_id, wait):
        log.info("volume attached", slot=slot, volume_id=volume.volume_id, instance_id=instance_id)
    fault("after_attach")

    host = config.host(slot)
    stores.dns.point(host, instance.private_ip, config.dns_ttl_seconds)
    log.info("dns name points at instance", slot=slot, name=host, ip=instance.private_ip)
    fault("after_dns")

    current_owner = stores.secrets.owner(secret)
    if current_owner != action.instance_arn:
        _refuse_if_key_held_elsewhere(stores, slot, secret, current_owner, instance_id)
        undo.add(
            "withdraw secret access", lambda: stores.secrets.revoke(secret, action.instance_arn)
        )
        stores.secrets.put_owner(secret, action.instance_arn)
        log.info("secret access granted", slot=slot, secret_name=secret)
    fault("after_secret_access")

    tags = node_tags(config, record, volume.volume_id)
    try:
        stores.ec2.tag_instance(instance_id, tags)
    except ClientError as exc:
        # CreateTags may have been applied before the error reached us (a timed-out call):
        # the host may already start Besu, so from here on nothing is undone.
        raise _ConfigPublished(exc) from exc
    log.info("node configuration tagged", slot=slot, instance_id=instance_id)
    try:
        fault("after_node_config")
        if record.lease_expires_at is not None:
            handed = stores.registry.mark_handed_over(record, instance_id)
            if handed is None:
                raise ConcurrentUpdateError(f"slot {slot}: the registry item changed at handover")
        fault("after_handover")
    except Exception as exc:
        raise _ConfigPublished(exc) from exc
    return {
        "result": "CONTINUE",
        "instance_id": instance_id,
        "slot": slot,
        "volume_id": volume.volume_id,
        "host": host,
    }


def handle_launch(
    config: LifecycleConfig,
    stores: Stores,
    log: JsonLogger,
    event: object,
    *,
    now: Callable[[], float] = time.time,
    fault: FaultPoint = _no_fault,
    budget: Budget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run the launch hook for ``event`` and complete its lifecycle action.

    Returns ``{"result": "CONTINUE", "slot", ...}`` or ``{"result": "ABANDON", "reason"}``.
    ``budget`` is the invocation's time (default: the configured function timeout from now,
    with :func:`undo_reserve_seconds` kept back). An error after the node configuration was
    published, or completing the action with CONTINUE, propagates, so the event is retried
    (the run is idempotent).
    """
    action = parse_lifecycle_action(event, LAUNCH_TRANSITION)
    if budget is None:
        budget = Budget.starting_now(config.function_timeout_seconds, undo_reserve_seconds())
    undo = _Undo()
    if stores.guard is not None:
        stores.guard.budget = budget
    try:
        outcome = _run_launch(config, stores, log, action, undo, int(now()), fault, budget, sleep)
    except DuplicateDeliveryError as exc:
        log.warning("duplicate delivery stopped", instance_id=action.instance_id, detail=str(exc))
        return {"result": "DUPLICATE", "instance_id": action.instance_id}
    except SlotBeingReleasedError as exc:
        # Nothing was claimed. Keep the instance waiting (a heartbeat restarts the hook's
        # timeout) and let Lambda retry the event, instead of abandoning a health replacement
        # whose predecessor is still in its termination hook.
        if stores.guard is not None:
            stores.guard.budget = None
        log.warning("slot still being released; retrying the event", instance_id=action.instance_id)
        stores.lifecycle.heartbeat(
            action.group_name, action.hook_name, action.token, action.instance_id
        )
        raise exc
    except _ConfigPublished as published:
        cause = published.cause
        log.error(
            "launch hook failed after the node configuration was published; retrying, no undo",
            instance_id=action.instance_id,
            error=type(cause).__name__,
            code=error_code(cause) if isinstance(cause, ClientError) else None,
        )
        raise cause from None
    except Exception as exc:
        log.error(
            "launch hook failed; undoing and abandoning",
            instance_id=action.instance_id,
            error=type(exc).__name__,
            code=error_code(exc) if isinstance(exc, ClientError) else None,
            detail=str(exc) if isinstance(exc, LifecycleError | OutOfTimeError) else "",
        )
        if stores.guard is not None:
            stores.guard.budget = None  # the reserve pays for the undo
        undo.run(log, instance_id=action.instance_id)
        if undo.held_by_another_delivery:
            # A duplicate delivery failed (a throttled call, say) while the instance runs, or
            # is being set up by another delivery: abandoning would terminate it. Retry instead.
            log.warning(
                "another delivery of the event holds the instance's slot; not abandoning, "
                "the event is retried",
                instance_id=action.instance_id,
            )
            raise
        stores.lifecycle.complete(
            action.group_name, action.hook_name, action.token, action.instance_id, "ABANDON"
        )
        return {
            "result": "ABANDON",
            "instance_id": action.instance_id,
            "reason": type(exc).__name__,
        }
    finally:
        if stores.guard is not None:
            stores.guard.budget = None
    completed = stores.lifecycle.complete(
        action.group_name, action.hook_name, action.token, action.instance_id, "CONTINUE"
    )
    if not completed:
        log.warning("lifecycle action was no longer pending", instance_id=action.instance_id)
    log.info("launch hook completed", **outcome)
    return outcome
