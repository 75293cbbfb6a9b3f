"""Lambda entry point of the launch hook: ``lifecycle.launch_handler.handler``.

Target of the EventBridge rule for "EC2 Instance-launch Lifecycle Action" of the validators'
Auto Scaling group. Configuration and clients are built once per cold start.
"""

from __future__ import annotations

from typing import Any

from besu_stack.lambda_kernel.aws import Budget, remaining_seconds
from besu_stack.lambda_log import JsonLogger

from .errors import LifecycleError
from .launch import handle_launch, undo_reserve_seconds
from .runtime import load

LOG = JsonLogger("lifecycle.launch")
STORES_CALLED = ("registry", "ec2", "dns", "secrets", "lifecycle", "metrics")
"""The stores :func:`handle_launch` calls (a test derives them from the code): only their clients
are built at cold start."""
CONFIG, STORES = load(STORES_CALLED)


def handler(event: object, context: Any) -> dict[str, Any]:
    """Set up the launching instance's slot and complete the lifecycle action."""
    budget = Budget.starting_now(
        remaining_seconds(context, CONFIG.function_timeout_seconds), undo_reserve_seconds()
    )
    try:
        return handle_launch(CONFIG, STORES, LOG, event, budget=budget)
    except LifecycleError as exc:
        LOG.error("launch hook rejected the event", error=type(exc).__name__, detail=str(exc))
        raise
