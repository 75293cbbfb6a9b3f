"""The BFT consensus protocols Besu offers, named as in the genesis ``config`` section.

Its own module, free of curve, hash and RLP code, so that a function that only needs the names
(the health checker) imports nothing heavy.
"""

from __future__ import annotations

from typing import Literal, get_args

Protocol = Literal["ibft2", "qbft"]
"""A Besu BFT consensus protocol, named as in the genesis ``config`` section."""

PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)


def check_protocol(protocol: str) -> Protocol:
    """Return ``protocol`` if it is ``ibft2`` or ``qbft``, else raise :class:`ValueError`."""
    for known in PROTOCOLS:
        if protocol == known:
            return known
    raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
