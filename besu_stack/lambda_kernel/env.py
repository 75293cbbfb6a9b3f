"""Reading a Lambda function's environment: one rule for every function.

* A *required* variable that is missing, empty or only blanks is an error naming it.
* An *optional* variable that is missing, empty or only blanks is unset: it takes its default.
  (Terraform passes ``""`` for an unset optional input, so "empty" and "unset" must agree.)
* A value that is set but invalid is an error naming the variable, the value and what is
  allowed; it is never ignored.

Each function passes its own error class (a subclass of its base error), so callers keep
catching the errors they know.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

_DOMAIN_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+")


class EnvReader:
    """Typed access to one environment; every failure raises ``error`` naming the variable."""

    def __init__(self, env: Mapping[str, str], error: type[Exception]) -> None:
        self._env = env
        self._error = error

    def fail(self, message: str) -> Exception:
        """An error of the function's configuration error class."""
        return self._error(message)

    def optional(self, name: str) -> str | None:
        """The stripped value, or ``None`` when the variable is missing or blank."""
        value = self._env.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        """The stripped value; an error when missing or blank."""
        value = self.optional(name)
        if value is None:
            raise self.fail(f"environment variable {name} is required and is missing or empty")
        return value

    def text(self, name: str, default: str) -> str:
        """An optional text with a default."""
        value = self.optional(name)
        return default if value is None else value

    def _whole(self, name: str, text: str, low: int, high: int) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise self.fail(f"{name} must be a whole number from {low} to {high}, got {text!r}")
        return int(text)

    def whole(self, name: str, low: int, high: int, default: int | None = None) -> int:
        """A whole number in ``[low, high]``; required when ``default`` is ``None``."""
        value = self.optional_whole(name, low, high)
        if value is not None:
            return value
        if default is None:
            raise self.fail(f"environment variable {name} is required and is missing or empty")
        return default

    def optional_whole(self, name: str, low: int, high: int) -> int | None:
        """A whole number in ``[low, high]``, or ``None`` when unset."""
        text = self.optional(name)
        return None if text is None else self._whole(name, text, low, high)

    def _number(self, name: str, text: str, low: float, high: float) -> float:
        try:
            value = float(text)
        except ValueError as exc:
            raise self.fail(f"{name} must be a number, got {text!r}") from exc
        if not math.isfinite(value) or not low <= value <= high:
            raise self.fail(f"{name} must be from {low:g} to {high:g}, got {text!r}")
        return value

    def number(self, name: str, low: float, high: float, default: float | None = None) -> float:
        """A number in ``[low, high]``; required when ``default`` is ``None``."""
        value = self.optional_number(name, low, high)
        if value is not None:
            return value
        if default is None:
            raise self.fail(f"environment variable {name} is required and is missing or empty")
        return default

    def optional_number(self, name: str, low: float, high: float) -> float | None:
        """A number in ``[low, high]``, or ``None`` when unset."""
        text = self.optional(name)
        return None if text is None else self._number(name, text, low, high)

    def boolean(self, name: str, default: bool) -> bool:
        """``true`` or ``false`` (any case); the default when unset."""
        text = self.optional(name)
        if text is None:
            return default
        if text.lower() not in ("true", "false"):
            raise self.fail(f"{name} must be true or false, got {text!r}")
        return text.lower() == "true"

    def domain(self, name: str) -> str:
        """A required DNS domain, lower-cased, without a trailing dot."""
        value = self.required(name).rstrip(".").lower()
        if not _DOMAIN_RE.fullmatch(value):
            raise self.fail(f"{name} is not a DNS domain: {value!r}")
        return value
