"""Errors of the lifecycle functions.

Messages name the slot, instance, volume or setting concerned; none contains key material (these
functions never read a secret value).
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Base class: the operation cannot proceed safely."""


class ConfigError(LifecycleError):
    """The function's environment is incomplete or invalid."""


class InvalidEventError(LifecycleError):
    """The event is not the EventBridge lifecycle action (or schedule) this function expects."""


class InstanceGoneError(LifecycleError):
    """The instance of a launch hook no longer exists or is not pending/running."""


class NoSlotAvailableError(LifecycleError):
    """Every validator slot is owned by another instance (or retired)."""


class ConcurrentUpdateError(LifecycleError):
    """A registry item changed under this invocation (its version moved on)."""


class VolumeBusyError(LifecycleError):
    """A slot's data volume is attached to another instance or does not become available."""


class DuplicateDeliveryError(LifecycleError):
    """A concurrent delivery of the same launch event owns the instance's slot."""


class SlotBeingReleasedError(LifecycleError):
    """No slot is free yet, but a terminating owner is releasing one: retry, do not abandon."""


class KeyHeldElsewhereError(LifecycleError):
    """The slot's secret policy still opens the key to another instance that is not gone.

    The secret's policy is written only by the launch hook, so it is an owner record the
    registry's other writers cannot forge: a registry saying the slot is free while a live
    instance can read its key is not trusted (two nodes would sign as one validator).
    """


class ForeignVolumeError(LifecycleError):
    """The registry names a data volume that is not tagged for the slot and network."""
