"""AWS error codes and the one boto3 client configuration of every function.

botocore's defaults are a 60 s connect timeout, a 60 s read timeout and the ``legacy`` retry
mode with 5 attempts (botocore ``Config`` reference,
https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html, and the boto3
retry guide, https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html): one
call to an unreachable endpoint can then cost five minutes, longer than the function. Every
client here has short timeouts and the ``standard`` retry mode with a fixed number of attempts,
so :func:`worst_case_call_seconds` bounds what one call can cost and each handler's time budget
can be computed (``tests/lambdas/test_time_budgets.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONNECT_TIMEOUT_SECONDS = 1.0
"""Opening a TCP connection to a regional AWS endpoint (or a VPC endpoint) takes milliseconds;
a connection that does not open in a second is retried."""
READ_TIMEOUT_SECONDS = 3.0
"""The control-plane calls these functions make (single-item DynamoDB writes, describes, tag,
attach, record set UPSERT, metric puts) answer in well under a second; a read timeout is
retried by the standard mode."""
MAX_ATTEMPTS = 3
"""Total attempts per call (``total_max_attempts``: the first try and two retries)."""
RETRY_MODE = "standard"

# botocore/retries/standard.py (botocore 1.44.8, the pinned boto3's): the delay before retry i
# (1-based) is rand(0, 1) * min(scale * 2 ** (i - 1), 20) seconds, scale 1 s for throttling,
# raised to at most 5 s more by an ``x-amz-retry-after`` header.
_MAX_BACKOFF_SECONDS = 20.0
_RETRY_AFTER_EXTRA_SECONDS = 5.0


def client_config(**overrides: Any) -> Any:
    """The botocore ``Config`` every function's clients use (timeouts, standard retries).

    ``overrides`` replace or add ``Config`` arguments (e.g. a function that must fit a short
    timeout passes ``retries`` with fewer attempts; see :func:`worst_case_call_seconds`).
    """
    from botocore.config import Config

    settings: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "retries": {"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS},
    }
    settings.update(overrides)
    return Config(**settings)


ClientFactory = Callable[[str], Any]
"""Builds the boto3 client of one AWS service (by its boto3 name)."""


def aws_client(service: str, **overrides: Any) -> Any:
    """A boto3 client of ``service`` with :func:`client_config` (region/endpoint from the env).

    Every function builds its clients through this factory: the reachability test derives the
    services each function calls from the ``aws_client("<service>")`` calls in its package.
    """
    import boto3

    return boto3.client(service, config=client_config(**overrides))


def worst_case_call_seconds(max_attempts: int = MAX_ATTEMPTS) -> float:
    """The longest one API call can take: every attempt times out, every backoff is maximal.

    ``max_attempts`` is the ``total_max_attempts`` of the client (default: :data:`MAX_ATTEMPTS`).
    """
    per_attempt = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
    backoffs = sum(
        min(2.0 ** (retry - 1), _MAX_BACKOFF_SECONDS) + _RETRY_AFTER_EXTRA_SECONDS
        for retry in range(1, max_attempts)
    )
    return max_attempts * per_attempt + backoffs


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)


def is_throttling(exc: BaseException) -> bool:
    """``True`` for an AWS throttling error (the call may succeed later)."""
    return error_code(exc) in THROTTLING_CODES


def remaining_seconds(context: Any, default: float) -> float:
    """An invocation's remaining time (from the Lambda context), less a second to return.

    ``default`` is used when there is no Lambda context (a direct call, a test).
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return default
    return max(0.0, float(remaining()) / 1000.0 - 1.0)


class OutOfTimeError(Exception):
    """Not enough of the invocation's time is left for the next step and the undo after it."""


@dataclass
class Budget:
    """What remains of one invocation's time, and a reserve kept for undo and completion.

    ``require(step_seconds)`` raises :class:`OutOfTimeError` unless the step's worst case plus
    the reserve still fits: a handler that checks before every step is never killed by the
    Lambda timeout before its undo and ``ABANDON`` have run.
    """

    deadline: float
    reserve_seconds: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def starting_now(
        cls,
        seconds: float,
        reserve_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Budget:
        """A budget of ``seconds`` from now."""
        return cls(clock() + seconds, reserve_seconds, clock)

    @classmethod
    def unlimited(cls) -> Budget:
        """No deadline (tests and callers without a Lambda context)."""
        return cls(float("inf"), 0.0)

    def remaining(self) -> float:
        """Seconds left until the deadline."""
        return self.deadline - self.clock()

    def require(self, step_seconds: float, step: str) -> None:
        """Raise :class:`OutOfTimeError` unless ``step_seconds`` plus the reserve remain."""
        left = self.remaining()
        if left < step_seconds + self.reserve_seconds:
            raise OutOfTimeError(
                f"{left:.0f}s left: not enough for {step} ({step_seconds:.0f}s worst case) "
                f"and the undo after it ({self.reserve_seconds:.0f}s)"
            )

    def spare(self) -> float:
        """Seconds that may be spent waiting without touching the reserve."""
        return max(0.0, self.remaining() - self.reserve_seconds)


class CallGuard:
    """Checks an invocation's :class:`Budget` before every AWS call of the clients it wraps.

    Built once per cold start and shared by the clients; a handler sets :attr:`budget` for the
    part of its run that must stop in time for the undo (and sets it back to ``None`` for the
    undo itself, which the reserve pays for).
    """

    def __init__(self, call_seconds: float | None = None) -> None:
        self.budget: Budget | None = None
        self.calls = 0
        self.call_seconds = worst_case_call_seconds() if call_seconds is None else call_seconds
        """What one call of the wrapped clients can cost (their :func:`worst_case_call_seconds`)."""

    def before_call(self, operation: str) -> None:
        """Count the call; raise :class:`OutOfTimeError` if the budget cannot pay for it."""
        self.calls += 1
        if self.budget is not None:
            self.budget.require(self.call_seconds, operation)

    def wrap(self, client: Any) -> Any:
        """``client`` with every operation checked by this guard."""
        return _GuardedClient(client, self)


_UNGUARDED = frozenset({"meta", "exceptions", "get_paginator", "can_paginate", "get_waiter"})


class _GuardedClient:
    """A boto3 client whose operations call :meth:`CallGuard.before_call` first."""

    def __init__(self, client: Any, guard: CallGuard) -> None:
        self._client = client
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or name in _UNGUARDED or not callable(attribute):
            if name == "get_paginator":
                self._guard.before_call(name)
            return attribute
        guard = self._guard

        def operation(*args: Any, **kwargs: Any) -> Any:
            guard.before_call(name)
            return attribute(*args, **kwargs)

        return operation
