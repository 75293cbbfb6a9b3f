"""Reading ``terraform show -json`` plans: planned resources with their evaluated values."""

from __future__ import annotations

import json
from typing import Any

Plan = dict[str, Any]


def planned(plan: Plan, kind: str) -> list[dict[str, Any]]:
    """Planned resources of one type (every module), with their evaluated values."""
    found: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        found.extend(r for r in module.get("resources", []) if r["type"] == kind)
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan["planned_values"]["root_module"])
    return found


def only(plan: Plan, kind: str) -> dict[str, Any]:
    """The evaluated values of the one planned resource of ``kind``."""
    (resource,) = planned(plan, kind)
    return dict(resource["values"])


def assert_fully_evaluated(values: object, where: str) -> None:
    """Fail if ``values`` still hold a Terraform expression (``${...}``)."""
    assert "${" not in json.dumps(values), f"{where} still holds an unevaluated expression"
