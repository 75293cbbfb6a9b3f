"""The default network planned, applied, drilled and destroyed by Terraform in moto.

One ``besu-stack rehearse`` run (:class:`Rehearsal`, exactly what ``make rehearse`` runs) is
shared by the tests of this module; an observer snapshots the emulated account after each
phase. The phases themselves already fail on a broken network (keys, lifecycle drill, second
plan, destroy); the tests below check what the issue names on top of that.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from besu_stack.rehearsal.rehearse import (
    EXPECTED_LEFTOVERS,
    MOTO_ROUND_TRIP_GAPS,
    Rehearsal,
    RehearsalReport,
)

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Snapshots:
    """What the observer saw between phases."""

    plan: dict[str, Any] = field(default_factory=dict)
    state_text: str = ""
    apply_output: str = ""
    private_keys: list[str] = field(default_factory=list)
    secret_versions: dict[str, list[str]] = field(default_factory=dict)
    genesis_version: str = ""
    second_plan: dict[str, Any] = field(default_factory=dict)
    after_second_invocation: dict[str, Any] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)


def _secret_versions(rehearsal: Rehearsal) -> dict[str, list[str]]:
    secrets = rehearsal._moto().client("secretsmanager")
    assert rehearsal.names is not None
    return {
        arn: sorted(
            v["VersionId"] for v in secrets.list_secret_version_ids(SecretId=arn)["Versions"]
        )
        for arn in rehearsal.names.validator_secret_arns
    }


def _genesis_version(rehearsal: Rehearsal) -> str:
    bucket = rehearsal._tf().output()["artifact_bucket_name"]
    head = rehearsal._moto().client("s3").head_object(Bucket=bucket, Key="genesis.json")
    return f"{head.get('VersionId')}:{head['ETag']}"


def _observe(snapshots: Snapshots) -> Any:
    def observer(phase: str, rehearsal: Rehearsal) -> None:
        if phase == "plan":
            snapshots.plan = rehearsal._tf().show_plan()
        if phase == "apply":
            snapshots.apply_output = rehearsal.apply_output
            state_files = list(rehearsal.module_dir.glob("*.tfstate"))
            snapshots.state_text = "".join(p.read_text(encoding="utf-8") for p in state_files)
            secrets = rehearsal._moto().client("secretsmanager")
            assert rehearsal.names is not None
            snapshots.private_keys = [
                secrets.get_secret_value(SecretId=arn)["SecretString"]
                for arn in rehearsal.names.validator_secret_arns
            ]
            snapshots.secret_versions = _secret_versions(rehearsal)
            snapshots.genesis_version = _genesis_version(rehearsal)
        if phase == "second_plan":
            snapshots.second_plan = rehearsal._tf().show_plan("second.bin")
            # What a second apply would do if it replaced the invocation: run the key Lambda
            # again, as Terraform's aws_lambda_invocation does.
            answer = (
                rehearsal._moto()
                .client("lambda")
                .invoke(
                    FunctionName=rehearsal._tf().output()["network_name"] + "-keygen",
                    Payload=json.dumps({"validator_count": len(snapshots.private_keys)}).encode(),
                )
            )
            snapshots.after_second_invocation = {
                "error": answer.get("FunctionError"),
                "secret_versions": _secret_versions(rehearsal),
                "genesis_version": _genesis_version(rehearsal),
            }
            snapshots.invocations = rehearsal._moto().report("lambda-invocations")

    return observer


@pytest.fixture(scope="module")
def rehearsed(
    terraform_binary: Path, default_outdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RehearsalReport, Snapshots]]:
    snapshots = Snapshots()
    rehearsal = Rehearsal(
        tmp_path_factory.mktemp("rehearsal"),
        source_dir=default_outdir / "stacks" / "besu",
        progress=snapshots.progress.append,
        observer=_observe(snapshots),
    )
    yield rehearsal.run(), snapshots


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
    results = {(a["InstanceId"], a["LifecycleActionResult"]) for a in drill.completed_actions}
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
    for words in ("Data volumes", "KMS key", "Validator key secrets"):
        assert words in section


def test_progress_names_every_phase_and_ends_with_the_report(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    _, snapshots = rehearsed
    assert [line for line in snapshots.progress if line.startswith("==> ")] == [
        f"==> {phase}" for phase in Rehearsal.PHASES
    ]
    assert snapshots.progress[-1].startswith("Rehearsal complete")
