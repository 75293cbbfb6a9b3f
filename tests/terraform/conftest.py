"""Terraform itself as the judge: fixtures that run the real binary and the AWS provider.

Terraform is found on ``PATH`` (or ``$BESU_STACK_TERRAFORM``) and the AWS provider in a
filesystem mirror (auto-detected, or ``$BESU_STACK_TF_PROVIDER_MIRROR``), see
:mod:`besu_stack.rehearsal.terraform`. Where Terraform is missing these tests are skipped with
one line; under ``CI=true`` that is a failure, so CI can never pass without running them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from besu_stack.rehearsal.moto_server import MotoServer
from besu_stack.rehearsal.terraform import (
    Terraform,
    TerraformNotFound,
    find_provider_mirror,
    find_terraform,
)

pytestmark = pytest.mark.terraform

_COPY_IGNORE = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "plan.bin")


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
def copy_module(terraform_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    """Copy a configuration directory to a fresh working directory and return a Terraform on it."""

    def copy(source: Path, name: str, env: dict[str, str] | None = None) -> Terraform:
        target = tmp_path_factory.mktemp("tf") / name
        shutil.copytree(source, target, ignore=_COPY_IGNORE, symlinks=True)
        return Terraform(target, binary=terraform_binary, env=dict(env or {}))

    return copy


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One shimmed moto server process for the Terraform tests of the session."""
    with MotoServer() as server:
        yield server
