"""Lambda entry point of the termination hook: ``lifecycle.termination_handler.handler``.

Target of the EventBridge rule for "EC2 Instance-terminate Lifecycle Action" of the validators'
Auto Scaling group.
"""

from __future__ import annotations

from typing import Any

from besu_stack.lambda_kernel.aws import Budget, remaining_seconds
from besu_stack.lambda_log import JsonLogger

from .errors import LifecycleError
from .runtime import load
from .termination import completion_reserve_seconds, handle_termination

LOG = JsonLogger("lifecycle.termination")
STORES_CALLED = ("registry", "ec2", "secrets", "lifecycle", "containers", "commands")
"""The stores :func:`handle_termination` calls (a test derives them from the code): only their clients
are built at cold start."""
CONFIG, STORES = load(STORES_CALLED)


def handler(event: object, context: Any) -> dict[str, Any]:
    """Release the terminating instance's slot and complete the lifecycle action."""
    budget = Budget.starting_now(
        remaining_seconds(context, CONFIG.function_timeout_seconds), completion_reserve_seconds()
    )
    try:
        return handle_termination(CONFIG, STORES, LOG, event, budget=budget)
    except LifecycleError as exc:
        LOG.error("termination hook rejected the event", error=type(exc).__name__, detail=str(exc))
        raise
