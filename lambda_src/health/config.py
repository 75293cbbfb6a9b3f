"""The function's configuration, read once from the environment at cold start.

Required variables raise :class:`ConfigError` naming them when missing or empty. Thresholds are
optional: an unset (or empty) one takes the default shown, derived from the block period or from
the validator count n (read from the registry on every run).

==================================  ==========================================================
variable                            meaning (default)
==================================  ==========================================================
``REGISTRY_TABLE_NAME``             DynamoDB key/node registry (partition key ``slot``)
``NETWORK_NAME``                    value of the ``Network`` metric dimension
``ECS_CLUSTER_NAME``                ECS cluster running the Besu service
``ECS_SERVICE_NAME``                ECS service of the Besu tasks (tasks in group
                                    ``service:<name>`` are the ones restarted)
``AUTOSCALING_GROUP_NAME``          Auto Scaling group of the nodes (only its instances are
                                    ever marked unhealthy)
``CONSENSUS_PROTOCOL``              ``ibft2`` or ``qbft`` (picks ``ibft_``/``qbft_getSignerMetrics``)
``RPC_TOKEN_KEY_ARN``               the KMS key that signs the checker's internal RPC tokens
``BLOCK_PERIOD_SECONDS``            seconds between blocks (the longest: the empty-block period
                                    when one is set); thresholds derive from it
``METRIC_NAMESPACE``                CloudWatch namespace (``BesuStack``)
``ADMIN_RPC_PORT``                  WebSocket JSON-RPC port when a registry item names none
                                    (``8547``)
``RPC_TIMEOUT_SECONDS``             per-step timeout: connect, WebSocket handshake, each read
                                    (``2``)
``CHECK_CONCURRENCY``               nodes queried at once (``16``)
``MAX_BLOCKS_BEHIND``               K (``max(10, ceil(60 / block period))``)
``STALL_WINDOW_SECONDS``            head unchanged this long is stalled
                                    (``max(120, 30 * block period)``)
``MIN_PEERS``                       P (``quorum(n) - 1``: the peers a validator needs)
``MAX_BLOCKS_WITHOUT_PROPOSAL``     M, at most 99 (``min(99, max(3 * n, ceil(120 / block
                                    period)))``)
``FAILURES_BEFORE_ACTION``          T consecutive failing (or, to recover, passing) checks
                                    (``3``)
``REMEDIATION_COOLDOWN_SECONDS``    minimum time between two actions on a node (``900``)
``STARTUP_GRACE_SECONDS``           failures of a new or restarted node are not counted for
                                    this long (``max(300, 30 * block period)``)
``REMEDIATION_ENABLED``             ``true`` or ``false`` (observe and alarm only) (``true``)
==================================  ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from besu_stack.besu.bft import quorum
from besu_stack.besu.internal_rpc import checker_permissions, signer_metrics_method
from besu_stack.besu.protocol import Protocol, check_protocol
from besu_stack.lambda_kernel.env import EnvReader

from .decisions import Thresholds
from .errors import ConfigError

DEFAULT_NAMESPACE = "BesuStack"
DEFAULT_ADMIN_RPC_PORT = 8547
SIGNER_METRICS_WINDOW = 100
"""Blocks ``<protocol>_getSignerMetrics`` covers when called without parameters."""


_N = TypeVar("_N", int, float)


def _default(value: _N | None, default: _N) -> _N:
    return default if value is None else value


@dataclass(frozen=True)
class ThresholdSettings:
    """Thresholds as configured; ``None`` means "derive the default"."""

    block_period_seconds: float
    max_blocks_behind: int | None = None
    stall_window_seconds: float | None = None
    min_peers: int | None = None
    max_blocks_without_proposal: int | None = None
    failures_before_action: int = 3
    cooldown_seconds: float = 900.0
    startup_grace_seconds: float | None = None
    remediation_enabled: bool = True

    def resolve(self, validator_count: int) -> Thresholds:
        """The thresholds for a network of ``validator_count`` validators."""
        period = self.block_period_seconds
        n = max(1, validator_count)
        return Thresholds(
            max_blocks_behind=(
                self.max_blocks_behind
                if self.max_blocks_behind is not None
                else max(10, math.ceil(60 / period))
            ),
            stall_window_seconds=(
                self.stall_window_seconds
                if self.stall_window_seconds is not None
                else max(120.0, 30 * period)
            ),
            min_peers=self.min_peers if self.min_peers is not None else quorum(n) - 1,
            max_blocks_without_proposal=(
                self.max_blocks_without_proposal
                if self.max_blocks_without_proposal is not None
                else min(SIGNER_METRICS_WINDOW - 1, max(3 * n, math.ceil(120 / period)))
            ),
            failures_before_action=self.failures_before_action,
            cooldown_seconds=self.cooldown_seconds,
            startup_grace_seconds=(
                self.startup_grace_seconds
                if self.startup_grace_seconds is not None
                else max(300.0, 30 * period)
            ),
            remediation_enabled=self.remediation_enabled,
        )


@dataclass(frozen=True)
class HealthConfig:
    """Where the nodes, the registry and the metrics are, and the rule thresholds."""

    registry_table_name: str
    network_name: str
    ecs_cluster_name: str
    ecs_service_name: str
    autoscaling_group_name: str
    protocol: Protocol
    thresholds: ThresholdSettings
    rpc_token_key_arn: str
    """The asymmetric KMS key the checker signs its internal RPC tokens with."""
    metric_namespace: str = DEFAULT_NAMESPACE
    default_admin_rpc_port: int = DEFAULT_ADMIN_RPC_PORT
    rpc_timeout_seconds: float = 2.0
    check_concurrency: int = 16

    @property
    def signer_metrics_method(self) -> str:
        """The JSON-RPC method reporting validator participation for the protocol."""
        return signer_metrics_method(self.protocol)

    @property
    def rpc_permissions(self) -> tuple[str, ...]:
        """The ``permissions`` of the checker's tokens: exactly the methods it calls."""
        return checker_permissions(self.protocol)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HealthConfig:
        """Read and validate the configuration; raise :class:`ConfigError` naming the variable."""
        read = EnvReader(env, ConfigError)
        required = read.required
        optional = read.optional
        opt_whole = read.optional_whole
        opt_number = read.optional_number

        try:
            protocol = check_protocol(required("CONSENSUS_PROTOCOL"))
        except ValueError as exc:
            raise ConfigError(f"CONSENSUS_PROTOCOL: {exc}") from exc
        remediation_enabled = read.boolean("REMEDIATION_ENABLED", True)
        day = 86_400.0
        thresholds = ThresholdSettings(
            block_period_seconds=read.number("BLOCK_PERIOD_SECONDS", 1, 3600),
            max_blocks_behind=opt_whole("MAX_BLOCKS_BEHIND", 1, 1_000_000),
            stall_window_seconds=opt_number("STALL_WINDOW_SECONDS", 1, day),
            min_peers=opt_whole("MIN_PEERS", 0, 1000),
            max_blocks_without_proposal=opt_whole(
                "MAX_BLOCKS_WITHOUT_PROPOSAL", 1, SIGNER_METRICS_WINDOW - 1
            ),
            failures_before_action=_default(opt_whole("FAILURES_BEFORE_ACTION", 1, 100), 3),
            cooldown_seconds=_default(opt_number("REMEDIATION_COOLDOWN_SECONDS", 0, day), 900.0),
            startup_grace_seconds=opt_number("STARTUP_GRACE_SECONDS", 0, day),
            remediation_enabled=remediation_enabled,
        )
        return cls(
            registry_table_name=required("REGISTRY_TABLE_NAME"),
            network_name=required("NETWORK_NAME"),
            ecs_cluster_name=required("ECS_CLUSTER_NAME"),
            ecs_service_name=required("ECS_SERVICE_NAME"),
            autoscaling_group_name=required("AUTOSCALING_GROUP_NAME"),
            protocol=protocol,
            thresholds=thresholds,
            rpc_token_key_arn=required("RPC_TOKEN_KEY_ARN"),
            metric_namespace=optional("METRIC_NAMESPACE") or DEFAULT_NAMESPACE,
            default_admin_rpc_port=_default(
                opt_whole("ADMIN_RPC_PORT", 1, 65535), DEFAULT_ADMIN_RPC_PORT
            ),
            rpc_timeout_seconds=_default(opt_number("RPC_TIMEOUT_SECONDS", 0.05, 30), 2.0),
            check_concurrency=_default(opt_whole("CHECK_CONCURRENCY", 1, 64), 16),
        )
