"""The default network planned, applied, drilled and destroyed by Terraform in moto.

One ``besu-stack rehearse`` run (:class:`Rehearsal`, exactly what ``make rehearse`` runs) is
shared by the tests of the session (fixture ``rehearsed``); an observer snapshots the emulated account after each
phase. The phases themselves already fail on a broken network (keys, lifecycle drill, second
plan, destroy); the tests below check what the issue names on top of that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from besu_stack.rehearsal.rehearse import (
    EXPECTED_LEFTOVERS,
    MOTO_ROUND_TRIP_GAPS,
    Rehearsal,
    RehearsalReport,
)
from tests.terraform.conftest import Snapshots

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]


def test_the_whole_network_is_applied(rehearsed: tuple[RehearsalReport, Snapshots]) -> None:
    report, _ = rehearsed
    assert report.resources_created == report.resources_planned > 150


def test_the_key_lambda_generated_distinct_keys_that_genesis_and_outputs_list(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, snapshots = rehearsed
    assert len(report.keys) == 4 == len(set(report.keys.values()))
    assert all(k.startswith("0x") and len(k) == 66 for k in snapshots.private_keys)


def test_no_private_key_is_in_the_state_or_the_apply_output(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    _, snapshots = rehearsed
    assert snapshots.state_text and snapshots.apply_output
    invocation_logs = "".join(i["logs"] + i["result"] for i in snapshots.invocations)
    for key in snapshots.private_keys:
        for form in (key, key.removeprefix("0x"), key.removeprefix("0x").upper()):
            assert form not in snapshots.state_text
            assert form not in snapshots.apply_output
            assert form not in invocation_logs


def test_a_second_plan_changes_nothing_of_ours(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, snapshots = rehearsed
    assert all(change.explained for change in report.second_plan)
    untouched = {
        c["type"]
        for c in snapshots.second_plan["resource_changes"]
        if c["change"]["actions"] == ["no-op"]
    }
    # The key invocation, the secrets and the genesis bucket are not touched again.
    assert {"aws_lambda_invocation", "aws_secretsmanager_secret", "aws_s3_bucket"} <= untouched
    for change in report.second_plan:
        assert change.type in MOTO_ROUND_TRIP_GAPS


def test_running_the_key_lambda_again_generates_no_key_and_rewrites_no_genesis(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    _, snapshots = rehearsed
    again = snapshots.after_second_invocation
    assert again["error"] is None
    assert again["secret_versions"] == snapshots.secret_versions
    assert again["genesis_version"] == snapshots.genesis_version


def test_the_lifecycle_drill_claimed_every_slot_and_replaced_one(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, _ = rehearsed
    drill = report.drill
    assert drill is not None
    assert sorted(drill.slots) == [0, 1, 2, 3]
    assert drill.replaced_slot == 0 and drill.replacement_instance != drill.replaced_instance
    results = {
        (a["InstanceId"], a["LifecycleActionResult"])
        for a in drill.completed_actions
        if a["Action"] == "CompleteLifecycleAction"
    }
    assert (drill.replaced_instance, "CONTINUE") in results
    assert (drill.replacement_instance, "CONTINUE") in results


def test_destroy_leaves_exactly_what_the_readme_says(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, _ = rehearsed
    assert set(report.leftovers) == EXPECTED_LEFTOVERS
    assert all("scheduled for deletion" in s for s in report.leftovers["secretsmanager:secret"])
    assert all("PendingDeletion" in k for k in report.leftovers["kms:key"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Destroying safely") :]
    section = section[: section.index("\n## ", 5)]
    for words in ("Data volumes and snapshots", "KMS key", "Validator key secrets"):
        assert words in section


def test_progress_names_every_phase_and_ends_with_the_report(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    _, snapshots = rehearsed
    assert [line for line in snapshots.progress if line.startswith("==> ")] == [
        f"==> {phase}" for phase in Rehearsal.PHASES
    ]
    assert snapshots.progress[-1].startswith("Rehearsal complete")
