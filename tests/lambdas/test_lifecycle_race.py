"""50 instances race for 4 slots: each slot is claimed at most once; losers abandon cleanly."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambda_src.lifecycle.errors import NoSlotAvailableError
from lambda_src.lifecycle.launch import claim_slot
from lambda_src.lifecycle.registry import Registry

from .conftest import REGION
from .lifecycle_fixtures import AZS, TABLE, World, world

pytestmark = pytest.mark.moto
__all__ = ["world"]

RACERS = 50


class AtomicConditionalWrites:
    """A DynamoDB client whose ``update_item`` calls reach the server one at a time.

    DynamoDB evaluates a condition and applies the write atomically per item; the moto server
    evaluates them in request threads without a lock, so two racing writes can both pass the
    same check there. Serializing only the write call restores DynamoDB's guarantee; scans and
    the claim logic still run concurrently and still read stale state.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def update_item(self, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_fifty_instances_race_for_four_slots(world: World) -> None:
    w = world
    client = boto3.client(
        "dynamodb", region_name=REGION, config=Config(max_pool_connections=RACERS)
    )
    registry = Registry(AtomicConditionalWrites(client), TABLE)
    instance_ids = [f"i-{n:017x}" for n in range(1, RACERS + 1)]
    start = threading.Barrier(RACERS)
    conflicts = 0
    original_claim = registry.claim

    def counting_claim(*args: Any, **kwargs: Any) -> Any:
        nonlocal conflicts
        result = original_claim(*args, **kwargs)
        if result is None:
            conflicts += 1
        return result

    registry.claim = counting_claim  # type: ignore[method-assign]

    def race(index: int) -> tuple[str, int | None]:
        instance_id = instance_ids[index]
        start.wait()
        try:
            record, claimed_now = claim_slot(
                registry, instance_id, AZS[index % 3], 2_000_000_000, 1_000
            )
        except NoSlotAvailableError:
            return instance_id, None
        assert claimed_now
        return instance_id, record.slot

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(race, range(RACERS)))

    won = sorted(slot for _, slot in results if slot is not None)
    assert won == [0, 1, 2, 3], "every slot claimed exactly once"
    assert conflicts > 0, "the racers did contend"
    winners = {slot: iid for iid, slot in results if slot is not None}
    records = w.records()
    for record in records:
        assert record.status == "in_use"
        assert record.owner_instance_id == winners[record.slot]
        assert record.version == 2
    losers = {iid for iid, slot in results if slot is None}
    assert len(losers) == RACERS - 4
    assert not {r.owner_instance_id for r in records} & losers
