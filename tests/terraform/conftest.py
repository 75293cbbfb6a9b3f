"""Terraform itself as the judge: fixtures that run the real binary and the AWS provider.

Terraform is found on ``PATH`` (or ``$BESU_STACK_TERRAFORM``) and the AWS provider in a
filesystem mirror (auto-detected, or ``$BESU_STACK_TF_PROVIDER_MIRROR``), see
:mod:`besu_stack.rehearsal.terraform`. Where Terraform is missing these tests are skipped with
one line; under ``CI=true`` that is a failure, so CI can never pass without running them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from besu_stack.rehearsal.moto_server import MotoServer
from besu_stack.rehearsal.rehearse import Rehearsal, RehearsalReport
from besu_stack.rehearsal.terraform import (
    Terraform,
    TerraformNotFound,
    find_provider_mirror,
    find_terraform,
)

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]

_COPY_IGNORE = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "plan.bin")


def load_example(name: str) -> Any:
    """The ``main.py`` module of ``examples/<name>`` (its ``build(outdir)`` makes the app)."""
    path = ROOT / "examples" / name / "main.py"
    spec = importlib.util.spec_from_file_location(f"tf_example_{name.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def terraform_binary() -> Path:
    """The Terraform binary; skips (or fails under CI) when there is none."""
    try:
        binary = find_terraform()
        mirror = find_provider_mirror()
    except TerraformNotFound as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and Terraform is unusable: {exc}")
        pytest.skip(f"Terraform tests skipped: {exc}")
    if mirror is None and os.environ.get("CI") == "true":
        pytest.fail(
            "CI=true and no AWS provider mirror was found (set $BESU_STACK_TF_PROVIDER_MIRROR)"
        )
    return binary


@pytest.fixture(scope="session")
def copy_module(
    terraform_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Terraform]:
    """Copy a configuration directory to a fresh working directory and return a Terraform on it."""

    def copy(source: Path, name: str, env: dict[str, str] | None = None) -> Terraform:
        target = tmp_path_factory.mktemp("tf") / name
        shutil.copytree(source, target, ignore=_COPY_IGNORE, symlinks=True)
        return Terraform(target, binary=terraform_binary, env=dict(env or {}))

    return copy


def consumer_example(tmp_path: Path, binary: Path, env: dict[str, str] | None = None) -> Terraform:
    """A copy of ``examples/terraform-consumer`` beside a copy of ``modules/``.

    The example uses the registry module by relative path (``../../modules/...``), so both are
    copied with that layout kept.
    """
    shutil.copytree(ROOT / "modules", tmp_path / "modules", ignore=_COPY_IGNORE)
    target = tmp_path / "examples" / "terraform-consumer"
    shutil.copytree(ROOT / "examples" / "terraform-consumer", target, ignore=_COPY_IGNORE)
    return Terraform(target, binary=binary, env=env)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One shimmed moto server process for the Terraform tests of the session."""
    with MotoServer() as server:
        yield server


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
    secrets = rehearsal.account().client("secretsmanager")
    assert rehearsal.names is not None
    return {
        arn: sorted(
            v["VersionId"] for v in secrets.list_secret_version_ids(SecretId=arn)["Versions"]
        )
        for arn in rehearsal.names.validator_secret_arns
    }


def _genesis_version(rehearsal: Rehearsal) -> str:
    bucket = rehearsal.tf().output()["artifact_bucket_name"]
    head = rehearsal.account().client("s3").head_object(Bucket=bucket, Key="genesis.json")
    return f"{head.get('VersionId')}:{head['ETag']}"


def _observe(snapshots: Snapshots) -> Any:
    def observer(phase: str, rehearsal: Rehearsal) -> None:
        if phase == "plan":
            snapshots.plan = rehearsal.tf().show_plan()
        if phase == "apply":
            snapshots.apply_output = rehearsal.apply_output
            state_files = list(rehearsal.module_dir.glob("*.tfstate"))
            snapshots.state_text = "".join(p.read_text(encoding="utf-8") for p in state_files)
            secrets = rehearsal.account().client("secretsmanager")
            assert rehearsal.names is not None
            snapshots.private_keys = [
                secrets.get_secret_value(SecretId=arn)["SecretString"]
                for arn in rehearsal.names.validator_secret_arns
            ]
            snapshots.secret_versions = _secret_versions(rehearsal)
            snapshots.genesis_version = _genesis_version(rehearsal)
        if phase == "second_plan":
            snapshots.second_plan = rehearsal.tf().show_plan("second.bin")
            # What a second apply would do if it replaced the invocation: run the key Lambda
            # again, as Terraform's aws_lambda_invocation does.
            answer = (
                rehearsal.account()
                .client("lambda")
                .invoke(
                    FunctionName=rehearsal.tf().output()["network_name"] + "-keygen",
                    Payload=json.dumps({"validator_count": len(snapshots.private_keys)}).encode(),
                )
            )
            snapshots.after_second_invocation = {
                "error": answer.get("FunctionError"),
                "secret_versions": _secret_versions(rehearsal),
                "genesis_version": _genesis_version(rehearsal),
            }
            snapshots.invocations = rehearsal.account().report("lambda-invocations")

    return observer


@pytest.fixture(scope="session")
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
