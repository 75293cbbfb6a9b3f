"""The shared Lambda kernel: one env rule, one set of names and ranges, shipped in every zip."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from besu_stack.lambda_kernel import slots, volumes
from besu_stack.lambda_package import PACKAGE_ROOT, build_function_package
from besu_stack.variables import NETWORK_VARIABLES
from lambda_src.health.config import HealthConfig
from lambda_src.lifecycle.config import LifecycleConfig
from lambda_src.lifecycle.errors import ConfigError as LifecycleConfigError

LIFECYCLE_ENV = {
    "NETWORK_NAME": "testnet",
    "REGISTRY_TABLE_NAME": "t",
    "PRIVATE_ZONE_ID": "Z1",
    "PRIVATE_ZONE_DOMAIN": "testnet.internal",
    "INSTANCE_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
    "KEY_LAMBDA_ROLE_ARN": "arn:aws:iam::123456789012:role/k",
    "SECRETS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/k",
    "SECRET_NAME_PREFIX": "testnet",
    "DATA_VOLUME_KMS_KEY_ID": "k",
    "DATA_VOLUME_SIZE_GIB": "100",
    "DATA_VOLUME_IOPS": "3000",
    "DATA_VOLUME_THROUGHPUT_MIBPS": "125",
    "ARTIFACT_BUCKET_NAME": "b",
}
HEALTH_ENV = {
    "REGISTRY_TABLE_NAME": "t",
    "NETWORK_NAME": "testnet",
    "ECS_CLUSTER_NAME": "c",
    "ECS_SERVICE_NAME": "s",
    "AUTOSCALING_GROUP_NAME": "g",
    "CONSENSUS_PROTOCOL": "qbft",
    "RPC_TOKEN_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/k",
    "BLOCK_PERIOD_SECONDS": "2",
}


def test_an_empty_optional_variable_means_unset_in_every_function() -> None:
    """Terraform passes "" for an unset optional input; lifecycle used to reject it while the
    health checker took the default."""
    lifecycle = LifecycleConfig.from_env({**LIFECYCLE_ENV, "DNS_TTL_SECONDS": "  "})
    assert lifecycle.dns_ttl_seconds == LifecycleConfig.from_env(LIFECYCLE_ENV).dns_ttl_seconds
    health = HealthConfig.from_env({**HEALTH_ENV, "RPC_TIMEOUT_SECONDS": ""})
    assert health.rpc_timeout_seconds == HealthConfig.from_env(HEALTH_ENV).rpc_timeout_seconds


def _terraform_range(name: str) -> tuple[int, int]:
    (spec,) = [v for v in NETWORK_VARIABLES if v.name == name]
    condition = spec.validations[0].condition
    low = re.search(rf"var\.{name} >= (\d+)", condition)
    high = re.search(rf"var\.{name} <= (\d+)", condition)
    assert low and high, condition
    return int(low.group(1)), int(high.group(1))


@pytest.mark.parametrize(
    ("variable", "env", "kernel"),
    [
        ("data_volume_size_gib", "DATA_VOLUME_SIZE_GIB", volumes.SIZE_GIB_RANGE),
        ("data_volume_iops", "DATA_VOLUME_IOPS", volumes.IOPS_RANGE),
        (
            "data_volume_throughput_mibps",
            "DATA_VOLUME_THROUGHPUT_MIBPS",
            volumes.THROUGHPUT_MIBPS_RANGE,
        ),
    ],
)
def test_volume_ranges_agree_with_the_terraform_variables(
    variable: str, env: str, kernel: tuple[int, int]
) -> None:
    """The launch hook accepts exactly what Terraform's validation accepts (they disagreed:
    the function allowed 80000 IOPS and 2000 MiB/s, the variables 16000 and 1000)."""
    low, high = _terraform_range(variable)
    assert (low, high) == kernel
    for value in (low, high):
        LifecycleConfig.from_env({**LIFECYCLE_ENV, env: str(value)})
    for value in (low - 1, high + 1):
        with pytest.raises(LifecycleConfigError, match=env):
            LifecycleConfig.from_env({**LIFECYCLE_ENV, env: str(value)})


def test_slot_names_are_the_same_for_synth_and_functions() -> None:
    from lambda_src.keygen.config import KeygenConfig

    assert slots.secret_name("net", 2) == "net/validator-2/key"
    assert slots.host_name(2, "net.besu.internal.") == "validator-2.net.besu.internal"
    assert KeygenConfig.secret_name(_keygen_like("net"), 2) == slots.secret_name("net", 2)
    config = LifecycleConfig.from_env(LIFECYCLE_ENV)
    assert config.host(3) == slots.host_name(3, "testnet.internal")


def _keygen_like(prefix: str) -> object:
    class Shape:
        secret_name_prefix = prefix

    return Shape()


@pytest.mark.parametrize("function", ["lifecycle", "health", "keygen"])
def test_every_zip_ships_the_kernel(function: str, tmp_path: Path) -> None:
    output = tmp_path / f"{function}.zip"
    build_function_package(function, output)
    names = set(zipfile.ZipFile(output).namelist())
    # Every function parses its environment, builds clients and reads slots with the kernel;
    # only the launch hook applies the data-volume ranges (the lean-package test checks the rest).
    kernel = {f"besu_stack/lambda_kernel/{m}.py" for m in ("__init__", "aws", "env", "slots")}
    assert kernel <= names
    assert ("besu_stack/lambda_kernel/volumes.py" in names) == (function == "lifecycle")
    assert "besu_stack/lambda_log.py" in names


def test_the_kernel_imports_without_cdktf(tmp_path: Path) -> None:
    """The functions run without cdktf: the kernel must not import it."""
    code = (
        "import sys, besu_stack.lambda_kernel.aws, besu_stack.lambda_kernel.env, "
        "besu_stack.lambda_kernel.slots, besu_stack.lambda_kernel.volumes; "
        "assert not any(m.startswith(('cdktf', 'constructs')) for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE_ROOT)
