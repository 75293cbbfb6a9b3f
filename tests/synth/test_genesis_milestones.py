"""The EVM fork of the genesis is a stack user's choice (issue 11, defect 9).

The key Lambda's ``GENESIS_OPTIONS_JSON`` is a Terraform expression; it is evaluated here by
``terraform console`` for each value of ``genesis_evm_fork`` and fed to the genesis builder the
Lambda uses, so the milestone that reaches genesis is the one Terraform computes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from besu_stack.besu.genesis import GenesisOptions, build_genesis
from besu_stack.variables import NETWORK_VARIABLES
from tests.conftest import StackJson, resources
from tests.support.terraform_eval import evaluate, terraform_available

pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(not terraform_available(), reason="terraform not on PATH"),
]


def _genesis_options(stack: StackJson) -> str:
    (text,) = [
        f["environment"]["variables"]["GENESIS_OPTIONS_JSON"]
        for f in resources(stack, "aws_lambda_function").values()
        if "GENESIS_OPTIONS_JSON" in f.get("environment", {}).get("variables", {})
    ]
    return str(text)


def _config(stack: StackJson, fork: str) -> dict[str, Any]:
    (rendered,) = evaluate(stack, [_genesis_options(stack)], {"genesis_evm_fork": fork})
    options = GenesisOptions(chain_id=1337, **json.loads(rendered))
    genesis = build_genesis("ibft2", ["0x" + "11" * 20], options)
    config: dict[str, Any] = genesis["config"]
    return config


@pytest.mark.parametrize(
    ("fork", "shanghai", "cancun"),
    [("london", None, None), ("shanghai", 0, None), ("cancun", 0, 0)],
)
def test_the_fork_variable_reaches_the_genesis(
    default_stack: StackJson, fork: str, shanghai: int | None, cancun: int | None
) -> None:
    config = _config(default_stack, fork)
    assert config["londonBlock"] == 0
    assert config.get("shanghaiTime") == shanghai
    assert config.get("cancunTime") == cancun
    assert config["zeroBaseFee"] is True


def test_the_default_is_london_and_only_known_forks_pass() -> None:
    (spec,) = [v for v in NETWORK_VARIABLES if v.name == "genesis_evm_fork"]
    assert spec.default == "london"
    (validation,) = spec.validations
    assert '["london", "shanghai", "cancun"]' in validation.condition
    assert "#9681" in spec.description and "#11005" in spec.description
