"""Errors of the key generation function.

Messages name the slot, the secret or the setting concerned and what to do; none ever contains
a private key or a secret value.
"""

from __future__ import annotations


class KeygenError(Exception):
    """Base class: the invocation cannot proceed safely."""


class ConfigError(KeygenError):
    """The function's environment is incomplete or invalid."""


class InvalidEventError(KeygenError):
    """The invocation event is not ``{"validator_count": <n>}``."""


class CorruptSecretError(KeygenError):
    """A slot's secret holds a value that is not a Besu node key."""


class SecretUnavailableError(KeygenError):
    """A slot's secret cannot be used (scheduled for deletion, or missing on a live network)."""


class DuplicateKeyError(KeygenError):
    """Two slots hold the same node key."""


class RegistryMismatchError(KeygenError):
    """A registry item records an address that is not the address of the slot's key."""


class LiveNetworkError(KeygenError):
    """The request would change the validator set of a network whose genesis exists."""


class CorruptGenesisError(KeygenError):
    """The existing ``genesis.json`` cannot be read."""
