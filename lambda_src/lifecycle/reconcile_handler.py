"""Lambda entry point of the reconciler: ``lifecycle.reconcile_handler.handler``.

Target of an EventBridge schedule (for instance ``rate(5 minutes)``); the scheduled event's
``account`` and ``region`` build the instance ARNs named in secret policies.
"""

from __future__ import annotations

import os
from typing import Any

from besu_stack.lambda_kernel.aws import Budget, remaining_seconds, worst_case_call_seconds
from besu_stack.lambda_log import JsonLogger

from .errors import InvalidEventError
from .reconcile import reconcile
from .runtime import load

LOG = JsonLogger("lifecycle.reconcile")
STORES_CALLED = ("registry", "ec2", "secrets", "metrics")
"""The stores :func:`reconcile` calls (a test derives them from the code): only their clients
are built at cold start."""
CONFIG, STORES = load(STORES_CALLED)


def handler(event: object, context: Any) -> dict[str, Any]:
    """Release slots of vanished owners and report stuck slots."""
    if not isinstance(event, dict):
        raise InvalidEventError("the event must be an EventBridge scheduled event")
    account = event.get("account")
    region = event.get("region") or os.environ.get("AWS_REGION")
    if not isinstance(account, str) or not isinstance(region, str):
        raise InvalidEventError("the scheduled event has no account or region")
    partition = "aws"
    resources = event.get("resources")
    if isinstance(resources, list) and resources and isinstance(resources[0], str):
        partition = resources[0].split(":")[1] if resources[0].startswith("arn:") else partition
    budget = Budget.starting_now(
        remaining_seconds(context, CONFIG.function_timeout_seconds), worst_case_call_seconds()
    )
    return reconcile(
        CONFIG,
        STORES,
        LOG,
        account=account,
        region=region,
        partition=partition,
        budget=budget,
    )
