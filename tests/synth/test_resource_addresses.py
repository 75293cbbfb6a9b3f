"""Resource addresses are API: a changed construct id destroys and recreates the resource.

``tests/data/resource_addresses.json`` holds every resource and data-source address of two
shapes, recorded before the fleet construct became a package (issue 11). A refactoring must
keep them; a deliberate change updates the file in the same commit and says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from besu_stack.settings import Settings
from tests.conftest import StackJson

pytestmark = pytest.mark.synth

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "resource_addresses.json").read_text()
)
SHAPES = {"4-ibft2": Settings(), "7-qbft": Settings(validator_count=7, consensus="qbft")}


def _addresses(stack: StackJson) -> list[str]:
    found = [f"{t}.{n}" for t, group in stack.get("resource", {}).items() for n in group]
    found += [f"data.{t}.{n}" for t, group in stack.get("data", {}).items() for n in group]
    return sorted(found)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_resource_addresses_are_unchanged(
    shape: str, default_stack: StackJson, synth_settings: Callable[[Settings], StackJson]
) -> None:
    settings = SHAPES[shape]
    stack = default_stack if settings == Settings() else synth_settings(settings)
    assert _addresses(stack) == RECORDED[shape]
