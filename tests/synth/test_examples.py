"""Every example synthesizes (cdktf ones) or matches the module it consumes (the Terraform one)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from besu_stack.modules import MODULES
from tests.conftest import read_stack, resources

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _load(name: str) -> ModuleType:
    path = EXAMPLES / name / "main.py"
    spec = importlib.util.spec_from_file_location(f"example_{name.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _synth(name: str, tmp_path: Path) -> dict[str, Any]:
    example = _load(name)
    example.build(tmp_path / "cdktf.out").synth()
    return read_stack(tmp_path / "cdktf.out", example.SETTINGS.network_name)


def _tfvars_names(path: Path) -> set[str]:
    return set(re.findall(r"^([a-z_0-9]+)\s*=", path.read_text(encoding="utf-8"), re.MULTILINE))


def test_existing_vpc_example_creates_no_network_of_its_own(tmp_path: Path) -> None:
    stack = _synth("existing-vpc", tmp_path)
    assert "aws_vpc" not in stack["resource"] and "aws_subnet" not in stack["resource"]
    assert {"existing_vpc_id", "existing_subnet_ids"} <= set(stack["variable"])
    assert _tfvars_names(EXAMPLES / "existing-vpc" / "terraform.tfvars") <= set(stack["variable"])


def test_qbft_seven_validators_example(tmp_path: Path) -> None:
    stack = _synth("qbft-seven-validators", tmp_path)
    (fn,) = [
        f
        for f in resources(stack, "aws_lambda_function").values()
        if f["function_name"] == "qbft7-keygen"
    ]
    assert fn["environment"]["variables"]["CONSENSUS_PROTOCOL"] == "qbft"
    assert len(resources(stack, "aws_secretsmanager_secret")) == 7
    (service,) = resources(stack, "aws_ecs_service").values()
    assert service["deployment_minimum_healthy_percent"] == 71  # f = 2 stop at once
    tfvars = EXAMPLES / "qbft-seven-validators" / "terraform.tfvars"
    assert _tfvars_names(tfvars) <= set(stack["variable"])
    assert "rpc_certificate_arn" in _tfvars_names(tfvars)  # TLS on the listener


def test_cdktf_composition_example_reaches_the_network_through_its_endpoint_service(
    tmp_path: Path,
) -> None:
    stack = _synth("cdktf-composition", tmp_path)
    endpoints = resources(stack, "aws_vpc_endpoint")
    app_endpoint = next(
        e for e in endpoints.values() if e["//"]["metadata"]["path"].endswith("/app_to_besu")
    )
    assert app_endpoint["vpc_endpoint_type"] == "Interface"
    assert app_endpoint["service_name"].startswith("${aws_vpc_endpoint_service.private_link_")
    assert "app_rpc_dns_name" in stack["output"]
    # The bucket construct's grant wrote the object read and the key's use through S3.
    (app_policy,) = [
        p for p in resources(stack, "aws_iam_role_policy").values() if p["name"] == "ledger-app"
    ]
    statements = {s["Sid"]: s for s in json.loads(app_policy["policy"])["Statement"]}
    assert statements["ReadBesuGenesis"]["Action"] == ["s3:GetObject"]
    assert statements["ReadBesuGenesis"]["Resource"][0].endswith("/genesis.json")
    via = statements["UseKeyThroughS3"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via.startswith("s3.")


def test_terraform_consumer_example_matches_the_module() -> None:
    main_tf = (EXAMPLES / "terraform-consumer" / "main.tf").read_text(encoding="utf-8")
    source = re.search(r'^\s*source\s*=\s*"(\.\./[^"]+)"', main_tf, re.MULTILINE)
    assert source, "the example must use the module by relative path"
    module_dir = (EXAMPLES / "terraform-consumer" / source.group(1)).resolve()
    assert module_dir == (ROOT / "modules" / MODULES[0].name).resolve()
    module = json.loads((module_dir / "main.tf.json").read_text(encoding="utf-8"))
    block = main_tf[main_tf.index('module "besu_network"') :]
    block = block[: block.index("\n}\n")]
    assigned = set(re.findall(r"^\s{2}([a-z_0-9]+)\s*=", block, re.MULTILINE)) - {"source"}
    variables = module["variable"]
    assert assigned <= set(variables), assigned - set(variables)
    required = {name for name, var in variables.items() if "default" not in var}
    assert required <= assigned
    referenced = set(re.findall(r"module\.besu_network\.([a-z_0-9]+)", main_tf))
    assert referenced <= set(module["output"])
    assert "use_lockfile = true" in main_tf and 'backend "s3"' in main_tf
    declared = set(re.findall(r'^variable "([a-z_0-9]+)"', main_tf, re.MULTILINE))
    assert _tfvars_names(EXAMPLES / "terraform-consumer" / "terraform.tfvars") == declared
