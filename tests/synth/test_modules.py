"""The registry modules under modules/ are up to date with the code and fit to be consumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from besu_stack.modules import AWS_PROVIDER_VERSION, MODULES, TERRAFORM_VERSION, build_modules

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("modules")
    build_modules(destination)
    return destination


def test_committed_modules_are_up_to_date(regenerated: Path) -> None:
    committed, fresh = _tree(ROOT / "modules"), _tree(regenerated)
    assert sorted(committed) == sorted(fresh), "modules/ is out of date: run `make modules`"
    stale = [name for name in committed if committed[name] != fresh[name]]
    assert not stale, f"modules/ is out of date ({stale[:3]}): run `make modules`"


@pytest.mark.parametrize("spec", MODULES, ids=lambda s: s.name)
def test_module_has_no_backend_or_provider_and_pins_versions(
    spec: object, regenerated: Path
) -> None:
    name = spec.name  # type: ignore[attr-defined]
    config = json.loads((regenerated / name / "main.tf.json").read_text())
    assert "provider" not in config
    assert "backend" not in config["terraform"] and "cloud" not in config["terraform"]
    assert config["terraform"]["required_version"] == TERRAFORM_VERSION
    assert config["terraform"]["required_providers"]["aws"]["version"] == AWS_PROVIDER_VERSION
    assert "region" not in config["variable"] and "tags" not in config["variable"]
    for fn in config["resource"]["aws_lambda_function"].values():
        relative = fn["filename"].removeprefix("${path.module}/")
        assert fn["filename"].startswith("${path.module}/assets/")
        assert (regenerated / name / relative).is_file()
    assert all(v["description"] for v in config["variable"].values())
    assert all(o["description"] for o in config["output"].values())


@pytest.mark.parametrize("spec", MODULES, ids=lambda s: s.name)
def test_module_readme_lists_every_input_and_output(spec: object, regenerated: Path) -> None:
    name = spec.name  # type: ignore[attr-defined]
    config = json.loads((regenerated / name / "main.tf.json").read_text())
    readme = (regenerated / name / "README.md").read_text()
    for variable in config["variable"]:
        assert f"\n| {variable} |" in readme
    for output in config["output"]:
        assert f"\n| {output} |" in readme
    assert f"//modules/{name}?ref=v" in readme


@pytest.mark.parametrize("spec", MODULES, ids=lambda s: s.name)
def test_module_stores_each_lambda_package_once(spec: object, regenerated: Path) -> None:
    name = spec.name  # type: ignore[attr-defined]
    config = json.loads((regenerated / name / "main.tf.json").read_text())
    referenced = {fn["filename"] for fn in config["resource"]["aws_lambda_function"].values()}
    stored = sorted((regenerated / name / "assets").rglob("*.zip"))
    assert len(stored) == len(referenced) == 3, stored
    contents = [p.read_bytes() for p in stored]
    assert len(set(contents)) == len(contents), "no package is stored twice"
