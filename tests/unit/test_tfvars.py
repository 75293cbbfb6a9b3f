"""terraform.tfvars.example is generated from the variable table and never drifts."""

from __future__ import annotations

from pathlib import Path

from besu_stack.settings import Settings
from besu_stack.tfvars import hcl_value, render_tfvars_example
from besu_stack.variables import NETWORK_VARIABLES

ROOT = Path(__file__).resolve().parents[2]


def test_committed_example_matches_the_code() -> None:
    committed = (ROOT / "terraform.tfvars.example").read_text(encoding="utf-8")
    assert committed == render_tfvars_example(Settings()), (
        "terraform.tfvars.example is out of date: run `make tfvars`"
    )


def test_example_lists_every_variable_with_its_default() -> None:
    text = render_tfvars_example(Settings())
    for spec in NETWORK_VARIABLES:
        assignment = f"{spec.name} = " + (
            hcl_value(spec.default) if spec.default is not None else ""
        )
        assert assignment in text, spec.name


def test_variables_of_another_shape_are_commented_out() -> None:
    text = render_tfvars_example(Settings())
    assert '\n# existing_vpc_id = "vpc-' in text
    assert "\nvpc_cidr = " in text


def test_every_variable_has_description_type_and_a_validation_where_a_bad_value_is_knowable() -> (
    None
):
    for spec in NETWORK_VARIABLES:
        assert spec.description.endswith("."), spec.name
        assert spec.type, spec.name
        if spec.type != "bool":
            assert spec.validations, f"{spec.name} has no validation"
        for v in spec.validations:
            assert v.condition.startswith("${") and f"var.{spec.name}" in v.condition
            assert v.error_message.startswith(spec.name)


def test_hcl_values() -> None:
    assert hcl_value(True) == "true"
    assert hcl_value(["a", 1]) == '["a", 1]'
    assert hcl_value({"b": "x", "a": "y"}) == '{ "a" = "y", "b" = "x" }'
    assert hcl_value({}) == "{}"
