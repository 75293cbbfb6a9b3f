"""Moved to :mod:`besu_stack.constructs.fleet.node_entrypoint` (next to the task that ships it).

Kept as an alias for code written against the old path; new code imports the new one.
"""

from besu_stack.constructs.fleet.node_entrypoint import (
    NODE_ENV_FILE,
    NODE_ENV_VARIABLES,
    REFUSAL_EXIT_CODE,
    REFUSAL_MARKER,
    container_command,
    container_entry_point,
    entrypoint_script,
)

__all__ = [
    "NODE_ENV_FILE",
    "NODE_ENV_VARIABLES",
    "REFUSAL_EXIT_CODE",
    "REFUSAL_MARKER",
    "container_command",
    "container_entry_point",
    "entrypoint_script",
]
