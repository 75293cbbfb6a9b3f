"""Lambda entry point of the health checker: ``health.handler.handler``.

Invoked by an EventBridge schedule (by default every minute); the event's content is ignored.
Returns a public summary (see :func:`health.logic.run_check`). The configuration, the AWS
clients, the token signer (``kms:Sign``, one token per run) and the WebSocket JSON-RPC client
are built once per cold start; a missing environment variable fails the import loudly. Every
AWS call, the token's signature included, goes through one :class:`CallGuard`. Run it with reserved concurrency 1: runs never overlap on purpose (and a
conditional write guards each node if they do).

Each invocation's time budget is the Lambda context's remaining time (kernel
``remaining_seconds``), with one AWS call (the metrics publication) in reserve; ``run_check``
raises the reserve to what the run's metrics cost and defers the nodes it cannot pay for.
"""

from __future__ import annotations

import os
import time
from typing import Any

from besu_stack.lambda_kernel.aws import Budget, CallGuard, remaining_seconds
from besu_stack.lambda_log import JsonLogger

from .config import HealthConfig
from .errors import HealthCheckError
from .logic import run_check
from .rpc import BesuRpcClient
from .rpc_token import RpcTokenSigner
from .store import CHECKER_CALL_SECONDS, Stores

LOG = JsonLogger("health")
CONFIG = HealthConfig.from_env(os.environ)
GUARD = CallGuard(CHECKER_CALL_SECONDS)
STORES = Stores.from_boto3(
    CONFIG.registry_table_name,
    CONFIG.ecs_cluster_name,
    CONFIG.ecs_service_name,
    CONFIG.autoscaling_group_name,
    CONFIG.metric_namespace,
    guard=GUARD,
)
TOKENS = RpcTokenSigner.from_boto3(CONFIG.rpc_token_key_arn, CONFIG.rpc_permissions, GUARD)
RPC = BesuRpcClient(
    CONFIG.signer_metrics_method,
    CONFIG.rpc_timeout_seconds,
    CONFIG.check_concurrency,
    authorization=TOKENS.authorization,
)


def handler(event: object, context: Any) -> dict[str, Any]:
    """Check every registered node once and remediate within the quorum limits and the time left.

    Without a Lambda context (a direct call) the run has no deadline.
    """
    budget = Budget.starting_now(
        remaining_seconds(context, float("inf")), reserve_seconds=CHECKER_CALL_SECONDS
    )
    try:
        return run_check(CONFIG, STORES, RPC.observe_all, LOG, time.time(), budget=budget)
    except HealthCheckError as exc:
        LOG.error("health check failed", error=type(exc).__name__, detail=str(exc))
        raise
