"""Lambda entry point of the termination hook: ``lifecycle.termination_handler.handler``.

Target of the EventBridge rule for "EC2 Instance-terminate Lifecycle Action" of the validators'
Auto Scaling group.
"""

from __future__ import annotations

from typing import Any

from besu_stack.lambda_log import JsonLogger

from .errors import LifecycleError
from .runtime import load
from .termination import handle_termination

LOG = JsonLogger("lifecycle.termination")
CONFIG, STORES = load()


def handler(event: object, context: Any) -> dict[str, Any]:
    """Release the terminating instance's slot and complete the lifecycle action."""
    try:
        return handle_termination(CONFIG, STORES, LOG, event)
    except LifecycleError as exc:
        LOG.error("termination hook rejected the event", error=type(exc).__name__, detail=str(exc))
        raise
