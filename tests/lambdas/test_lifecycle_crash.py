"""Failures and crashes injected after each step of the launch hook, then recovery.

For every step before the node configuration is published: a *failure* (an exception the hook
catches) is undone and abandoned. After it (the host may run Besu already) a failure undoes
nothing and propagates, so the event is retried, and the retry completes. A *crash*
(the function dies, nothing undone) is cleared by the reconciler once Auto Scaling has
terminated the instance (a timed-out launch action's default result is ABANDON); a redelivered
event after a crash resumes and completes. Afterwards no slot is stuck, every key is intact and
no volume is attached twice.
"""

from __future__ import annotations

from collections import Counter

import pytest

from lambda_src.lifecycle.launch import STEPS, handle_launch
from lambda_src.lifecycle.reconcile import reconcile

from .lifecycle_fixtures import ACCOUNT, World, lifecycle_event, world

pytestmark = pytest.mark.moto
__all__ = ["world"]

PUBLISHED_STEPS = ("after_node_config", "after_handover")


class Crash(BaseException):
    """The Lambda runtime dying mid-invocation (not caught by the hook's error handling)."""


class Failure(RuntimeError):
    """An AWS call failing mid-invocation (caught: undo and ABANDON)."""


def fault_at(step: str, exc: type[BaseException]) -> tuple[list[str], object]:
    fired: list[str] = []

    def fault(name: str) -> None:
        if name == step:
            fired.append(name)
            raise exc(f"injected at {name}")

    return fired, fault


def assert_consistent(w: World) -> None:
    live: Counter[str] = Counter()
    for slot in range(4):
        volumes = w.slot_volumes(slot)
        for volume in volumes:
            attached = [a["InstanceId"] for a in volume["Attachments"]]
            assert len(attached) <= 1, f"volume {volume['VolumeId']} attached twice"
            live.update(attached)
        assert w.secret_value(slot) == w.keys[slot].to_key_file(), "key lost or changed"
    assert all(count == 1 for count in live.values()), "an instance has two data volumes"
    for record in w.records():
        if record.status == "available":
            assert record.owner_instance_id is None
            assert w.secret_owner(record.slot) is None
        else:
            assert record.lease_expires_at is None, f"slot {record.slot} stuck in a launch"


def assert_no_stray_volume(w: World, slot: int, az: str) -> None:
    """The slot's volume in ``az`` is the recorded, attached one: a crashed run's new volume was
    adopted, not duplicated."""
    in_az = [v for v in w.slot_volumes(slot) if v["AvailabilityZone"] == az]
    assert [v["VolumeId"] for v in in_az] == [w.record(slot).volume_id]
    assert len(in_az[0]["Attachments"]) == 1


def recorded(w: World) -> set[str | None]:
    return {r.volume_id for r in w.records()}


def reconcile_now(w: World) -> dict:
    return reconcile(w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1")


@pytest.mark.parametrize("step", STEPS)
def test_fault_after_each_step(world: World, step: str) -> None:
    w = world

    # 1. A failure is undone and the instance abandoned; after the node configuration is
    #    published, nothing is undone and the retried event completes the launch.
    a = w.launch("eu-west-1a")
    fired, fault = fault_at(step, Failure)
    if step in PUBLISHED_STEPS:
        with pytest.raises(Failure):
            handle_launch(w.config, w.stores, w.log, lifecycle_event(a), fault=fault)
        owned = [r for r in w.records() if r.owner_instance_id == a]
        assert len(owned) == 1
        assert w.volume(owned[0].volume_id)["Attachments"][0]["InstanceId"] == a
        w.expect_completion(a, "CONTINUE")
        assert handle_launch(w.config, w.stores, w.log, lifecycle_event(a))["result"] == (
            "CONTINUE"
        )
        w.terminate(a)
        reconcile_now(w)
    else:
        w.expect_completion(a, "ABANDON")
        outcome = handle_launch(w.config, w.stores, w.log, lifecycle_event(a), fault=fault)
        assert outcome == {"result": "ABANDON", "instance_id": a, "reason": "Failure"}
    w.stubber.assert_no_pending_responses()
    assert fired == [step]
    assert all(r.owner_instance_id != a for r in w.records())
    assert all(
        v["AvailabilityZone"] != "eu-west-1a" or v["VolumeId"] in recorded(w)
        for s in range(4)
        for v in w.slot_volumes(s)
    ), "the failed run left a volume"
    if step not in PUBLISHED_STEPS:
        w.terminate(a)
    assert_consistent(w)

    # 2. A crash leaves state behind; Auto Scaling terminates the instance; the reconciler
    #    releases what it held.
    b = w.launch("eu-west-1b")
    fired, fault = fault_at(step, Crash)
    with pytest.raises(Crash):
        handle_launch(w.config, w.stores, w.log, lifecycle_event(b), fault=fault)
    assert fired == [step]
    crashed_slot = next(r.slot for r in w.records() if r.owner_instance_id == b)
    report = reconcile_now(w)
    assert report["released_slots"] == []
    assert [s["slot"] for s in report["stuck"]] == [] or step == "after_handover"
    w.terminate(b)
    report = reconcile_now(w)
    assert report["released_slots"] == [crashed_slot]
    assert report["stuck"] == []
    assert_consistent(w)

    # 3. The replacement in the same AZ gets that slot, reusing (or adopting) its one volume.
    c = w.launch("eu-west-1b")
    w.expect_completion(c, "CONTINUE")
    outcome = handle_launch(w.config, w.stores, w.log, lifecycle_event(c))
    assert outcome["slot"] == crashed_slot
    assert_no_stray_volume(w, crashed_slot, "eu-west-1b")
    assert_consistent(w)

    # 4. A crash followed by a redelivery of the same event resumes and completes.
    d = w.launch("eu-west-1c")
    fired, fault = fault_at(step, Crash)
    with pytest.raises(Crash):
        handle_launch(w.config, w.stores, w.log, lifecycle_event(d), fault=fault)
    w.expect_completion(d, "CONTINUE")
    outcome = handle_launch(w.config, w.stores, w.log, lifecycle_event(d))
    w.stubber.assert_no_pending_responses()
    assert outcome["result"] == "CONTINUE"
    assert_no_stray_volume(w, outcome["slot"], "eu-west-1c")
    assert w.secret_owner(outcome["slot"]) == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{d}"
    assert_consistent(w)
    assert reconcile_now(w)["stuck"] == []
