"""The network stack skeleton: provider, default tags, variables, KMS key, outputs, backends."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from besu_stack.settings import Settings, StateBackend
from besu_stack.variables import NETWORK_VARIABLES, variables_for
from tests.conftest import StackJson, resource_at

pytestmark = pytest.mark.synth


def test_provider_region_comes_from_the_variable_and_every_resource_is_tagged(
    default_stack: StackJson,
) -> None:
    (provider,) = default_stack["provider"]["aws"]
    assert provider["region"] == "${var.region}"
    tags = provider["default_tags"][0]["tags"]
    assert tags == '${merge(var.tags, {"Network" = "besu", "ManagedBy" = "besu-stack"})}'


def test_every_variable_is_declared_with_type_description_default_and_validation(
    default_stack: StackJson,
) -> None:
    declared = default_stack["variable"]
    expected = {spec.name: spec for spec in variables_for(Settings())}
    assert set(declared) == set(expected)
    for name, spec in expected.items():
        var = declared[name]
        assert var["type"] == spec.type
        assert var["description"] == spec.description
        assert var.get("default") == spec.default
        assert [v["error_message"] for v in var.get("validation", [])] == [
            v.error_message for v in spec.validations
        ]


def test_existing_vpc_mode_declares_vpc_and_subnet_inputs_instead_of_a_cidr(
    synth_settings: Callable[[Settings], StackJson],
) -> None:
    stack = synth_settings(Settings(vpc_mode="existing"))
    assert {"existing_vpc_id", "existing_subnet_ids"} <= set(stack["variable"])
    assert "vpc_cidr" not in stack["variable"]
    assert "default" not in stack["variable"]["existing_vpc_id"]  # required


def test_network_kms_key_rotates_and_is_named_after_the_network(default_stack: StackJson) -> None:
    # The validator secrets have a key of their own (tests/synth/test_secrets_key.py).
    key = resource_at(default_stack, "aws_kms_key", "network_key/key")
    assert key["enable_key_rotation"] is True
    assert key["deletion_window_in_days"] == "${var.kms_deletion_window_days}"
    policy = json.loads(key["policy"])
    sids = {s["Sid"] for s in policy["Statement"]}
    assert sids == {
        "AccountAdministersKeyThroughIam",
        "CloudWatchLogsEncryptsThisRegionsLogGroups",
        # ELB access-log delivery to the PrivateLink log bucket (SSE-KMS).
        "AwsServicesOfThisAccountUseKey",
    }
    assert (
        resource_at(default_stack, "aws_kms_alias", "network_key/alias")["name"] == "alias/besu-key"
    )


def test_outputs_are_documented(default_stack: StackJson) -> None:
    outputs = default_stack["output"]
    assert {
        "network_name",
        "consensus_protocol",
        "validator_count",
        "fault_tolerance",
        "kms_key_arn",
    } <= set(outputs)
    assert all(o["description"] for o in outputs.values())
    assert outputs["fault_tolerance"]["value"] == 1
    assert outputs["kms_key_arn"]["value"].startswith("${aws_kms_key.")


def test_local_backend_is_the_default(default_stack: StackJson) -> None:
    assert default_stack["terraform"]["backend"] == {"local": {"path": "terraform.besu.tfstate"}}


def test_s3_backend_encrypts_and_uses_native_locking(
    synth_settings: Callable[[Settings], StackJson],
) -> None:
    stack = synth_settings(
        Settings(
            network_name="prod",
            state=StateBackend(
                kind="s3", bucket="acme-tfstate", region="eu-central-1", kms_key_id="alias/tfstate"
            ),
        )
    )
    s3 = stack["terraform"]["backend"]["s3"]
    assert s3["bucket"] == "acme-tfstate"
    assert s3["key"] == "prod/terraform.tfstate"
    assert s3["region"] == "eu-central-1"
    assert s3["encrypt"] is True
    assert s3["kms_key_id"] == "alias/tfstate"
    assert s3["use_lockfile"] is True
    assert "dynamodb_table" not in s3


def test_terraform_cloud_backend(synth_settings: Callable[[Settings], StackJson]) -> None:
    stack = synth_settings(
        Settings(
            network_name="tfc",
            state=StateBackend(kind="cloud", organization="acme", workspace="besu-prod"),
        )
    )
    terraform = stack["terraform"]
    assert "backend" not in terraform
    assert terraform["cloud"] == {
        "hostname": "app.terraform.io",
        "organization": "acme",
        "workspaces": {"name": "besu-prod"},
    }


def test_variable_table_has_unique_names() -> None:
    names = [spec.name for spec in NETWORK_VARIABLES]
    assert len(names) == len(set(names))
