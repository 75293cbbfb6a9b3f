"""AWS error codes, and the one botocore session and client configuration of every function.

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

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


SERVICE_MODELS_DIR = "botocore_models"
"""The directory, at the root of a deployment package, of its trimmed botocore service models
(``<service>/<api-version>/service-2.json``, made by :mod:`besu_stack.service_models` when the
package is built): only the operations the package calls, so building a client parses kilobytes
instead of EC2's megabytes and creates a handful of methods instead of hundreds."""

SERVICE_MODELS_MIN_BOTOCORE = (1, 38, 31)
"""The oldest botocore the trimmed models are used with: from botocore 1.38.31 on, a runtime
speaks the protocol the pinned botocore speaks for each of them, as tested against moto
(``tests/lambdas/test_runtime_botocore_floor.py`` runs the functions on exactly this version).
The models are cut from the pinned botocore, where CloudWatch's lists ``smithy-rpc-v2-cbor``,
``json`` and ``query``; botocore reads CBOR from 1.37.2 (boto/botocore#3407) and from 1.38.31
prefers ``json`` to it and parses with the protocol it chose (boto/botocore#3473, "Protocol
selection bugfix"; both first in the tags named). A runtime whose botocore is older builds its
clients from its own full models: slower to start, the same behaviour. (The python3.12 runtime
shipped botocore 1.38.36 in August 2025, per aio-libs/aioboto3#381; AWS lists the current one
under "Runtime-included SDK versions" in https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html.)"""


def service_models_dir() -> Path | None:
    """The deployment package's trimmed models, or ``None`` (a checkout, or none shipped)."""
    candidate = Path(__file__).resolve().parents[2] / SERVICE_MODELS_DIR
    return candidate if candidate.is_dir() else None


def botocore_version(text: str) -> tuple[int, ...]:
    """``"1.38.36"`` as ``(1, 38, 36)`` (a suffix such as ``.dev0`` is ignored)."""
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def package_loader(models: Path, search_paths: list[str]) -> Any:
    """A botocore ``Loader`` that searches ``models`` first, then ``search_paths``.

    botocore's ``Loader`` takes the first file of a name found along its search paths (botocore
    ``loaders.py``, ``load_data_with_path``), so the package's trimmed ``service-2`` models and
    ``endpoints.json`` win; endpoint rules, paginators, retry rules and the rest come from the
    runtime's botocore. Two methods differ from botocore's:

    * ``list_available_services``: before loading any model, ``Loader.load_service_model``
      lists every service of every search path only to reject an unknown name; over the
      400-odd services of botocore's data that is a directory listing and a few file checks
      each, for each kind of model (10-20 ms per kind on this project's machine). It knows the
      services instead: those the package carries models for, the only ones its functions
      build clients of (a client of any other service is refused as unknown).
    * ``is_builtin_path``: botocore treats an ``endpoints.json`` found outside its own data as
      a user's custom endpoint data and then hands the legacy endpoint to the endpoint rules as
      if configured (botocore ``args.py``, ``compute_endpoint_resolver_builtin_defaults``).
      The package's file is botocore's own data cut to the package's services
      (:func:`besu_stack.service_models.trimmed_endpoints`), so it counts as botocore's.
    """
    from botocore.loaders import Loader

    services = sorted(entry.name for entry in models.iterdir() if entry.is_dir())
    endpoints = str(models / "endpoints")

    class PackageLoader(Loader):  # type: ignore[misc]  # botocore ships no type information
        """botocore's ``Loader`` over the package's trimmed data first."""

        def list_available_services(self, type_name: str) -> list[str]:
            return services

        def is_builtin_path(self, path: str) -> bool:
            return path == endpoints or bool(super().is_builtin_path(path))

    return PackageLoader(
        extra_search_paths=[str(models), *search_paths], include_default_search_paths=False
    )


@functools.cache
def botocore_session() -> Any:
    """The one botocore session of this process, shared by every client the function builds.

    When the package carries trimmed models (:func:`service_models_dir`) and the runtime's
    botocore can read them (:data:`SERVICE_MODELS_MIN_BOTOCORE`), its data loader is a
    :func:`package_loader` in front of the default one's search paths (``AWS_DATA_PATH``,
    ``~/.aws/models``, botocore's data). Region, credentials and ``AWS_ENDPOINT_URL`` come from
    the environment as they do for boto3.
    """
    import botocore
    import botocore.session

    session = botocore.session.get_session()
    models = service_models_dir()
    if models is not None and botocore_version(botocore.__version__) >= (
        SERVICE_MODELS_MIN_BOTOCORE
    ):
        default = session.get_component("data_loader")
        session.register_component("data_loader", package_loader(models, default.search_paths))
    return session


ClientFactory = Callable[[str], Any]
"""Builds the client of one AWS service (by its boto3/botocore name)."""


def aws_client(service: str, **overrides: Any) -> Any:
    """A client of ``service`` with :func:`client_config` (region/endpoint from the env).

    Built on :func:`botocore_session`: the botocore client ``boto3.client`` returns too (boto3
    adds only S3 transfer helpers, which no function uses), without importing boto3. Every
    function builds its clients through this factory: the reachability test derives the
    services each function calls from the ``aws_client("<service>")`` calls in its package.
    """
    return botocore_session().create_client(service, config=client_config(**overrides))


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
