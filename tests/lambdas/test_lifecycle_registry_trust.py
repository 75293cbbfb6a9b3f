"""What a writer of the registry can make the launch hook do (issue 13, item 3).

The registry is written by the key Lambda, the lifecycle functions and the health checker. A
compromised writer must not be able to make a node receive another slot's key: the secret's
name is derived from the slot number, a secret still open to a live instance is not opened to a
second one whatever the registry says about the slot, and a recorded volume is used only when it
is tagged for the slot. Each test tampers with the items the way such a writer could (one
``UpdateItem``) and runs the real hook against moto.
"""

from __future__ import annotations

from typing import Any

import pytest

from lambda_src.lifecycle.launch import handle_launch

from .lifecycle_fixtures import (
    ACCOUNT,
    AZS,
    NETWORK,
    TABLE,
    World,
    lifecycle_event,
    secret_name,
    world,
)

pytestmark = pytest.mark.moto

__all__ = ["world"]


def _tamper(
    w: World, slot: int, *, set_values: dict[str, str] | None = None, remove: tuple[str, ...] = ()
) -> None:
    """One UpdateItem on a slot's item, as any writer with ``dynamodb:UpdateItem`` can make."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts: list[str] = []
    for index, (name, value) in enumerate(sorted((set_values or {}).items())):
        names[f"#s{index}"] = name
        values[f":s{index}"] = {"S": value}
        parts.append(f"#s{index} = :s{index}")
    expression = "SET " + ", ".join(parts) if parts else ""
    if remove:
        for index, name in enumerate(remove):
            names[f"#r{index}"] = name
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "Key": {"slot": {"N": str(slot)}},
        "UpdateExpression": expression.strip(),
        "ExpressionAttributeNames": names,
    }
    if values:
        kwargs["ExpressionAttributeValues"] = values
    w.dynamodb.update_item(**kwargs)


def _launch(w: World, instance: str) -> dict[str, Any]:
    return handle_launch(w.config, w.stores, w.log, lifecycle_event(instance))


def _arn(instance: str) -> str:
    return f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{instance}"


def test_the_launch_hook_opens_the_slots_own_secret_whatever_the_registry_names(
    world: World,
) -> None:
    w = world
    _tamper(w, 0, set_values={"secret_name": secret_name(2)})
    instance = w.launch(AZS[0])
    w.expect_completion(instance, "CONTINUE")
    outcome = _launch(w, instance)
    assert outcome["result"] == "CONTINUE" and outcome["slot"] == 0
    assert w.secret_owner(0) == _arn(instance)
    assert w.secret_owner(2) is None
    assert w.instance_tags(instance)["besu:secret-name"] == secret_name(0)
    errors = [r for r in w.log_records() if r.get("level") == "ERROR"]
    assert [r["message"] for r in errors] == [
        "the registry names another secret for the slot; ignored"
    ]


def test_a_key_still_open_to_a_live_instance_is_not_opened_to_a_second_one(world: World) -> None:
    """The registry says slot 0 is free (and has no volume) while its owner runs: the secret's
    policy, which only the launch hook writes, still names that owner, so the newcomer is
    abandoned before any volume, name or key moves."""
    w = world
    owner = w.launch(AZS[0])
    w.expect_completion(owner, "CONTINUE")
    assert _launch(w, owner)["slot"] == 0
    owner_ip = w.a_record(0)
    owner_volume = w.record(0).volume_id
    _tamper(
        w,
        0,
        set_values={"status": "available"},
        remove=("owner_instance_id", "owner_az", "volume_id", "volume_az", "lease_expires_at"),
    )
    newcomer = w.launch(AZS[0])
    w.expect_completion(newcomer, "ABANDON")
    outcome = _launch(w, newcomer)
    assert outcome == {
        "result": "ABANDON",
        "instance_id": newcomer,
        "reason": "KeyHeldElsewhereError",
    }
    assert w.secret_owner(0) == _arn(owner)
    assert w.a_record(0) == owner_ip
    (volume,) = w.slot_volumes(0)  # no volume was created for the newcomer
    assert volume["VolumeId"] == owner_volume
    assert [a["InstanceId"] for a in volume["Attachments"]] == [owner]
    assert not [r for r in w.records() if r.owner_instance_id == newcomer]


@pytest.mark.parametrize(
    ("network", "slot_tag"),
    [(NETWORK, "3"), ("othernet", "0")],
    ids=["another slot's volume", "another network's volume"],
)
def test_the_launch_hook_uses_no_recorded_volume_that_is_not_the_slots(
    world: World, network: str, slot_tag: str
) -> None:
    w = world
    foreign = w.ec2.create_volume(
        AvailabilityZone=AZS[0],
        Size=100,
        VolumeType="gp3",
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": [{"Key": "Network", "Value": network}, {"Key": "Slot", "Value": slot_tag}],
            }
        ],
    )["VolumeId"]
    _tamper(w, 0, set_values={"volume_id": foreign, "volume_az": AZS[0]})
    instance = w.launch(AZS[0])
    w.expect_completion(instance, "ABANDON")
    outcome = _launch(w, instance)
    assert outcome["result"] == "ABANDON" and outcome["reason"] == "ForeignVolumeError"
    assert w.volume(foreign)["Attachments"] == []
    assert w.secret_owner(0) is None
