"""Exceptions of ``besu_stack.besu``.

The library raises plain :class:`ValueError` (with a message naming what was wrong and what is
allowed) for malformed input. Command-line front ends convert those into :class:`UserInputError`,
which the main CLI reports as a one-line message on stderr with exit code 2.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Input given on the command line or in an input file is unusable.

    The message is a single line meant for the operator. It never contains secret material such
    as a private key.
    """

    exit_code = 2
    """Process exit code the main CLI uses for this error."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind: hex text where raw bytes are expected, or the reverse.

    A :class:`TypeError` by nature and a :class:`ValueError` for callers that, like the CLI,
    treat every malformed input alike. The message names the argument, what it must be and
    what was given (its type only: the value may be a private key).
    """


def require_bytes(value: object, argument: str, hint: str = "") -> bytes:
    """Return ``value`` as :class:`bytes` if it is bytes-like, else raise :class:`ArgumentTypeError`.

    ``hint`` says what to use instead for text input (for instance a parsing function).
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    extra = f"; {hint}" if hint else ""
    raise ArgumentTypeError(f"{argument} must be raw bytes, got {type(value).__name__}{extra}")


def require_text(value: object, argument: str, what: str = "a string", hint: str = "") -> str:
    """Return ``value`` if it is a :class:`str`, else raise :class:`ArgumentTypeError`.

    ``what`` describes the text expected (``"hex text"``); ``hint`` what to do instead.
    """
    if isinstance(value, str):
        return value
    extra = f"; {hint}" if hint else ""
    raise ArgumentTypeError(f"{argument} must be {what}, got {type(value).__name__}{extra}")
