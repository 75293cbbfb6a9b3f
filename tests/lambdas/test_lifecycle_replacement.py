"""Node replacement: the slot's key, volume and name follow the validator, in or across AZs."""

from __future__ import annotations

import pytest

from lambda_src.lifecycle.launch import handle_launch
from lambda_src.lifecycle.reconcile import reconcile
from lambda_src.lifecycle.termination import handle_termination

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
