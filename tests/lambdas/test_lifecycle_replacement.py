"""Node replacement: the slot's key, volume and name follow the validator, in or across AZs."""

from __future__ import annotations

import pytest

from lambda_src.lifecycle.errors import SlotBeingReleasedError
from lambda_src.lifecycle.launch import handle_launch
from lambda_src.lifecycle.reconcile import reconcile
from lambda_src.lifecycle.termination import handle_termination, release_slot

from .lifecycle_fixtures import ACCOUNT, World, lifecycle_event, world

pytestmark = pytest.mark.moto
__all__ = ["world"]


def launch(w: World, instance_id: str) -> dict:
    w.expect_completion(instance_id, "CONTINUE")
    outcome = handle_launch(w.config, w.stores, w.log, lifecycle_event(instance_id))
    w.stubber.assert_no_pending_responses()
    assert outcome["result"] == "CONTINUE"
    return outcome


def terminate(w: World, instance_id: str) -> dict:
    w.expect_completion(instance_id, "CONTINUE", "terminate")
    outcome = handle_termination(
        w.config, w.stores, w.log, lifecycle_event(instance_id, "terminate")
    )
    w.stubber.assert_no_pending_responses()
    w.terminate(instance_id)
    return outcome


def fill(w: World) -> dict[int, str]:
    """Four validators, AZs a, b, c, a; returns slot → instance id."""
    owners = {}
    for az in ("eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1a"):
        instance_id = w.launch(az)
        owners[launch(w, instance_id)["slot"]] = instance_id
    return owners


def test_replacement_in_the_same_az_reattaches_the_volume(world: World) -> None:
    w = world
    owners = fill(w)
    slot = 1  # in eu-west-1b
    old = owners[slot]
    volume_id = w.record(slot).volume_id
    assert terminate(w, old)["released_slots"] == [slot]

    new = w.launch("eu-west-1b")
    outcome = launch(w, new)
    assert outcome["slot"] == slot
    assert outcome["volume_id"] == volume_id
    assert [a["InstanceId"] for a in w.volume(volume_id or "")["Attachments"]] == [new]
    assert len(w.slot_volumes(slot)) == 1
    assert w.a_record(slot) == w.instance(new)["PrivateIpAddress"]
    assert w.secret_owner(slot) == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{new}"
    assert w.secret_value(slot) == w.keys[slot].to_key_file()


def test_replacement_in_another_az_restores_from_the_latest_snapshot(world: World) -> None:
    w = world
    owners = fill(w)
    slot = 2  # in eu-west-1c
    old_volume = w.record(slot).volume_id or ""
    terminate(w, owners[slot])
    snapshot_id = w.ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:Slot", "Values": [str(slot)]}]
    )["Snapshots"][0]["SnapshotId"]

    new = w.launch("eu-west-1b")  # no free slot has a volume in 1b: slot 2 moves
    outcome = launch(w, new)
    assert outcome["slot"] == slot
    new_volume = w.volume(outcome["volume_id"])
    assert new_volume["VolumeId"] != old_volume
    assert new_volume["AvailabilityZone"] == "eu-west-1b"
    assert new_volume["SnapshotId"] == snapshot_id
    assert new_volume["Encrypted"] is True
    assert [a["InstanceId"] for a in new_volume["Attachments"]] == [new]
    record = w.record(slot)
    assert record.volume_id == new_volume["VolumeId"]
    assert record.volume_az == "eu-west-1b"
    old_tags = {t["Key"]: t["Value"] for t in w.volume(old_volume)["Tags"]}
    assert old_tags["besu:superseded-by"] == new_volume["VolumeId"]
    assert w.volume(old_volume)["Attachments"] == []
    assert w.a_record(slot) == w.instance(new)["PrivateIpAddress"]


def test_claim_prefers_a_slot_whose_volume_is_in_the_instance_az(world: World) -> None:
    w = world
    owners = fill(w)
    terminate(w, owners[0])  # volume in 1a
    terminate(w, owners[2])  # volume in 1c
    new = w.launch("eu-west-1c")
    assert launch(w, new)["slot"] == 2


def test_reconciler_releases_slots_of_vanished_instances(world: World) -> None:
    w = world
    owners = fill(w)
    w.terminate(owners[3])  # no termination hook ran
    outcome = reconcile(w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1")
    assert outcome["released_slots"] == [3]
    assert outcome["stuck"] == []
    record = w.record(3)
    assert record.status == "available"
    assert w.volume(record.volume_id or "")["Attachments"] == []
    assert w.secret_owner(3) is None
    assert [r.status for r in w.records()] == ["in_use", "in_use", "in_use", "available"]
    metrics = w.cloudwatch.list_metrics(Namespace="Test")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"SlotsStuck", "SlotsReleased", "SlotsInUse"}


def test_health_replacement_waits_for_the_terminating_owner(world: World) -> None:
    """Auto Scaling launches a health replacement while it terminates the old instance
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/replace-unhealthy-instance.html):
    the new instance's launch finds every slot held and waits for the release instead of
    abandoning (finding 5 of issue 12)."""
    w = world
    owners = fill(w)
    slot = 2
    old = owners[slot]
    record = w.record(slot)
    w.stores.registry.mark_releasing(record, old, 1_000)  # its termination hook has started
    new = w.launch("eu-west-1c")
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:  # the old instance's termination hook finishes meanwhile
            arn = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{old}"
            assert release_slot(
                w.config, w.stores, w.log, w.record(slot), old, arn, 2_000, snapshot=False
            )

    w.expect_completion(new, "CONTINUE")
    outcome = handle_launch(w.config, w.stores, w.log, lifecycle_event(new), sleep=sleep)
    assert outcome["result"] == "CONTINUE"
    assert outcome["slot"] == slot
    assert len(pauses) == 2
    assert w.secret_owner(slot) == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{new}"


def test_a_release_that_takes_longer_is_retried_not_abandoned(world: World) -> None:
    """When the wait the budget allows is over, the run records a heartbeat and fails, so
    Lambda retries the event; it never completes the action with ABANDON."""
    w = world
    owners = fill(w)
    w.stores.registry.mark_releasing(w.record(0), owners[0], 1_000)
    new = w.launch("eu-west-1a")
    w.stubber.add_response(
        "record_lifecycle_action_heartbeat",
        {},
        {
            "AutoScalingGroupName": "testnet-validators",
            "LifecycleHookName": "testnet-validators-launch",
            "LifecycleActionToken": lifecycle_event(new)["detail"]["LifecycleActionToken"],
            "InstanceId": new,
        },
    )
    with pytest.raises(SlotBeingReleasedError):
        handle_launch(w.config, w.stores, w.log, lifecycle_event(new), sleep=lambda _: None)
    w.stubber.assert_no_pending_responses()  # a heartbeat, no ABANDON
    assert all(r.owner_instance_id != new for r in w.records())


class FakeHostCommands:
    """SSM Run Command on the host: records what was run and when, answers as told."""

    def __init__(self, w: World, volume_id: str, succeeds: bool) -> None:
        self.w, self.volume_id, self.succeeds = w, volume_id, succeeds
        self.runs: list[tuple[str, str, list[str]]] = []

    def run(self, instance_id: str, script: str, wait_seconds: float) -> bool:
        states = [a["State"] for a in self.w.volume(self.volume_id)["Attachments"]]
        self.runs.append((instance_id, script, states))
        return self.succeeds


@pytest.mark.parametrize("unmounted", [True, False])
def test_termination_unmounts_before_detaching(world: World, unmounted: bool) -> None:
    """Finding 6: the volume was detached while still mounted. Now the hook unmounts it on the
    host first (after ECS stopped Besu) and detaches only an unmounted volume; when the unmount
    is not confirmed, the instance's own shutdown unmounts it and the reconciler frees the
    slot once the instance is gone."""
    from dataclasses import replace

    from lambda_src.lifecycle.store import UNMOUNT_SCRIPT

    w = world
    owners = fill(w)
    slot = 1
    old = owners[slot]
    volume_id = w.record(slot).volume_id or ""
    commands = FakeHostCommands(w, volume_id, unmounted)
    stores = replace(w.stores, commands=commands)
    w.expect_completion(old, "CONTINUE", "terminate")
    outcome = handle_termination(w.config, stores, w.log, lifecycle_event(old, "terminate"))
    assert commands.runs == [(old, UNMOUNT_SCRIPT, ["attached"])]
    assert "umount /var/lib/besu" in UNMOUNT_SCRIPT
    attached = [a["InstanceId"] for a in w.volume(volume_id)["Attachments"]]
    if unmounted:
        assert outcome["released_slots"] == [slot]
        assert attached == []
    else:
        assert outcome["released_slots"] == []
        assert attached == [old]
        assert w.record(slot).owner_instance_id == old
        assert w.record(slot).releasing_since is not None
        w.terminate(old)
        report = reconcile(w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1")
        assert report["released_slots"] == [slot]


def test_cross_az_restore_uses_the_termination_snapshot_and_retires_the_old_volume(
    world: World,
) -> None:
    """Finding 6: the restore took any completed snapshot (a DLM one up to an interval old) and
    the superseded volume stayed in the slot's lineage. Now the termination snapshot of the
    slot's own volume is used, and the old volume leaves the slot (no Slot tag)."""
    w = world
    owners = fill(w)
    slot = 2
    old_volume = w.record(slot).volume_id or ""
    # An older snapshot of the slot (as DLM takes them) that must not win.
    older = w.ec2.create_snapshot(
        VolumeId=old_volume,
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": [{"Key": "Network", "Value": "testnet"}, {"Key": "Slot", "Value": "2"}],
            }
        ],
    )["SnapshotId"]
    terminate(w, owners[slot])
    snapshots = w.ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:besu:snapshot", "Values": ["termination"]}]
    )["Snapshots"]
    (final,) = snapshots
    assert final["SnapshotId"] != older
    outcome = launch(w, w.launch("eu-west-1b"))
    assert w.volume(outcome["volume_id"])["SnapshotId"] == final["SnapshotId"]
    old_tags = {t["Key"]: t["Value"] for t in w.volume(old_volume)["Tags"]}
    assert "Slot" not in old_tags
    assert old_tags["besu:superseded-slot"] == "2"
    assert old_volume not in {v["VolumeId"] for v in w.slot_volumes(slot)}
    assert not any("older snapshot" in r.get("message", "") for r in w.log_records())


def test_a_restore_without_the_termination_snapshot_says_so(world: World) -> None:
    w = world
    owners = fill(w)
    slot = 2
    old_volume = w.record(slot).volume_id or ""
    older = w.ec2.create_snapshot(
        VolumeId=old_volume,
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": [{"Key": "Network", "Value": "testnet"}, {"Key": "Slot", "Value": "2"}],
            }
        ],
    )["SnapshotId"]
    w.terminate(owners[slot])  # no termination hook: no termination snapshot
    reconcile(w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1")
    outcome = launch(w, w.launch("eu-west-1b"))
    assert w.volume(outcome["volume_id"])["SnapshotId"] == older
    warning = next(r for r in w.log_records() if "older snapshot" in r.get("message", ""))
    assert warning["snapshot_id"] == older
    metrics = w.cloudwatch.list_metrics(Namespace="Test")["Metrics"]
    assert "RestoresFromOlderSnapshot" in {m["MetricName"] for m in metrics}


def test_superseded_volumes_are_deleted_after_the_retention(world: World) -> None:
    w = world
    owners = fill(w)
    slot = 2
    old_volume = w.record(slot).volume_id or ""
    terminate(w, owners[slot])
    w.expect_completion(new := w.launch("eu-west-1b"), "CONTINUE")
    handle_launch(w.config, w.stores, w.log, lifecycle_event(new), now=lambda: 1_000_000.0)
    tags = {t["Key"]: t["Value"] for t in w.volume(old_volume)["Tags"]}
    assert tags["besu:superseded-at"] == "1000000"

    def run(at: float) -> list[str]:
        report = reconcile(
            w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1", now=lambda: at
        )
        return list(report["deleted_superseded_volumes"])

    assert run(1_000_000 + 13 * 86_400) == []  # within SUPERSEDED_RETENTION_DAYS (14)
    assert run(1_000_000 + 15 * 86_400) == [old_volume]
    assert w.record(slot).volume_id != old_volume
