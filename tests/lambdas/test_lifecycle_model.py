"""A model-based test of the lifecycle hooks under at-least-once, out-of-order delivery.

Hypothesis drives random sequences of: instances launching in any AZ (their launch event
delivered at once, later, or never), duplicate deliveries of launch and termination events,
terminations (with or without their event), reconciler runs, and any single AWS call of an
invocation failing, either throttled (not applied) or timed out after AWS applied it (the
response lost). EventBridge and Lambda's asynchronous invocation deliver an event at least once
and occasionally more than once even without an error
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html), so every such sequence
must keep, after every step:

* no slot held by two live instances, and no instance holding two slots;
* a running validator (its launch completed with CONTINUE, not terminated) keeps its slot, its
  attached volume and its secret access;
* no key lost or overwritten;
* a launch that abandons on its first delivery leaves nothing attached or owned, and whatever a
  terminated instance still holds is freed by the next reconciler run.

It runs against the shared moto server (reset per example), bounded to stay within about a
minute in the normal suite.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from lambda_src.lifecycle.launch import handle_launch
from lambda_src.lifecycle.reconcile import reconcile
from lambda_src.lifecycle.registry import Registry
from lambda_src.lifecycle.store import Dns, Ec2, SecretAccess, Stores
from lambda_src.lifecycle.termination import handle_termination

from .lifecycle_fixtures import (
    ACCOUNT,
    AZS,
    KEY_LAMBDA_ROLE_ARN,
    ROLE_ARN,
    SECRETS_KEY_ARN,
    SLOTS,
    TABLE,
    World,
    build_world,
    lifecycle_event,
)

pytestmark = pytest.mark.moto


@dataclass
class RecordingActions:
    """Auto Scaling's lifecycle actions (moto implements none): records every completion."""

    completed: list[tuple[str, str]] = field(default_factory=list)

    def complete(self, group: str, hook: str, token: str, instance_id: str, result: str) -> bool:
        self.completed.append((instance_id, result))
        return True

    def heartbeat(self, group: str, hook: str, token: str, instance_id: str) -> bool:
        return True


@dataclass
class Fault:
    """Fail the ``index``-th AWS call of the next invocation: throttled, or timed out after it
    was applied."""

    index: int
    applied: bool
    calls: int = 0
    fired: bool = False

    def around(self, operation: str, call: Any) -> Any:
        self.calls += 1
        if self.fired or self.calls != self.index:
            return call()
        self.fired = True
        if self.applied:
            call()
            raise ReadTimeoutError(endpoint_url=f"https://aws/{operation}")
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation
        )


class FaultyClient:
    """A boto3 client whose calls go through the current :class:`Fault` (if any)."""

    def __init__(self, client: Any, holder: dict[str, Fault | None]) -> None:
        self._client = client
        self._holder = holder

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or name in ("meta", "exceptions", "get_paginator"):
            return attribute

        def operation(*args: Any, **kwargs: Any) -> Any:
            fault = self._holder.get("fault")
            if fault is None:
                return attribute(*args, **kwargs)
            return fault.around(name, lambda: attribute(*args, **kwargs))

        return operation


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


faults = st.one_of(
    st.none(),
    st.builds(Fault, index=st.integers(1, 14), applied=st.booleans()),
)


class LifecycleModel(RuleBasedStateMachine):
    """Instances, events and reconciler runs against one moto account."""

    endpoint = ""

    created = Bundle("created")
    launched = Bundle("launched")

    def __init__(self) -> None:
        super().__init__()
        _reset(self.endpoint)
        self.world: World = build_world()
        self.actions = RecordingActions()
        self.holder: dict[str, Fault | None] = {"fault": None}
        w = self.world
        self.stores: Stores = replace(
            w.stores,
            registry=Registry(FaultyClient(w.lambda_clients["dynamodb"], self.holder), TABLE),
            ec2=Ec2(FaultyClient(w.lambda_clients["ec2"], self.holder), sleep=lambda _: None),
            dns=Dns(FaultyClient(w.lambda_clients["route53"], self.holder), w.zone_id),
            secrets=SecretAccess(
                FaultyClient(w.lambda_clients["secretsmanager"], self.holder),
                ROLE_ARN,
                KEY_LAMBDA_ROLE_ARN,
                SECRETS_KEY_ARN,
            ),
            lifecycle=self.actions,  # type: ignore[arg-type]
        )
        self.running: set[str] = set()
        self.terminated: set[str] = set()
        self.delivered: set[str] = set()
        self.clock = 1_000_000

    def teardown(self) -> None:
        self.world.stubber.deactivate()

    # --- helpers ------------------------------------------------------------------------------
    def _now(self) -> float:
        self.clock += 60
        return float(self.clock)

    def _with(self, fault: Fault | None, run: Any) -> Any:
        self.holder["fault"] = fault
        try:
            return run()
        finally:
            self.holder["fault"] = None

    def _owned(self, instance_id: str) -> list[Any]:
        return [r for r in self.world.records() if r.owner_instance_id == instance_id]

    def _arn(self, instance_id: str) -> str:
        return f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{instance_id}"

    # --- rules --------------------------------------------------------------------------------
    @rule(target=launched, az=st.sampled_from(AZS), fault=faults)
    def instance_launches(self, az: str, fault: Fault | None) -> Any:
        """Auto Scaling launches an instance and its launch event is delivered."""
        return self._deliver_launch(self.world.launch(az), fault)

    @rule(target=created, az=st.sampled_from(AZS))
    def instance_starts(self, az: str) -> str:
        """Auto Scaling launches an instance; its launch event is delayed."""
        return self.world.launch(az)

    @rule(target=launched, instance=consumes(created), fault=faults)
    def launch_event(self, instance: str, fault: Fault | None) -> Any:
        """The delayed launch event arrives (possibly after the instance was terminated)."""
        return self._deliver_launch(instance, fault)

    @rule(instance=launched, fault=faults)
    def launch_event_again(self, instance: str, fault: Fault | None) -> None:
        """A duplicate (or retried) delivery of a launch event, at any later time."""
        self._deliver_launch(instance, fault)

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data(), fault=st.builds(Fault, index=st.integers(1, 8), applied=st.booleans()))
    def running_validator_gets_its_launch_event_again(self, data: Any, fault: Fault) -> None:
        """The case of finding 3: a duplicate of a finished launch meets one failing call."""
        instance = data.draw(st.sampled_from(sorted(self.running)))
        self._deliver_launch(instance, fault)

    def _deliver_launch(self, instance: str, fault: Fault | None) -> Any:
        first = instance not in self.delivered
        self.delivered.add(instance)
        w = self.world
        before = len(self.actions.completed)
        try:
            outcome = self._with(
                fault,
                lambda: handle_launch(
                    w.config, self.stores, w.log, lifecycle_event(instance), now=self._now
                ),
            )
        except Exception:
            return multiple(instance)  # retried by Lambda: a later launch_event_again
        results = [r for i, r in self.actions.completed[before:] if i == instance]
        if outcome["result"] == "CONTINUE" and instance not in self.terminated:
            assert results == ["CONTINUE"]
            self.running.add(instance)
        elif outcome["result"] == "ABANDON":
            assert instance not in self.running, "a running validator was abandoned"
            assert results == ["ABANDON"]
            if first:
                assert self._owned(instance) == [], "an abandoned first launch kept a slot"
                self._assert_nothing_attached(instance)
            self._terminate_in_ec2(instance)  # Auto Scaling terminates an abandoned instance
        return multiple(instance)

    @rule(instance=launched, fault=faults, with_event=st.booleans())
    def termination(self, instance: str, fault: Fault | None, with_event: bool) -> None:
        """Auto Scaling terminates an instance (its termination hook may or may not run)."""
        if instance in self.terminated:
            return
        if with_event:
            self._deliver_termination(instance, fault)
        self.running.discard(instance)
        self._terminate_in_ec2(instance)

    @rule(instance=launched, fault=faults)
    def termination_event_again(self, instance: str, fault: Fault | None) -> None:
        """A duplicate or late termination event."""
        if instance in self.terminated:
            self._deliver_termination(instance, fault)

    def _deliver_termination(self, instance: str, fault: Fault | None) -> None:
        w = self.world
        outcome = self._with(
            fault,
            lambda: handle_termination(
                w.config, self.stores, w.log, lifecycle_event(instance, "terminate"), now=self._now
            ),
        )
        assert outcome["result"] == "CONTINUE"

    def _terminate_in_ec2(self, instance: str) -> None:
        self.running.discard(instance)
        if instance not in self.terminated:
            self.world.terminate(instance)
            self.terminated.add(instance)

    @rule(fault=faults)
    def reconciler_runs(self, fault: Fault | None) -> None:
        w = self.world
        try:
            self._with(
                fault,
                lambda: reconcile(
                    w.config,
                    self.stores,
                    w.log,
                    account=ACCOUNT,
                    region="eu-west-1",
                    now=self._now,
                ),
            )
        except Exception:
            return  # a failed run; the next one converges
        # Converged: a terminated instance holds nothing after a clean run.
        for instance in self.terminated:
            assert self._owned(instance) == [], f"terminated {instance} still holds a slot"

    # --- invariants ---------------------------------------------------------------------------
    def _assert_nothing_attached(self, instance: str) -> None:
        for slot in range(SLOTS):
            for volume in self.world.slot_volumes(slot):
                for attachment in volume["Attachments"]:
                    assert attachment["InstanceId"] != instance or attachment["State"] in (
                        "detaching",
                        "detached",
                    ), f"volume {volume['VolumeId']} left attached to abandoned {instance}"

    @invariant()
    def one_holder_per_slot_and_one_slot_per_holder(self) -> None:
        records = self.world.records()
        owners = [r.owner_instance_id for r in records if r.owner_instance_id]
        assert len(owners) == len(set(owners)), f"an instance holds two slots: {owners}"
        live = self.running
        for record in records:
            policy_owner = self.world.secret_owner(record.slot)
            if policy_owner is not None:
                holder = policy_owner.rsplit("/", 1)[-1]
                assert holder == record.owner_instance_id or holder not in live, (
                    f"slot {record.slot}: live {holder} can read a key it does not own"
                )

    @invariant()
    def running_validators_keep_volume_and_key(self) -> None:
        w = self.world
        for instance in self.running:
            owned = self._owned(instance)
            assert len(owned) == 1, f"running {instance} lost its slot"
            record = owned[0]
            assert record.lease_expires_at is None
            assert record.volume_id is not None
            attachments = w.volume(record.volume_id)["Attachments"]
            assert [a["InstanceId"] for a in attachments if a["State"] == "attached"] == [
                instance
            ], f"running {instance} lost its volume"
            assert w.secret_owner(record.slot) == self._arn(instance), (
                f"running {instance} lost its key access"
            )

    @invariant()
    def keys_are_never_lost_or_overwritten(self) -> None:
        for slot in range(SLOTS):
            assert self.world.secret_value(slot) == self.world.keys[slot].to_key_file()


def test_lifecycle_hooks_under_at_least_once_delivery(aws: str) -> None:
    LifecycleModel.endpoint = aws
    runner = LifecycleModel.TestCase
    runner.settings = settings(
        max_examples=8,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=True,
    )
    runner().runTest()
