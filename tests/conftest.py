"""Shared fixtures: one synthesis of each app shape per test session.

Importing the AWS provider bindings costs 10-20 s, so the synthesized trees are built once per
session and tests read the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from besu_stack.node_runtime import use_project_node
from besu_stack.settings import Settings

use_project_node()

StackJson = dict[str, Any]


def synth_app(networks: Sequence[Settings], outdir: Path) -> Path:
    """Synthesize an app with these networks into ``outdir`` (imports cdktf lazily)."""
    from besu_stack.app import build_app

    build_app(list(networks), outdir=outdir).synth()
    return outdir


def read_stack(outdir: Path, name: str) -> StackJson:
    path = outdir / "stacks" / name / "cdk.tf.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def default_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default network (``Settings()``), synthesized once."""
    return synth_app([Settings()], tmp_path_factory.mktemp("default") / "cdktf.out")


@pytest.fixture(scope="session")
def default_stack(default_outdir: Path) -> StackJson:
    """The default network stack's JSON."""
    return read_stack(default_outdir, "besu")


@pytest.fixture(scope="session")
def state_stack(default_outdir: Path) -> StackJson:
    """The default state-bootstrap stack's JSON."""
    return read_stack(default_outdir, "besu-state")


@pytest.fixture(scope="session")
def synth_outdir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Settings], Path]:
    """Synthesize one network of a given shape (cached per shape) and return its ``cdktf.out``."""
    cache: dict[Settings, Path] = {}

    def synth(settings: Settings) -> Path:
        if settings not in cache:
            cache[settings] = synth_app([settings], tmp_path_factory.mktemp("shape") / "cdktf.out")
        return cache[settings]

    return synth


@pytest.fixture(scope="session")
def synth_settings(synth_outdir: Callable[[Settings], Path]) -> Callable[[Settings], StackJson]:
    """Synthesize one network of a given shape (cached per shape) and return its stack JSON."""

    def synth(settings: Settings) -> StackJson:
        return read_stack(synth_outdir(settings), settings.network_name)

    return synth


def resources(stack: StackJson, kind: str) -> dict[str, dict[str, Any]]:
    """All resources of one Terraform type in a stack, by logical id."""
    return stack.get("resource", {}).get(kind, {})


def only_resource(stack: StackJson, kind: str) -> dict[str, Any]:
    """The single resource of a type; fails when there is not exactly one."""
    found = resources(stack, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def resource_at(stack: StackJson, kind: str, path_suffix: str) -> dict[str, Any]:
    """The single resource of a type whose construct path ends with ``path_suffix``."""
    found = [
        r
        for r in resources(stack, kind).values()
        if r["//"]["metadata"]["path"].endswith("/" + path_suffix)
    ]
    assert len(found) == 1, f"expected one {kind} at .../{path_suffix}, found {len(found)}"
    return found[0]


def address_of(stack: StackJson, kind: str, path_suffix: str, block: str = "resource") -> str:
    """``<type>.<logical id>`` (``data.<type>.<id>`` for data sources) of one resource by path."""
    ids = [
        logical_id
        for logical_id, r in stack.get(block, {}).get(kind, {}).items()
        if r["//"]["metadata"]["path"].endswith("/" + path_suffix)
    ]
    assert len(ids) == 1, f"expected one {kind} at .../{path_suffix}, found {ids}"
    prefix = "data." if block == "data" else ""
    return f"{prefix}{kind}.{ids[0]}"


def ref(stack: StackJson, kind: str, path_suffix: str, attribute: str) -> str:
    """The interpolation ``${<type>.<id>.<attribute>}`` that refers to one resource's attribute."""
    return "${" + address_of(stack, kind, path_suffix) + "." + attribute + "}"


REHEARSAL_MODULE = "tests/terraform/test_rehearsal.py"
"""Where every test that uses the rehearsal lives (``tests/terraform/conftest.py``, ``rehearsed``)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test outside :data:`REHEARSAL_MODULE` that uses the rehearsal.

    ``make test`` distributes the suite over two workers by file (``pytest -n 2 --dist
    loadfile``), so the rehearsal's minutes-long session fixture is built once only while all
    its tests share one file. (xdist's ``--dist loadgroup`` marker would not do it: pytest 9.2
    no longer reads the node ids xdist 3.8 rewrites to group by, pytest-dev/pytest-xdist#1386.)
    """
    strays = sorted(
        item.nodeid
        for item in items
        if {"rehearsed", "default_plan"} & set(getattr(item, "fixturenames", ()))
        and not item.nodeid.startswith(REHEARSAL_MODULE)
    )
    if strays:
        raise pytest.UsageError(
            f"tests using the rehearsal must live in {REHEARSAL_MODULE}, "
            f"so that `make test` (--dist loadfile) runs it once: {', '.join(strays)}"
        )
