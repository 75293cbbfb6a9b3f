"""Fault tolerance and quorum arithmetic of Besu's BFT protocols (IBFT 2.0 and QBFT)."""

from __future__ import annotations


def _require_validator_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"validator count must be a whole number >= 1, got {n!r}")
    return n


def max_faulty(n: int) -> int:
    """Return f, the number of faulty validators a network of ``n`` validators tolerates.

    BFT consensus with ``n = 3f + 1`` validators tolerates ``f`` Byzantine ones, so
    ``f = floor((n - 1) / 3)``: 4 validators tolerate 1, 7 tolerate 2, 1 to 3 tolerate none.
    """
    return (_require_validator_count(n) - 1) // 3


def quorum(n: int) -> int:
    """Return how many validators must agree (prepare/commit) for a block with ``n`` validators.

    Mirrors Besu's ``BftHelpers.calculateRequiredValidatorQuorum``:
    ``Util.fastDivCeiling(2 * validatorCount, 3)``, that is ``ceil(2n / 3)``.
    """
    count = _require_validator_count(n)
    return -(-2 * count // 3)
