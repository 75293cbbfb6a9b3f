"""The functions run on the oldest botocore their trimmed models claim (the floor).

The deployment packages carry service models cut from the pinned botocore
(:mod:`besu_stack.service_models`), but on Lambda the botocore is the runtime's, which may be
older. The kernel uses the trimmed models only from ``SERVICE_MODELS_MIN_BOTOCORE`` on
(``besu_stack/lambda_kernel/aws.py``). Here each function runs from its deployment package as the
rehearsal runs it (:mod:`besu_stack.rehearsal.lambda_executor`: a fresh process with only the
package and the runtime's SDK importable), with botocore at exactly that floor in place of this
environment's, against the shimmed moto server: key generation, the launch hook, the reconciler,
the termination hook, and two health-checker runs that end in a task restart. Between them they
send requests in every protocol the trimmed models are spoken in (``json``, ``query``, ``ec2``,
``rest-xml``; CloudWatch's model offers ``smithy-rpc-v2-cbor`` too, but from 1.38.31 botocore
prefers ``json``, as the pinned one does).

The floor's botocore is installed by ``make setup`` into ``.build/lambda-sdk/botocore-<floor>``
(``pip install --no-deps --target``); without it these tests skip, and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from besu_stack.lambda_kernel.aws import SERVICE_MODELS_MIN_BOTOCORE
from besu_stack.lambda_package import build_function_package
from besu_stack.rehearsal.lambda_executor import prepare_package, run_function
from besu_stack.rehearsal.moto_server import MotoServer

from .conftest import REGION
from .health_fixtures import (
    FakeNetwork,
    besu_network,
    health_env,
    make_health_aws,
    make_rpc_token_key,
)
from .keygen_fixtures import keygen_environment
from .lifecycle_fixtures import ACCOUNT, build_world, lifecycle_env, lifecycle_event

pytestmark = pytest.mark.moto
__all__ = ["besu_network"]  # fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
FLOOR = ".".join(str(part) for part in SERVICE_MODELS_MIN_BOTOCORE)
FLOOR_SDK = ROOT / ".build" / "lambda-sdk" / f"botocore-{FLOOR}"


@pytest.fixture(scope="module")
def floor_sdk() -> Path:
    """The directory holding botocore at the floor; skips (fails under CI) without it."""
    if not (FLOOR_SDK / "botocore" / "__init__.py").is_file():
        message = f"botocore {FLOOR} is not in {FLOOR_SDK}: run `make setup`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return FLOOR_SDK


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    """The shimmed moto server (it completes lifecycle actions, which moto does not)."""
    with MotoServer() as running:
        yield running


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("floor-packages")
    built = {}
    for name in ("health", "keygen", "lifecycle"):
        build_function_package(name, out / f"{name}.zip")
        built[name] = (out / f"{name}.zip").read_bytes()
    return built


@pytest.fixture
def account(server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """An empty emulated account; this process's boto3 clients arrange and inspect it."""
    server.reset()
    for name, value in server.client_environment().items():
        monkeypatch.setenv(name, value)
    return server


class Runner:
    """Runs a package's handler once, as Lambda would, on botocore at the floor."""

    def __init__(self, server: MotoServer, sdk: Path, packages: dict[str, bytes]) -> None:
        self._server = server
        self._sdk = sdk
        self._packages = packages

    def __call__(self, package: str, handler: str, env: dict[str, str], event: Any) -> Any:
        code_zip = self._packages[package]
        _, overlay = prepare_package(code_zip, self._sdk)
        assert (overlay / "botocore").resolve() == (self._sdk / "botocore").resolve()
        invocation = run_function(
            function_name=f"floor-{package}",
            code_zip=code_zip,
            handler=handler,
            environment=env,
            timeout_seconds=300,  # the functions' own timeout: their time budgets need it
            event=json.dumps(event).encode(),
            endpoint=self._server.endpoint,
            region=REGION,
            runtime_sdk=self._sdk,
        )
        assert not invocation.function_error, (invocation.result, invocation.logs[-3000:])
        return json.loads(invocation.result)


@pytest.fixture
def run(account: MotoServer, floor_sdk: Path, packages: dict[str, bytes]) -> Runner:
    return Runner(account, floor_sdk, packages)


def test_key_generation(run: Runner, account: MotoServer) -> None:
    kms = account.client("kms")
    key = str(kms.create_key(Description="floor")["KeyMetadata"]["KeyId"])
    env = keygen_environment(account.client("dynamodb"), account.client("s3"), key, prefix="floor")
    result = run("keygen", "keygen.handler.handler", env, {"validator_count": 4})
    assert result["created_slots"] == [0, 1, 2, 3]
    secrets = account.client("secretsmanager").list_secrets()["SecretList"]
    assert sorted(s["Name"] for s in secrets) == [f"floor/validator-{i}/key" for i in range(4)]
    assert len(account.client("dynamodb").scan(TableName="floor-registry")["Items"]) == 4
    genesis = account.client("s3").get_object(Bucket="floor-artifacts", Key="genesis.json")
    assert json.loads(genesis["Body"].read())["config"]["chainId"] == 1337


def test_launch_reconcile_and_termination(run: Runner, account: MotoServer) -> None:
    w = build_world()
    env = {**lifecycle_env(w.config.volume_kms_key_id, w.zone_id), "VOLUME_WAIT_SECONDS": "30"}
    instance_id = w.launch("eu-west-1a")

    launched = run(
        "lifecycle", "lifecycle.launch_handler.handler", env, lifecycle_event(instance_id)
    )
    assert launched["result"] == "CONTINUE", launched
    slot = launched["slot"]
    assert w.record(slot).owner_instance_id == instance_id
    assert w.a_record(slot) == w.instance(instance_id)["PrivateIpAddress"]
    assert w.secret_owner(slot) == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"

    scheduled = {"account": ACCOUNT, "region": REGION, "resources": []}
    reconciled = run("lifecycle", "lifecycle.reconcile_handler.handler", env, scheduled)
    assert reconciled["released_slots"] == []
    assert reconciled["counts"]["SlotsInUse"] == 1.0

    w.ec2.terminate_instances(InstanceIds=[instance_id])
    terminated = run(
        "lifecycle",
        "lifecycle.termination_handler.handler",
        env,
        lifecycle_event(instance_id, "terminate"),
    )
    assert terminated["result"] == "CONTINUE"
    assert terminated["released_slots"] == [slot]
    assert w.record(slot).owner_instance_id is None
    metrics = w.cloudwatch.list_metrics(Namespace="Test")["Metrics"]
    assert "SlotsInUse" in {m["MetricName"] for m in metrics}


def test_health_checker_restarts_a_failing_node(
    run: Runner, account: MotoServer, besu_network: FakeNetwork
) -> None:
    net = besu_network
    for _ in range(3):
        net.add()
    net.add(peers=0)  # fails every check: too few peers
    side = make_health_aws(len(net.nodes))
    for node in net.nodes:
        side.register(node.slot, node.port)
    env = health_env(FAILURES_BEFORE_ACTION="2", RPC_TOKEN_KEY_ARN=make_rpc_token_key())
    first = run("health", "health.handler.handler", env, {})
    assert {node["slot"]: node["reasons"] for node in first["nodes"]} == {
        0: [],
        1: [],
        2: [],
        3: ["too_few_peers"],
    }
    net.advance(30)
    second = run("health", "health.handler.handler", env, {})
    decisions = {node["slot"]: node["decision"] for node in second["nodes"]}
    assert decisions == {0: "none", 1: "none", 2: "none", 3: "restart_task"}
    assert side.task_status(3) == "STOPPED"
    metrics = side.cloudwatch.list_metrics(Namespace="BesuStack")["Metrics"]
    assert "Remediations" in {m["MetricName"] for m in metrics}
