"""The health checker's time budget (issue 12): a run never outlives its function timeout.

Oracles: botocore's ``Config`` reference for ``total_max_attempts`` (the first try counts:
https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html) and botocore's
own backoff code for the retry delays (``tests/lambdas/test_time_budgets.py``); the call counts
of the remediations are measured against moto, not listed by hand. A slow world charges every
AWS call its worst case on a fake clock (as the lifecycle tests do): no wall-clock timing.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest

from besu_stack.besu.internal_rpc import TOKEN_LIFETIME_SECONDS
from besu_stack.constructs.health_check import FUNCTION_TIMEOUT_SECONDS
from besu_stack.lambda_kernel import aws
from besu_stack.lambda_kernel.aws import Budget, CallGuard, OutOfTimeError
from besu_stack.lambda_log import JsonLogger
from lambda_src.health.config import HealthConfig
from lambda_src.health.decisions import Action, Observation
from lambda_src.health.logic import (
    DEFERRED_OUT_OF_TIME,
    REMEDIATION_CALLS,
    RPC_STEPS_PER_NODE,
    SCAN_CALLS,
    node_calls,
    observation_seconds,
    run_check,
    run_worst_case_seconds,
)
from lambda_src.health.rpc import NodeEndpoint
from lambda_src.health.rpc_token import SIGN_CALLS, RpcTokenSigner
from lambda_src.health.store import CHECKER_CALL_SECONDS, CHECKER_MAX_ATTEMPTS, Stores
from tests.conftest import StackJson, resources

from .health_fixtures import HealthAws, health_env, make_health_aws, make_rpc_token_key

moto_env = pytest.fixture(lambda aws: aws)

SCHEDULE_SECONDS = 60
"""The default ``rate(1 minute)`` schedule."""


class _SlowGuard(CallGuard):
    """Counts calls; when ``slow``, each one advances a fake clock by its worst case."""

    def __init__(self, slow: bool = False) -> None:
        super().__init__(CHECKER_CALL_SECONDS)
        self.slow = slow
        self.clock = 0.0

    def before_call(self, operation: str) -> None:
        super().before_call(operation)
        if self.slow:
            self.clock += self.call_seconds


def _stores(config: HealthConfig, guard: CallGuard) -> Stores:
    return Stores.from_boto3(
        config.registry_table_name,
        config.ecs_cluster_name,
        config.ecs_service_name,
        config.autoscaling_group_name,
        config.metric_namespace,
        guard=guard,
    )


def _world(n: int) -> HealthAws:
    side = make_health_aws(n)
    for slot in range(n):
        side.register(slot, 8547)
    return side


def _observer(dead: set[int], guard: _SlowGuard, config: HealthConfig) -> Any:
    """Observations without WebSockets; the fake clock pays the RPC phase's worst case."""

    def observe(nodes: list[NodeEndpoint]) -> list[Observation]:
        guard.clock += observation_seconds(config, len(nodes))
        return [
            Observation(n.slot, n.instance_id, reachable=False, error="refused")
            if n.slot in dead
            else Observation(
                n.slot,
                n.instance_id,
                reachable=True,
                head=100,
                peers=7,
                syncing=False,
                address=n.address,
                last_proposed={},
            )
            for n in nodes
        ]

    return observe


def test_the_rpc_token_outlives_any_run() -> None:
    """Besu checks the token on every message (WebSocketService): the one token of a run must
    stay valid to the end of the run."""
    assert TOKEN_LIFETIME_SECONDS > FUNCTION_TIMEOUT_SECONDS


def test_the_checker_clients_try_once(moto_env: str) -> None:
    config = HealthConfig.from_env(health_env())
    stores = _stores(config, CallGuard())
    clients = [
        stores.registry._client,
        stores.fleet._ecs,
        stores.fleet._autoscaling,
        stores.metrics._client,
        RpcTokenSigner.from_boto3(config.rpc_token_key_arn, config.rpc_permissions)._kms,
    ]
    for client in clients:
        retries = client.meta.config.retries
        assert retries == {"mode": "standard", "total_max_attempts": CHECKER_MAX_ATTEMPTS}
        assert client.meta.config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS
        assert client.meta.config.read_timeout == aws.READ_TIMEOUT_SECONDS
    # One attempt: no backoff, only the two timeouts.
    assert CHECKER_CALL_SECONDS == aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS
    assert Stores.from_boto3("t", "c", "s", "g", "n").guard is not None  # guarded by default


@pytest.mark.moto
def test_remediation_call_counts_are_measured(moto_env: str) -> None:
    side = _world(2)
    config = HealthConfig.from_env(health_env())
    guard = _SlowGuard()
    stores = _stores(config, guard)
    stores.fleet.restart_task(side.instance_ids[0], "test")
    assert guard.calls == REMEDIATION_CALLS[Action.RESTART_TASK]
    assert side.task_status(0) == "STOPPED"
    guard.calls = 0
    stores.fleet.replace_instance(side.instance_ids[1])
    assert guard.calls == REMEDIATION_CALLS[Action.REPLACE_INSTANCE]
    guard.calls = 0
    assert len(stores.registry.items()) == 2
    assert guard.calls == SCAN_CALLS


@pytest.mark.moto
def test_the_runs_token_is_one_guarded_call_that_the_observation_budget_pays_for(
    moto_env: str,
) -> None:
    """Measured against moto's KMS: one kms:Sign per token, through the run's guard, and the
    observation's worst case includes it before any node is read."""
    config = HealthConfig.from_env(health_env(RPC_TOKEN_KEY_ARN=make_rpc_token_key()))
    guard = _SlowGuard()
    signer = RpcTokenSigner.from_boto3(config.rpc_token_key_arn, config.rpc_permissions, guard)
    assert signer.token().count(".") == 2
    assert guard.calls == SIGN_CALLS == 1
    waves = observation_seconds(config, 1) - SIGN_CALLS * CHECKER_CALL_SECONDS
    assert waves == pytest.approx(RPC_STEPS_PER_NODE * config.rpc_timeout_seconds)
    assert observation_seconds(config, 0) == 0


def _health_function(stack: StackJson) -> dict[str, Any]:
    (function,) = [
        f
        for f in resources(stack, "aws_lambda_function").values()
        if f["function_name"].endswith("-health")
    ]
    return function


def test_observation_one_remediation_and_the_metrics_fit_the_timeout(
    default_stack: StackJson,
) -> None:
    function = _health_function(default_stack)
    timeout = function["timeout"]
    assert timeout == FUNCTION_TIMEOUT_SECONDS < SCHEDULE_SECONDS
    assert function["reserved_concurrent_executions"] == 1
    env = function["environment"]["variables"]
    # The synthesized RPC settings (the rest are Terraform references, irrelevant here).
    rpc = {k: env[k] for k in ("RPC_TIMEOUT_SECONDS", "CHECK_CONCURRENCY") if k in env}
    config = HealthConfig.from_env({**health_env(RPC_TIMEOUT_SECONDS=""), **rpc})
    assert config.rpc_timeout_seconds >= 2.0
    n = config.check_concurrency  # min(64, validator count): the default stack's, one wave
    # remaining_seconds() keeps a second to return.
    assert run_worst_case_seconds(config, n) <= timeout - 1
    # With the kernel's default 3 attempts, the scan and one restart alone would not fit.
    calls = SCAN_CALLS + node_calls(Action.RESTART_TASK) + 1
    assert calls * aws.worst_case_call_seconds() > timeout


@pytest.mark.moto
def test_a_slow_world_defers_nodes_and_still_publishes_before_the_timeout(
    moto_env: str,
) -> None:
    """Every call costs its worst case: the run acts on what it can pay for, defers the rest
    with their state unchanged, publishes the metrics and ends before the timeout."""
    n = 8
    side = _world(n)
    # T = 1: a failing node is remediated on its first failing check; f = 2 for n = 8.
    config = replace(
        HealthConfig.from_env(health_env(FAILURES_BEFORE_ACTION="1")), rpc_timeout_seconds=2.0
    )
    guard = _SlowGuard(slow=True)
    stores = _stores(config, guard)
    stream = io.StringIO()
    budget = Budget(FUNCTION_TIMEOUT_SECONDS - 1, CHECKER_CALL_SECONDS, lambda: guard.clock)
    result = run_check(
        config, stores, _observer({6, 7}, guard, config), JsonLogger("t", stream), 1e9, budget
    )
    assert guard.clock <= FUNCTION_TIMEOUT_SECONDS - 1
    decisions = {node["slot"]: node["decision"] for node in result["nodes"]}
    # The remediation went first and was paid in full; nothing else fitted.
    assert decisions[6] == Action.RESTART_TASK.value
    assert side.task_status(6) == "STOPPED"
    assert side.health(6)["stage"] == "restarted"
    deferred = [s for s, d in decisions.items() if d == DEFERRED_OUT_OF_TIME]
    assert result["nodes_deferred"] == len(deferred) == n - 1
    # The second restart could not be paid for: not saved as restarted, task untouched.
    assert side.task_status(7) == "RUNNING"
    for slot in deferred:
        assert (
            "health"
            not in side.dynamodb.get_item(
                TableName="testnet-registry", Key={"slot": {"N": str(slot)}}
            )["Item"]
        )
    listed = side.cloudwatch.list_metrics(Namespace=config.metric_namespace)["Metrics"]
    assert {"NodesDeferred", "Healthy", "Decisions"} <= {m["MetricName"] for m in listed}
    assert "out of time: nodes deferred" in stream.getvalue()

    # At ordinary speed the next run goes on with the deferred nodes.
    second = run_check(config, stores, _observer({6, 7}, guard, config), JsonLogger("t"), 1e9 + 60)
    assert second["nodes_deferred"] == 0
    assert {node["slot"]: node["decision"] for node in second["nodes"]}[7] == "restart_task"
    assert side.task_status(7) == "STOPPED"


@pytest.mark.moto
def test_no_time_to_observe_defers_every_node_and_publishes(moto_env: str) -> None:
    side = _world(4)
    config = HealthConfig.from_env(health_env())
    guard = _SlowGuard(slow=True)
    stores = _stores(config, guard)
    # Enough for the scan and the metrics, not for the observation.
    budget = Budget(2 * CHECKER_CALL_SECONDS, CHECKER_CALL_SECONDS, lambda: guard.clock)
    observed: list[int] = []
    result = run_check(
        config,
        stores,
        lambda nodes: observed.append(len(nodes)) or [],
        JsonLogger("t"),
        1e9,
        budget,
    )
    assert observed == []
    assert result == {"nodes_deferred": 4, "nodes": []}
    assert guard.clock <= 2 * CHECKER_CALL_SECONDS
    listed = side.cloudwatch.list_metrics(Namespace=config.metric_namespace)["Metrics"]
    assert [m["MetricName"] for m in listed] == ["NodesDeferred"]


def test_out_of_time_inside_a_remediation_is_contained_to_its_node() -> None:
    """A remediation call that runs out of time counts as a failed remediation; the run goes
    on with the other nodes (like an AWS error)."""
    from tests.unit.test_health_containment import CONFIG, FakeStores, observe

    stores = FakeStores(4)

    def out_of_time(instance_id: str, reason: str) -> list[str]:
        raise OutOfTimeError("no time left for the restart")

    stores.fleet.restart_task = out_of_time  # type: ignore[method-assign]
    log = JsonLogger("t", io.StringIO())
    for run in range(2):
        result = run_check(CONFIG, stores, observe({0}, 100 + run), log, 1_000.0 + run * 60)  # type: ignore[arg-type]
    decisions = {node["slot"]: node["decision"] for node in result["nodes"]}
    assert decisions == {0: "remediation_failed", 1: "none", 2: "none", 3: "none"}
    state = stores.registry.states[0]
    assert state is not None and state.failed_remediations == 1
    assert result["nodes_deferred"] == 0
