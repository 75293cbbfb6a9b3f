"""Names of AWS resources, all derived from the network name so networks coexist."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Naming:
    """Builds AWS resource names as ``<network_name>-<purpose>``.

    Two networks with different names never collide in one account and region.
    """

    network_name: str

    def name(self, *parts: str) -> str:
        """``<network_name>-<part>-<part>...``; raises if the result is not a valid name part."""
        for part in parts:
            if not part or part != part.lower() or " " in part:
                raise ValueError(f"name part {part!r} must be non-empty lowercase without spaces")
        return "-".join((self.network_name, *parts))
