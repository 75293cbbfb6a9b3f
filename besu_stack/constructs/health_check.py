"""The deep health checker: a scheduled Lambda that measures every node and repairs a few."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from cdktf import IResolvable, Token
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.lambda_function_event_invoke_config import (
    LambdaFunctionEventInvokeConfig,
)
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from besu_stack.besu.extra_data import Protocol, check_protocol
from besu_stack.constructs.fleet.reference import FleetReference
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey
from besu_stack.constructs.python_function import PythonFunction
from besu_stack.constructs.registry import ValidatorRegistry
from besu_stack.constructs.rpc_token_key import RpcTokenKey

HEALTH_ATTRIBUTE = "health"
"""The one registry attribute the checker writes (``lambda_src/health/store.py``)."""
HEALTH_METRIC_NAMESPACE = "BesuStack"
"""The CloudWatch namespace the checker publishes to (its ``METRIC_NAMESPACE``)."""
DEFAULT_SCHEDULE = "rate(1 minute)"
FUNCTION_TIMEOUT_SECONDS = 50
"""Shorter than the one-minute schedule, so a slow run never meets the next one. A run budgets
its time within it (``lambda_src/health/logic.py``): with the checker's one-attempt clients
(4 s a call at worst) the RPC observation, one whole remediation and the metrics fit
(``tests/lambdas/test_health_time_budget.py``); nodes the budget cannot pay for wait for the
next run."""
MAX_CHECK_CONCURRENCY = 64
"""The runtime's upper bound for ``CHECK_CONCURRENCY``."""


@dataclass(frozen=True)
class HealthThresholds:
    """The checker's rule thresholds; each may be a literal or a Terraform number token.

    A field left ``None`` is not passed, and the function derives its default from the block
    period or the validator count (see ``lambda_src/health/config.py`` and
    ``docs/operations-health.md``): K = max(10, ceil(60 / period)) blocks behind; stall window
    max(120, 30 x period) s; P = quorum(n) - 1 peers; M = min(99, max(3n, ceil(120 / period)))
    blocks without a proposal; T = 3 consecutive failures; 900 s cooldown; startup grace
    max(300, 30 x period) s.
    """

    max_blocks_behind: float | None = None
    stall_window_seconds: float | None = None
    min_peers: float | None = None
    max_blocks_without_proposal: float | None = None
    failures_before_action: float | None = None
    cooldown_seconds: float | None = None
    startup_grace_seconds: float | None = None

    def environment(self) -> dict[str, str]:
        """The set thresholds as the function's environment variables."""
        env: dict[str, str] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if not Token.is_unresolved(value) and (
                isinstance(value, bool) or not math.isfinite(value) or value < 0
            ):
                raise ValueError(
                    f"health threshold {field.name} must be a non-negative number, got {value!r}"
                )
            env[_THRESHOLD_ENV[field.name]] = env_text(value)
        return env


_THRESHOLD_ENV = {
    "max_blocks_behind": "MAX_BLOCKS_BEHIND",
    "stall_window_seconds": "STALL_WINDOW_SECONDS",
    "min_peers": "MIN_PEERS",
    "max_blocks_without_proposal": "MAX_BLOCKS_WITHOUT_PROPOSAL",
    "failures_before_action": "FAILURES_BEFORE_ACTION",
    "cooldown_seconds": "REMEDIATION_COOLDOWN_SECONDS",
    "startup_grace_seconds": "STARTUP_GRACE_SECONDS",
}


def env_text(value: Any) -> str:
    """A literal or token as an environment value the health runtime parses.

    Whole numbers are written without a fraction ("3", not "3.0": the runtime reads counts
    with ``str.isdigit``); booleans as ``true``/``false``; tokens as Terraform interpolations,
    which render numbers and booleans the same way.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if Token.is_unresolved(value):
            return Token.as_string(value)
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return Token.as_string(value)


class HealthCheck(Construct):
    """The deep health check Lambda (``lambda_src/health``) on an EventBridge schedule.

    * A :class:`PythonFunction` ``<network>-health`` (its package carries websocket-client, for
      the nodes' WebSocket JSON-RPC), in the given subnets with the health checker's security
      group (the only one the nodes admit on the internal RPC port), reserved concurrency 1
      (runs never overlap, as the runtime requires), a 50 s timeout (under the one-minute
      schedule), and an async invoke config with no retries and a 60 s maximum event age: a
      stale check is worthless, the next run comes a minute later.
    * An EventBridge rule ``<network>-health-check`` with ``schedule_expression`` targeting the
      function, and the ``aws_lambda_permission`` for ``events.amazonaws.com`` scoped to that
      rule's ARN.
    * Grants to its role, each written by the resource it protects: the registry lets it scan
      the slots and update only their ``health`` attribute (``dynamodb:Attributes``,
      :meth:`ValidatorRegistry.grant`), so it cannot change which instance owns a slot or where
      a slot's key is; the fleet lets it restart the cluster's tasks and mark the group's
      instances unhealthy (:class:`FleetReference`); ``cloudwatch:PutMetricData`` on ``*``
      (the action supports no resource-level permissions) limited by the
      ``cloudwatch:namespace`` condition to ``BesuStack``; ``kms:Sign`` on ``rpc_token_key``,
      written in that key's policy (:meth:`RpcTokenKey.grant_sign`): the checker signs one
      short-lived token per run for the nodes' authenticated internal RPC
      (``RPC_TOKEN_KEY_ARN``).

    ``validator_count`` sets ``CHECK_CONCURRENCY`` so that every node is queried at once (up to
    64) and a run takes about one RPC timeout. ``thresholds`` fields left unset take the
    runtime's derived defaults. ``remediation_enabled`` (a bool or a bool token) false turns
    restarts and replacements off: the checker still measures, logs and publishes.

    Attributes: ``function`` (the :class:`PythonFunction`), ``function_name``,
    ``function_arn``, ``role_arn``, ``rule_arn``, ``rule_name``, ``metric_namespace``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        fleet: FleetReference,
        registry: ValidatorRegistry,
        key: EncryptionKey,
        rpc_token_key: RpcTokenKey,
        protocol: Protocol,
        validator_count: int,
        block_period_seconds: float,
        subnet_ids: Sequence[str],
        security_group_id: str,
        log_retention_days: float,
        thresholds: HealthThresholds | None = None,
        schedule_expression: str = DEFAULT_SCHEDULE,
        remediation_enabled: bool | IResolvable = True,
    ) -> None:
        super().__init__(scope, id)
        check_protocol(protocol)
        if isinstance(validator_count, bool) or validator_count < 1:
            raise ValueError(f"validator_count must be at least 1, got {validator_count!r}")
        if not Token.is_unresolved(schedule_expression) and not schedule_expression.startswith(
            ("rate(", "cron(")
        ):
            raise ValueError(
                f"schedule_expression must be an EventBridge rate(...) or cron(...) expression, "
                f"got {schedule_expression!r}"
            )
        thresholds = thresholds or HealthThresholds()
        self.metric_namespace = HEALTH_METRIC_NAMESPACE

        environment = {
            "REGISTRY_TABLE_NAME": registry.table_name,
            "NETWORK_NAME": identity.network_name,
            "ECS_CLUSTER_NAME": fleet.cluster_name,
            "ECS_SERVICE_NAME": fleet.service_name,
            "AUTOSCALING_GROUP_NAME": fleet.autoscaling_group_name,
            "CONSENSUS_PROTOCOL": protocol,
            "BLOCK_PERIOD_SECONDS": env_text(block_period_seconds),
            "METRIC_NAMESPACE": HEALTH_METRIC_NAMESPACE,
            "CHECK_CONCURRENCY": str(min(MAX_CHECK_CONCURRENCY, validator_count)),
            "REMEDIATION_ENABLED": env_text(remediation_enabled),
            "RPC_TOKEN_KEY_ARN": rpc_token_key.key_arn,
            **thresholds.environment(),
        }
        self.function = PythonFunction(
            self,
            "health",
            identity=identity,
            function_name=identity.name("health"),
            source="health",
            description="Deep health check of the Besu validators: metrics and bounded repairs",
            environment=environment,
            key=key,
            log_retention_days=log_retention_days,
            subnet_ids=subnet_ids,
            security_group_ids=[security_group_id],
            timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
            reserved_concurrency=1,
        )
        role = self.function.role
        registry.grant(role, ["dynamodb:Scan"], sid="ReadSlots")
        registry.grant(
            role, ["dynamodb:UpdateItem"], sid="RecordNodeHealth", attributes=[HEALTH_ATTRIBUTE]
        )
        fleet.grant_restart_tasks(role)
        fleet.grant_replace_instances(role)
        rpc_token_key.grant_sign(role)
        role.add_to_policy(
            {
                # PutMetricData supports no resource-level permissions; the namespace condition
                # is the scope.
                "Sid": "PublishHealthMetricsToOwnNamespace",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": HEALTH_METRIC_NAMESPACE}},
            }
        )
        LambdaFunctionEventInvokeConfig(
            self,
            "async",
            function_name=self.function.function_name,
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=60,
        )
        self.rule = CloudwatchEventRule(
            self,
            "schedule",
            name=identity.name("health-check"),
            description=f"Runs the deep health check of Besu network {identity.network_name}",
            schedule_expression=schedule_expression,
        )
        CloudwatchEventTarget(
            self,
            "target",
            rule=self.rule.name,
            target_id="health-check",
            arn=self.function.function_arn,
            retry_policy=CloudwatchEventTargetRetryPolicy(
                maximum_event_age_in_seconds=60, maximum_retry_attempts=0
            ),
        )
        LambdaPermission(
            self,
            "invoke",
            statement_id="AllowHealthCheckSchedule",
            action="lambda:InvokeFunction",
            function_name=self.function.function_name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
        )
        self.function_name: str = self.function.function_name
        self.function_arn: str = self.function.function_arn
        self.role_arn: str = self.function.role_arn
        self.rule_arn: str = self.rule.arn
        self.rule_name: str = self.rule.name
