"""Errors the CLI turns into one line and exit code 2."""

from __future__ import annotations


class MissingSetupError(FileNotFoundError):
    """A setup step has not run (e.g. the Lambda wheels are not downloaded)."""
