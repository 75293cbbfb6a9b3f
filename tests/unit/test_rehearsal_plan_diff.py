"""Reading a second plan: which attributes differ, and whether moto's gaps explain them."""

from __future__ import annotations

from typing import Any

from besu_stack.rehearsal.rehearse import planned_changes


def _plan(kind: str, before: dict[str, Any], after: dict[str, Any], **kw: Any) -> dict[str, Any]:
    change = {"actions": kw.get("actions", ["update"]), "before": before, "after": after}
    change["after_unknown"] = kw.get("unknown", {})
    return {"resource_changes": [{"address": f"{kind}.x", "type": kind, "change": change}]}


def test_a_known_moto_gap_is_explained() -> None:
    (change,) = planned_changes(
        _plan("aws_kms_key", {"rotation_period_in_days": 0}, {"rotation_period_in_days": 365})
    )
    assert change.attributes == ("rotation_period_in_days",) and change.explained


def test_any_other_attribute_is_not() -> None:
    (change,) = planned_changes(_plan("aws_kms_key", {"policy": "a"}, {"policy": "b"}))
    assert change.attributes == ("policy",) and not change.explained


def test_empty_forms_nested_or_not_are_the_same_value() -> None:
    before = {"spec": [{"preference": None, "target": []}], "tags": None}
    after = {"spec": [{"preference": "", "target": []}], "tags": {}}
    assert planned_changes(_plan("aws_autoscaling_group", before, after))[0].attributes == ()


def test_no_op_and_reads_are_not_changes() -> None:
    assert planned_changes(_plan("aws_kms_key", {}, {}, actions=["no-op"])) == []
    assert planned_changes(_plan("aws_region", {}, {}, actions=["read"])) == []


def test_identifiers_turning_unknown_follow_the_forcing_attribute() -> None:
    (change,) = planned_changes(
        _plan(
            "aws_ecs_service",
            {"id": "s", "capacity_provider_strategy": []},
            {"capacity_provider_strategy": [{"weight": 1}]},
            actions=["delete", "create"],
            unknown={"id": True},
        )
    )
    assert change.attributes == ("capacity_provider_strategy",) and change.explained
