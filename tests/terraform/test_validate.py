"""``terraform init`` and ``terraform validate`` of every configuration the project ships.

Terraform and the AWS provider judge each shape the suite synthesizes, the state-bootstrap stack,
the registry module (through ``examples/terraform-consumer``) and every example. A deprecation
warning fails too: an attribute deprecated in one provider line is the next line's error.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from besu_stack.rehearsal.terraform import Terraform, mirrored_provider_versions
from besu_stack.settings import Settings, StateBackend
from besu_stack.versions import AWS_PROVIDER_VERSION
from tests.terraform.conftest import consumer_example, load_example

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]

SHAPES: dict[str, Settings] = {
    "qbft7": Settings(network_name="qbft7", consensus="qbft", validator_count=7),
    "byo": Settings(network_name="byo", vpc_mode="existing"),
    "adopt": Settings(network_name="adopt", key_secrets="adopt"),
    "s3state": Settings(
        network_name="s3state",
        state=StateBackend(
            kind="s3", bucket="acme-tfstate", region="eu-west-1", key="besu.tfstate"
        ),
    ),
    "tfc": Settings(
        network_name="tfc", state=StateBackend(kind="cloud", organization="acme", workspace="besu")
    ),
}


def _assert_valid(tf: Terraform) -> None:
    result = tf.validate()
    problems = [
        f"{d['severity']}: {d['summary']}: {d.get('detail', '')} ({d.get('address', '')})"
        for d in result["diagnostics"]
    ]
    assert result["valid"] and not problems, "\n".join(problems)


def test_the_mirror_holds_a_provider_the_constraint_admits(terraform_binary: Path) -> None:
    from besu_stack.rehearsal.terraform import find_provider_mirror

    mirror = find_provider_mirror()
    assert mirror is not None
    assert "5.100.0" in mirrored_provider_versions(mirror)
    assert AWS_PROVIDER_VERSION == ">= 5.100, < 7.0"


def test_the_default_network_and_its_state_stack_validate(
    copy_module: Callable[..., Terraform], default_outdir: Path
) -> None:
    for stack in ("besu", "besu-state"):
        tf = copy_module(default_outdir / "stacks" / stack, stack)
        tf.init()
        _assert_valid(tf)
        lock = (tf.workdir / ".terraform.lock.hcl").read_text(encoding="utf-8")
        assert 'version     = "5.100.0"' in lock


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_validates(
    shape: str, copy_module: Callable[..., Terraform], synth_outdir: Callable[[Settings], Path]
) -> None:
    settings = SHAPES[shape]
    tf = copy_module(synth_outdir(settings) / "stacks" / settings.network_name, shape)
    # Remote backends are not reachable here; their configuration is validated all the same.
    tf.init(backend=settings.state.kind == "local")
    _assert_valid(tf)


def test_the_registry_module_validates_through_the_terraform_consumer_example(
    terraform_binary: Path, tmp_path: Path
) -> None:
    tf = consumer_example(tmp_path, terraform_binary)
    tf.init(backend=False)
    _assert_valid(tf)


@pytest.mark.parametrize("name", ["cdktf-composition", "existing-vpc", "qbft-seven-validators"])
def test_each_cdktf_example_validates(
    name: str, copy_module: Callable[..., Terraform], tmp_path: Path
) -> None:
    example = load_example(name)
    example.build(tmp_path / "cdktf.out").synth()
    stacks = sorted((tmp_path / "cdktf.out" / "stacks").iterdir())
    assert stacks
    for stack in stacks:
        tf = copy_module(stack, f"{name}-{stack.name}")
        tfvars = ROOT / "examples" / name / "terraform.tfvars"
        if tfvars.exists():
            shutil.copy(tfvars, tf.workdir / "terraform.tfvars")
        tf.init()
        _assert_valid(tf)
