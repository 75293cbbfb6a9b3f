"""Rolling changes never stop more than f validators: the arithmetic, for every network size."""

from __future__ import annotations

import math

import pytest

from besu_stack.besu.bft import max_faulty, quorum
from besu_stack.rollout import rollout_policy, tolerates_zone_loss
from besu_stack.settings import MAX_VALIDATORS


@pytest.mark.parametrize(
    ("n", "stopped_at_once", "min_percent"),
    [(1, 1, 0), (4, 1, 75), (5, 1, 80), (7, 2, 71), (10, 3, 70)],
)
def test_policy_for_the_sizes_named_in_the_issue(
    n: int, stopped_at_once: int, min_percent: int
) -> None:
    policy = rollout_policy(n)
    assert policy.max_unavailable == stopped_at_once
    assert policy.minimum_healthy_percent == min_percent
    assert policy.maximum_percent == 100


@pytest.mark.parametrize("n", [n for n in range(4, MAX_VALIDATORS + 1)])
def test_ecs_rounding_keeps_exactly_n_minus_f_running(n: int) -> None:
    """ECS keeps ceil(n * min% / 100) tasks: never fewer than n - f (quorum holds), and no more
    than necessary (the change still moves f at a time)."""
    policy = rollout_policy(n)
    running = math.ceil(n * policy.minimum_healthy_percent / 100)
    assert running == n - max_faulty(n) == policy.running_during_change()
    assert running >= quorum(n)


def test_single_validator_is_a_development_network_that_halts_while_changed() -> None:
    policy = rollout_policy(1)
    assert policy.halts_during_changes and policy.minimum_healthy_percent == 0


@pytest.mark.parametrize("n", [2, 3])
def test_two_or_three_validators_are_refused(n: int) -> None:
    with pytest.raises(ValueError, match="tolerate no failure"):
        rollout_policy(n)


@pytest.mark.parametrize(
    ("n", "zones", "survives"),
    [
        (4, 3, False),
        (4, 4, True),
        (7, 3, False),
        (7, 4, True),
        (10, 4, True),
        (5, 4, False),
        (10, 3, False),
    ],
)
def test_zone_loss_needs_more_than_three_zones(n: int, zones: int, survives: bool) -> None:
    assert tolerates_zone_loss(n, zones) is survives
