"""Every ``validation`` block, executed by Terraform itself (``terraform test``, one process).

For each variable with a validation, the values in :mod:`tests.terraform.validation_cases` are
planned: each bad value must fail on that variable (``expect_failures``), the good non-default
value and the defaults must plan. The AWS provider is mocked (``mock_provider``): a validation
needs no AWS call, and data sources get the few mock values the configuration computes with.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from besu_stack.settings import Settings
from besu_stack.variables import NETWORK_VARIABLES
from tests.terraform.validation_cases import CASES, PRECONDITIONS

pytestmark = pytest.mark.terraform

MOCKS = """
mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d", "eu-west-1e", "eu-west-1f"], zone_ids = ["euw1-az1", "euw1-az2", "euw1-az3", "euw1-az4", "euw1-az5", "euw1-az6"] }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:root" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
  mock_data "aws_ec2_instance_type" {
    defaults = { supported_architectures = ["arm64"], memory_size = 8192 }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.50.0.0/16" }
  }
  mock_data "aws_subnet" {
    defaults = { cidr_block = "10.50.1.0/24", availability_zone = "eu-west-1a" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
}
"""

VALIDATED = {v.name for v in NETWORK_VARIABLES if v.validations}


def _shape_of(name: str) -> str:
    spec = next(v for v in NETWORK_VARIABLES if v.name == name)
    return "existing_vpc" if spec.only_when == "existing_vpc" else "created_vpc"


def _variables_block(values: dict[str, str]) -> str:
    return "  variables {\n" + "".join(f"    {k} = {v}\n" for k, v in values.items()) + "  }\n"


def preconditions(stack: dict[str, Any]) -> list[tuple[str, str]]:
    """(resource address, error message) of every resource precondition in a stack."""
    found = []
    for kind, items in stack.get("resource", {}).items():
        for name, body in items.items():
            for rule in body.get("lifecycle", {}).get("precondition", []):
                found.append((f"{kind}.{name}", rule["error_message"]))
    return sorted(found)


def _precondition_case(message: str) -> tuple[str, Any]:
    (match,) = [(key, case) for key, case in PRECONDITIONS.items() if message.startswith(key)]
    return match


def tftest_file(names: list[str], base: dict[str, str], checks: list[tuple[str, str]]) -> str:
    """A ``terraform test`` file covering every validation and precondition in a few plans.

    Variable validations are independent, so round ``k`` sets the ``k``-th bad value of every
    variable at once and expects each of those variables to fail; Terraform reports any that
    did not (``missing expected failure for var.x``). One run sets every good value. Resource
    preconditions get a refusing and an accepting run each.
    """
    runs = [MOCKS, _run("defaults", base)]
    for k in range(max(len(CASES[n].bad) for n in names)):
        bad = {n: CASES[n].bad[k] for n in names if len(CASES[n].bad) > k}
        with_ = {key: v for n in bad for key, v in CASES[n].with_.items()}
        runs.append(_run(f"refuses_round_{k}", {**base, **with_, **bad}, [f"var.{n}" for n in bad]))
    good = {n: CASES[n].good for n in names}
    runs.append(_run("accepts_good_values", {**base, **good}))
    for address, message in checks:
        key, case = _precondition_case(message)
        label = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")[:40]
        runs.append(_run(f"precondition_{label}_refuses", {**base, **case.bad}, [address]))
        runs.append(_run(f"precondition_{label}_accepts", {**base, **case.good}))
    return "\n".join(runs)


def _run(name: str, variables: dict[str, str], expect_failures: list[str] | None = None) -> str:
    expected = f"  expect_failures = [{', '.join(expect_failures)}]\n" if expect_failures else ""
    return f'run "{name}" {{\n  command = plan\n{_variables_block(variables)}{expected}}}\n'


def test_every_validated_variable_has_cases() -> None:
    assert set(CASES) == VALIDATED, (
        f"missing: {sorted(VALIDATED - set(CASES))}, stale: {sorted(set(CASES) - VALIDATED)}"
    )


def test_every_validation_message_names_its_variable() -> None:
    for spec in NETWORK_VARIABLES:
        for validation in spec.validations:
            assert spec.name in validation.error_message, (spec.name, validation.error_message)


EXISTING_VPC_BASE = {
    "existing_vpc_id": '"vpc-0123456789abcdef0"',
    "existing_subnet_ids": '["subnet-01234567", "subnet-01234568", "subnet-0123456a"]',
}


@pytest.mark.parametrize("shape", ["created_vpc", "existing_vpc"])
def test_terraform_refuses_each_bad_value_and_accepts_good_ones(
    shape: str,
    copy_module: Any,
    default_outdir: Path,
    synth_outdir: Any,
) -> None:
    if shape == "created_vpc":
        source = default_outdir / "stacks" / "besu"
        base: dict[str, str] = {}
    else:
        source = synth_outdir(Settings(network_name="byo", vpc_mode="existing")) / "stacks" / "byo"
        base = EXISTING_VPC_BASE
    names = sorted(n for n in CASES if _shape_of(n) == shape or _applies_to_both(n))
    checks = preconditions(json.loads((source / "cdk.tf.json").read_text(encoding="utf-8")))
    assert len(checks) == len(PRECONDITIONS)
    tf = copy_module(source, f"validations-{shape}")
    (tf.workdir / "tests").mkdir()
    (tf.workdir / "tests" / "validations.tftest.hcl").write_text(
        tftest_file(names, base, checks), encoding="utf-8"
    )
    tf.init(backend=False)
    output = tf.run("test", check=False)
    failed = re.findall(r'run "([^"]+)"\.\.\. fail', output)
    assert not failed and re.search(r"Success! (\d+) passed, 0 failed", output), output[-6000:]
    passed = re.findall(r'run "([^"]+)"\.\.\. pass', output)
    expected = 2 + max(len(CASES[n].bad) for n in names) + 2 * len(checks)
    assert len(passed) == expected, output[-3000:]


def _applies_to_both(name: str) -> bool:
    spec = next(v for v in NETWORK_VARIABLES if v.name == name)
    return spec.only_when == ""


def test_a_bad_value_terraform_accepts_makes_the_round_fail(
    copy_module: Any, default_outdir: Path
) -> None:
    # The rounds above set many bad values at once: prove that one which is not refused is
    # reported (Terraform: "missing expected failure"), so no case can pass by accident.
    tf = copy_module(default_outdir / "stacks" / "besu", "validations-self-check")
    (tf.workdir / "tests").mkdir()
    run = _run(
        "refuses_round_0",
        {"region": '"eu-west-2"', "chain_id": "0"},
        ["var.region", "var.chain_id"],
    )
    (tf.workdir / "tests" / "self_check.tftest.hcl").write_text(
        MOCKS + "\n" + run, encoding="utf-8"
    )
    tf.init(backend=False)
    output = tf.run("test", check=False)
    assert 'run "refuses_round_0"... fail' in output, output[-3000:]
    assert "Missing expected failure" in output
    assert "The checkable object, var.region, was expected to report an error" in output
    assert "var.chain_id, was expected" not in output  # chain_id = 0 was refused
