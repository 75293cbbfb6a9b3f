"""The launch hook against the moto server: claim, volume, attach, DNS, secret access, tags."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from besu_stack.lambda_kernel.aws import aws_client
from lambda_src.lifecycle.launch import handle_launch
from lambda_src.lifecycle.registry import Registry
from lambda_src.lifecycle.store import Containers
from lambda_src.lifecycle.termination import handle_termination

from .lifecycle_fixtures import ACCOUNT, DOMAIN, NETWORK, TABLE, World, lifecycle_event, world

pytestmark = pytest.mark.moto
__all__ = ["world"]


def arn(instance_id: str) -> str:
    return f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{instance_id}"


def launch(w: World, instance_id: str, result: str = "CONTINUE") -> dict:
    w.expect_completion(instance_id, result)
    outcome = handle_launch(w.config, w.stores, w.log, lifecycle_event(instance_id))
    w.stubber.assert_no_pending_responses()
    return outcome


def test_launch_sets_up_a_slot(world: World) -> None:
    w = world
    instance_id = w.launch("eu-west-1a")
    outcome = launch(w, instance_id)
    assert outcome["result"] == "CONTINUE"
    slot = outcome["slot"]
    record = w.record(slot)
    assert record.status == "in_use"
    assert record.owner_instance_id == instance_id
    assert record.owner_az == "eu-west-1a"
    assert record.volume_az == "eu-west-1a"
    assert record.lease_expires_at is None
    assert record.version == 4  # claim, volume, handover
    volume = w.volume(record.volume_id or "")
    assert volume["Encrypted"] is True
    assert volume["VolumeType"] == "gp3"
    assert volume["Size"] == 100
    assert volume["AvailabilityZone"] == "eu-west-1a"
    assert [a["InstanceId"] for a in volume["Attachments"]] == [instance_id]
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["Network"] == NETWORK
    assert tags["Slot"] == str(slot)
    assert w.a_record(slot) == w.instance(instance_id)["PrivateIpAddress"]
    assert w.secret_owner(slot) == arn(instance_id)
    node = w.instance_tags(instance_id)
    assert node["besu:slot"] == str(slot)
    assert node["besu:address"] == w.keys[slot].address
    assert node["besu:p2p-host"] == f"validator-{slot}.{DOMAIN}"
    assert node["besu:volume-id"] == record.volume_id
    assert node["besu:genesis"] == "s3://testnet-artifacts/genesis.json"
    # Nothing logged or returned holds key material.
    text = w.log_stream.getvalue() + json.dumps(outcome)
    assert w.keys[slot].to_key_file()[2:] not in text


def test_secret_policy_names_only_the_owner(world: World) -> None:
    w = world
    instance_id = w.launch("eu-west-1b")
    slot = launch(w, instance_id)["slot"]
    policy = json.loads(
        w.secretsmanager.get_resource_policy(SecretId=f"{NETWORK}/validator-{slot}/key")[
            "ResourcePolicy"
        ]
    )
    allow = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Action"] == "secretsmanager:GetSecretValue"
    assert allow[0]["Condition"] == {"StringEquals": {"ec2:SourceInstanceARN": arn(instance_id)}}
    # Other slots' secrets are not opened to anyone.
    for other in range(4):
        if other != slot:
            assert w.secret_owner(other) is None


def test_launch_is_idempotent(world: World) -> None:
    w = world
    instance_id = w.launch("eu-west-1a")
    first = launch(w, instance_id)
    second = launch(w, instance_id)
    assert second["slot"] == first["slot"]
    assert second["volume_id"] == first["volume_id"]
    assert len(w.slot_volumes(first["slot"])) == 1
    assert sum(r.owner_instance_id == instance_id for r in w.records()) == 1


class _ThrottledOnce:
    """A DynamoDB client whose first call is throttled (not applied), the rest pass through."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.throttled = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if not self.throttled:
                self.throttled = True
                error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
                raise ClientError(error, name)
            return attribute(*args, **kwargs)

        return call


def test_a_failing_duplicate_of_a_finished_launch_is_retried_not_abandoned(world: World) -> None:
    """The duplicate's registry read is throttled: the node runs (and a duplicate arriving while
    another delivery still sets it up must not kill it), so the error propagates for a retry
    instead of an ABANDON, and nothing of the running node is touched."""
    w = world
    instance_id = w.launch("eu-west-1a")
    slot = launch(w, instance_id)["slot"]
    stores = dataclasses.replace(w.stores, registry=Registry(_ThrottledOnce(w.dynamodb), TABLE))
    with pytest.raises(ClientError):
        handle_launch(w.config, stores, w.log, lifecycle_event(instance_id))
    w.stubber.assert_no_pending_responses()  # no ABANDON was sent
    assert w.record(slot).owner_instance_id == instance_id
    assert w.secret_owner(slot) == arn(instance_id)


def test_terminated_instance_is_abandoned(world: World) -> None:
    w = world
    instance_id = w.launch("eu-west-1a")
    w.terminate(instance_id)
    outcome = launch(w, instance_id, "ABANDON")
    assert outcome["reason"] == "InstanceGoneError"
    assert all(r.status == "available" for r in w.records())


def test_fifth_instance_abandons_cleanly(world: World) -> None:
    w = world
    for az in ("eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1a"):
        assert launch(w, w.launch(az))["result"] == "CONTINUE"
    extra = w.launch("eu-west-1b")
    outcome = launch(w, extra, "ABANDON")
    assert outcome["reason"] == "NoSlotAvailableError"
    assert all(r.owner_instance_id != extra for r in w.records())
    assert "besu:slot" not in w.instance_tags(extra)


def test_launch_then_terminate_releases(world: World) -> None:
    w = world
    instance_id = w.launch("eu-west-1c")
    slot = launch(w, instance_id)["slot"]
    volume_id = w.record(slot).volume_id
    w.expect_completion(instance_id, "CONTINUE", "terminate")
    outcome = handle_termination(
        w.config, w.stores, w.log, lifecycle_event(instance_id, "terminate")
    )
    w.stubber.assert_no_pending_responses()
    assert outcome["released_slots"] == [slot]
    record = w.record(slot)
    assert record.status == "available"
    assert record.owner_instance_id is None
    assert record.volume_id == volume_id
    assert w.volume(volume_id or "")["State"] == "available"
    assert w.secret_owner(slot) is None
    snapshots = w.ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:Slot", "Values": [str(slot)]}]
    )["Snapshots"]
    assert [s["VolumeId"] for s in snapshots] == [volume_id]


def test_termination_drains_the_container_instance(world: World) -> None:
    w = world
    ecs = boto3.client("ecs", region_name="eu-west-1")
    ecs.create_cluster(clusterName="testnet")
    instance_id = w.launch("eu-west-1a")
    document = json.dumps({"instanceId": instance_id, "region": "eu-west-1"})
    arn_ = ecs.register_container_instance(cluster="testnet", instanceIdentityDocument=document)[
        "containerInstance"
    ]["containerInstanceArn"]
    slot = launch(w, instance_id)["slot"]
    stores = dataclasses.replace(
        w.stores, containers=Containers(aws_client("ecs"), "testnet", sleep=lambda _: None)
    )
    w.expect_completion(instance_id, "CONTINUE", "terminate")
    outcome = handle_termination(w.config, stores, w.log, lifecycle_event(instance_id, "terminate"))
    assert outcome["released_slots"] == [slot]
    described = ecs.describe_container_instances(cluster="testnet", containerInstances=[arn_])
    assert described["containerInstances"][0]["status"] == "DRAINING"
