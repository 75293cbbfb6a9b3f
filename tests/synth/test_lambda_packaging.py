"""The synthesized Lambda packages: one asset per distinct package, sizes and memory as chosen."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from besu_stack.constructs.python_function import MEMORY_MB
from besu_stack.lambda_package import LAMBDA_PACKAGES
from tests.conftest import resources

pytestmark = pytest.mark.synth


def _functions(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(stack, "aws_lambda_function")


def _package(function: dict[str, Any]) -> str:
    return str(function["handler"]).split(".", 1)[0]


def test_each_distinct_package_is_stored_once(
    default_outdir: Path, default_stack: dict[str, Any]
) -> None:
    functions = _functions(default_stack)
    by_package: dict[str, set[str]] = {}
    for function in functions.values():
        by_package.setdefault(_package(function), set()).add(function["filename"])
    assert all(len(files) == 1 for files in by_package.values()), by_package
    lifecycle = [f for f in functions.values() if _package(f) == "lifecycle"]
    assert len(lifecycle) == 3, "launch, termination and reconciler share the lifecycle package"
    stored = sorted((default_outdir / "stacks" / "besu" / "assets").rglob("*.zip"))
    assert len(stored) == len(by_package) == len(LAMBDA_PACKAGES)
    assert sorted(p.name for p in stored) == sorted(f"{name}.zip" for name in LAMBDA_PACKAGES)


def test_source_code_hash_is_the_stored_package(
    default_outdir: Path, default_stack: dict[str, Any]
) -> None:
    for function in _functions(default_stack).values():
        data = (default_outdir / "stacks" / "besu" / function["filename"]).read_bytes()
        expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert function["source_code_hash"] == expected
        assert len(data) <= 5 * 2**20


def test_memory_is_the_measured_size_of_each_package(default_stack: dict[str, Any]) -> None:
    assert set(MEMORY_MB) == set(LAMBDA_PACKAGES)
    for function in _functions(default_stack).values():
        assert function["memory_size"] == MEMORY_MB[_package(function)]
