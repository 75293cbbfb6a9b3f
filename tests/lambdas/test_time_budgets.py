"""Time budgets: every AWS call is bounded, and each hook finishes inside its function timeout.

Oracles: botocore's own retry code (``botocore.retries.standard.ExponentialBackoff``, the
pinned botocore) for the backoff bound; the boto3/botocore ``Config`` documentation for the
defaults we replace (60 s connect, 60 s read, ``legacy`` retries:
https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html,
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html); the AWS provider's
``aws_autoscaling_group`` docs for Terraform's capacity wait on first apply
(``wait_for_capacity_timeout``, default ``10m``,
https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/autoscaling_group#wait_for_capacity_timeout).

The call counts are measured on real runs against moto, not listed by hand; a slow world (every
call costs its worst case on a fake clock) shows a launch abandons, with its undo done, before
its timeout.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff

from besu_stack.constructs.node_lifecycle import (
    DELIVERY_MARGIN_SECONDS,
    HOOK_FUNCTION_TIMEOUT_SECONDS,
    LAUNCH_HOOK_TIMEOUT_SECONDS,
    TERMINATE_HOOK_TIMEOUT_SECONDS,
)
from besu_stack.lambda_kernel import aws
from besu_stack.lambda_kernel.aws import Budget, CallGuard, aws_client, worst_case_call_seconds
from lambda_src.lifecycle.launch import (
    COMPLETION_CALLS,
    STEPS,
    UNDO_CALLS,
    handle_launch,
    undo_reserve_seconds,
)
from lambda_src.lifecycle.registry import Registry
from lambda_src.lifecycle.store import Dns, Ec2, LifecycleActions, SecretAccess, Stores
from lambda_src.lifecycle.termination import completion_reserve_seconds, handle_termination
from tests.conftest import StackJson, resources

from .lifecycle_fixtures import (
    KEY_LAMBDA_ROLE_ARN,
    ROLE_ARN,
    SECRETS_KEY_ARN,
    TABLE,
    World,
    lifecycle_event,
    world,
)

moto_env = pytest.fixture(lambda aws: aws)

pytestmark = pytest.mark.moto
__all__ = ["world"]

TERRAFORM_CAPACITY_WAIT_DEFAULT_SECONDS = 10 * 60
PUBLISHED = ("after_node_config", "after_handover")


def test_every_client_has_timeouts_and_a_retry_mode(moto_env: str) -> None:
    for service in ("dynamodb", "ec2", "route53", "secretsmanager", "autoscaling", "ssm"):
        client_config = aws_client(service).meta.config
        assert client_config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS < 60
        assert client_config.read_timeout == aws.READ_TIMEOUT_SECONDS < 60
        assert client_config.retries["mode"] == "standard"
        assert client_config.retries["total_max_attempts"] == aws.MAX_ATTEMPTS


class _Context:
    """What botocore's backoff reads from a retry context."""

    def __init__(self, attempt: int) -> None:
        self.attempt_number = attempt
        self.http_response = type("R", (), {"headers": {"x-amz-retry-after": "999000"}})()


class _AlwaysThrottled:
    def is_throttling_error_from_context(self, context: Any) -> bool:
        return True


def test_worst_case_call_bounds_botocores_own_backoff() -> None:
    """Sum botocore's largest delays (throttled, jitter 1, a huge retry-after header)."""
    backoff = ExponentialBackoff(
        random=lambda: 1.0, service_name="ec2", throttling_detector=_AlwaysThrottled()
    )
    delays = sum(backoff.delay_amount(_Context(attempt)) for attempt in range(1, aws.MAX_ATTEMPTS))
    attempts = aws.MAX_ATTEMPTS * (aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS)
    assert worst_case_call_seconds() >= attempts + delays
    assert worst_case_call_seconds() == pytest.approx(attempts + delays)


class _Counting(CallGuard):
    """A guard that also advances a fake clock by each call's worst case when ``slow``."""

    def __init__(self, slow: bool = False) -> None:
        super().__init__()
        self.slow = slow
        self.clock = 0.0

    def before_call(self, operation: str) -> None:
        super().before_call(operation)
        if self.slow:
            self.clock += worst_case_call_seconds()


def _guarded(w: World, guard: CallGuard) -> Stores:
    s = w.stores
    return replace(
        s,
        registry=Registry(guard.wrap(w.dynamodb), TABLE),
        ec2=Ec2(guard.wrap(w.ec2), sleep=lambda _: None),
        dns=Dns(guard.wrap(w.route53), w.zone_id),
        secrets=SecretAccess(
            guard.wrap(w.secretsmanager), ROLE_ARN, KEY_LAMBDA_ROLE_ARN, SECRETS_KEY_ARN
        ),
        lifecycle=LifecycleActions(guard.wrap(s.lifecycle._client)),
        guard=guard,
    )


@pytest.mark.parametrize("step", [s for s in STEPS if s not in PUBLISHED])
def test_the_undo_makes_at_most_the_reserved_number_of_calls(world: World, step: str) -> None:
    w = world
    guard = _Counting()
    stores = _guarded(w, guard)
    instance = w.launch("eu-west-1a")
    at_fault: list[int] = []

    def fault(name: str) -> None:
        if name == step:
            at_fault.append(guard.calls)
            raise RuntimeError("injected")

    w.expect_completion(instance, "ABANDON")
    outcome = handle_launch(w.config, stores, w.log, lifecycle_event(instance), fault=fault)
    assert outcome["result"] == "ABANDON"
    undo_and_abandon = guard.calls - at_fault[0]
    assert undo_and_abandon <= UNDO_CALLS + COMPLETION_CALLS
    if step == "after_secret_access":  # the longest undo: every step before it is undone
        assert undo_and_abandon == UNDO_CALLS + COMPLETION_CALLS


def test_a_slow_world_abandons_with_its_undo_done_before_the_timeout(world: World) -> None:
    """Every call costs its worst case: the launch stops in time and undoes what it did."""
    w = world
    guard = _Counting(slow=True)
    stores = _guarded(w, guard)
    instance = w.launch("eu-west-1a")
    budget = Budget(HOOK_FUNCTION_TIMEOUT_SECONDS, undo_reserve_seconds(), lambda: guard.clock)
    w.expect_completion(instance, "ABANDON")
    outcome = handle_launch(w.config, stores, w.log, lifecycle_event(instance), budget=budget)
    assert outcome == {"result": "ABANDON", "instance_id": instance, "reason": "OutOfTimeError"}
    assert guard.clock <= HOOK_FUNCTION_TIMEOUT_SECONDS
    assert all(r.owner_instance_id != instance for r in w.records())
    assert all(
        a["InstanceId"] != instance
        for s in range(4)
        for v in w.slot_volumes(s)
        for a in v["Attachments"]
    )


def test_a_slow_world_still_completes_the_termination_before_the_timeout(world: World) -> None:
    w = world
    instance = w.launch("eu-west-1a")
    w.expect_completion(instance, "CONTINUE")
    assert handle_launch(w.config, w.stores, w.log, lifecycle_event(instance))["result"] == (
        "CONTINUE"
    )
    guard = _Counting(slow=True)
    stores = _guarded(w, guard)
    budget = Budget(
        HOOK_FUNCTION_TIMEOUT_SECONDS, completion_reserve_seconds(), lambda: guard.clock
    )
    w.expect_completion(instance, "CONTINUE", "terminate")
    outcome = handle_termination(
        w.config, stores, w.log, lifecycle_event(instance, "terminate"), budget=budget
    )
    w.stubber.assert_no_pending_responses()
    assert outcome["result"] == "CONTINUE"
    assert guard.clock <= HOOK_FUNCTION_TIMEOUT_SECONDS


def test_reserve_plus_one_call_fits_each_hook_function(default_stack: StackJson) -> None:
    functions = {
        f["function_name"].rsplit("-", 2)[-2] + "-" + f["function_name"].rsplit("-", 1)[-1]: f
        for f in resources(default_stack, "aws_lambda_function").values()
    }
    launch = functions["launch-hook"]["timeout"]
    terminate = functions["terminate-hook"]["timeout"]
    assert launch == terminate == HOOK_FUNCTION_TIMEOUT_SECONDS
    assert undo_reserve_seconds() + worst_case_call_seconds() <= launch
    assert completion_reserve_seconds() + worst_case_call_seconds() <= terminate
    for name, fn in functions.items():
        env = fn["environment"]["variables"]
        if "FUNCTION_TIMEOUT_SECONDS" in env:
            assert env["FUNCTION_TIMEOUT_SECONDS"] == str(fn["timeout"]), name


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", text)
    assert match, text
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def test_the_launch_hook_fits_terraforms_capacity_wait(default_stack: StackJson) -> None:
    """On the first apply Terraform waits for the instances to be InService, i.e. for every
    launch hook to complete: the hook's timeout (a run plus delivery) must fit in that wait."""
    (group,) = resources(default_stack, "aws_autoscaling_group").values()
    wait = _duration(group.get("wait_for_capacity_timeout", "10m"))
    assert wait == TERRAFORM_CAPACITY_WAIT_DEFAULT_SECONDS or wait > LAUNCH_HOOK_TIMEOUT_SECONDS
    hooks = {h["lifecycle_transition"]: h for h in group["initial_lifecycle_hook"]}
    launch = hooks["autoscaling:EC2_INSTANCE_LAUNCHING"]["heartbeat_timeout"]
    terminate = hooks["autoscaling:EC2_INSTANCE_TERMINATING"]["heartbeat_timeout"]
    assert launch == LAUNCH_HOOK_TIMEOUT_SECONDS
    assert terminate == TERMINATE_HOOK_TIMEOUT_SECONDS
    assert launch >= HOOK_FUNCTION_TIMEOUT_SECONDS + DELIVERY_MARGIN_SECONDS
    assert terminate >= HOOK_FUNCTION_TIMEOUT_SECONDS + DELIVERY_MARGIN_SECONDS
    # Room for the instance to reach Pending:Wait before the hook starts counting.
    assert launch + 120 <= wait


def test_a_slow_world_stops_the_reconciler_in_time(world: World) -> None:
    """Four vanished owners cost more than the reconciler's 120 s at worst-case speed: it
    stops in time (metrics in reserve) and the next run goes on."""
    from besu_stack.constructs.node_lifecycle import RECONCILER_TIMEOUT_SECONDS
    from lambda_src.lifecycle.reconcile import reconcile

    from .lifecycle_fixtures import ACCOUNT

    w = world
    for az in ("eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1a"):
        instance = w.launch(az)
        w.expect_completion(instance, "CONTINUE")
        handle_launch(w.config, w.stores, w.log, lifecycle_event(instance))
        w.terminate(instance)
    guard = _Counting(slow=True)
    stores = _guarded(w, guard)
    budget = Budget(RECONCILER_TIMEOUT_SECONDS, worst_case_call_seconds(), lambda: guard.clock)
    first = reconcile(w.config, stores, w.log, account=ACCOUNT, region="eu-west-1", budget=budget)
    assert first.get("incomplete") is True
    assert guard.clock <= RECONCILER_TIMEOUT_SECONDS
    # At ordinary speed the next runs finish the job.
    for _ in range(4):
        reconcile(w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1")
    assert all(r.status == "available" for r in w.records())
