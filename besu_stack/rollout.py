"""How many validators a rolling change may stop at once, and the settings that enforce it.

A BFT network of n validators keeps producing blocks while at most f = floor((n-1)/3) of them
are down. A rolling change (ECS deployment, Auto Scaling instance refresh) must therefore never
stop more than f validators at once. One task runs per instance on the host network, so a
replacement task cannot start before the old one stops: the maximum percent is 100 and the
minimum healthy percent alone decides how many stop together.

ECS rounds the minimum *up* (``ceil(n * min% / 100)`` tasks stay running) and Auto Scaling's
instance refresh does the same with its minimum healthy percentage, so the percentage is
``floor(100 * (n - f) / n)``: the largest value that still lets exactly f stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from besu_stack.besu.bft import max_faulty, quorum


@dataclass(frozen=True)
class RolloutPolicy:
    """The rolling-change limits for a network of ``validator_count`` validators."""

    validator_count: int
    max_unavailable: int
    """Validators a change may stop at once: f, or 1 for a single-validator network."""
    minimum_healthy_percent: int
    """ECS ``deployment_minimum_healthy_percent`` and the instance refresh's minimum healthy."""
    maximum_percent: int = 100
    """ECS ``deployment_maximum_percent``: never above 100 with one task per instance."""
    halts_during_changes: bool = False
    """True for a single validator: any change stops the only node (a development network)."""

    def running_during_change(self) -> int:
        """Validators that keep running while a change is rolled (as ECS and ASG round)."""
        return math.ceil(self.validator_count * self.minimum_healthy_percent / 100)


def rollout_policy(validator_count: int) -> RolloutPolicy:
    """The policy for n validators; raises ValueError for shapes that cannot roll safely.

    n = 1 is allowed as a development network that halts while its node is replaced. n = 2 and
    n = 3 tolerate no failure yet need every validator for a quorum, so any change halts them
    while offering nothing over n = 1: they are refused.
    """
    n = validator_count
    f = max_faulty(n)
    if n == 1:
        return RolloutPolicy(
            n, max_unavailable=1, minimum_healthy_percent=0, halts_during_changes=True
        )
    if f == 0:
        raise ValueError(
            f"{n} validators tolerate no failure (f = 0, quorum {quorum(n)} of {n}), so every "
            "rolling change or node replacement would halt the chain; use 1 (development) or 4 "
            "or more validators"
        )
    percent = (100 * (n - f)) // n
    return RolloutPolicy(n, max_unavailable=f, minimum_healthy_percent=percent)


def tolerates_zone_loss(validator_count: int, zone_count: int) -> bool:
    """Whether losing the fullest availability zone keeps a quorum, with validators spread evenly.

    The fullest of ``zone_count`` zones holds ceil(n / zones) validators, which must be at most f.
    Three zones are never enough for BFT (a third of the validators is always more than f); four
    zones are enough for n = 4, 7, 8, 10...
    """
    return math.ceil(validator_count / zone_count) <= max_faulty(validator_count)
