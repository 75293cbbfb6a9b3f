"""Moved to :mod:`besu_stack.constructs.fleet.host_bootstrap` (next to the task it prepares for).

Kept as an alias for code written against the old path; new code imports the new one.
"""

from besu_stack.constructs.fleet.host_bootstrap import BESU_UID, host_bootstrap_script

__all__ = ["BESU_UID", "host_bootstrap_script"]
