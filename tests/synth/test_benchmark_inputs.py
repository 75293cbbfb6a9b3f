"""The cold-start benchmark can still run: its stand-in environment satisfies every function.

``benchmarks/lambda_cold_start.py`` replaces the Terraform references in each function's
synthesized environment by plausible values. Twice a new check in a function's configuration
(a genesis option, a role ARN) stopped the benchmark at import without any test noticing. This
parses each stand-in environment with the function's own configuration parser; it measures
nothing (benchmarks print numbers, tests assert none).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from lambda_src.health.config import HealthConfig
from lambda_src.keygen.config import KeygenConfig
from lambda_src.lifecycle.config import LifecycleConfig
from tests.conftest import StackJson, resources

pytestmark = pytest.mark.synth

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "lambda_cold_start.py"
PARSERS = {"health": HealthConfig, "keygen": KeygenConfig, "lifecycle": LifecycleConfig}


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lambda_cold_start", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_functions_stand_in_environment_parses(default_stack: StackJson) -> None:
    benchmark = _benchmark()
    functions = resources(default_stack, "aws_lambda_function")
    assert len(functions) == 5
    for function in functions.values():
        package = function["handler"].split(".", 1)[0]
        env = benchmark._environment(function, default_stack["variable"])
        PARSERS[package].from_env(env)
