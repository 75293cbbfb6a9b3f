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
