"""Errors of the health checker."""

from __future__ import annotations


class HealthCheckError(Exception):
    """Base class: the run cannot proceed."""


class ConfigError(HealthCheckError):
    """The function's environment is incomplete or invalid."""


class RemediationError(HealthCheckError):
    """A restart or replacement could not be carried out (the node is left as it was)."""
