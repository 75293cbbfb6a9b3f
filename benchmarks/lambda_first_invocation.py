"""Benchmark: each Lambda function's first real invocation, in CPU seconds, against moto.

Where ``lambda_cold_start.py`` stubs the AWS calls away, this runs the functions' whole first
invocation: each package built as the synth builds it, each invocation a fresh process that has
only the package and the runtime's SDK importable (the rehearsal's executor,
``besu_stack.rehearsal.lambda_executor``), against the shimmed moto server of ``besu-stack
rehearse``, on the accounts the Lambda tests arrange (``tests/lambdas``):

* ``keygen``: four validator keys, the registry and the genesis, from an empty account;
* ``launch`` / ``reconcile`` / ``terminate``: a launched instance takes a slot (volume,
  DNS record, secret policy), the reconciler runs, the instance is terminated and released;
* ``health``: four fake Besu nodes, all healthy, checked once.

The figure is the CPU time of the function's process (``getrusage`` of the finished child:
interpreter start, imports, clients, the run), not the wall clock, which here is mostly moto's
answers and other work on the machine. ``import boto3`` is timed the same way (a fresh process
with the same runtime packages) for the ratio. Median of ``--runs`` fresh accounts.

    .venv/bin/python benchmarks/lambda_first_invocation.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from besu_stack.lambda_package import build_function_package  # noqa: E402
from besu_stack.rehearsal.lambda_executor import prepare_package, run_function  # noqa: E402
from besu_stack.rehearsal.moto_server import REGION, MotoServer  # noqa: E402
from tests.lambdas.health_fixtures import (  # noqa: E402
    FakeNetwork,
    health_env,
    make_health_aws,
    make_rpc_token_key,
)
from tests.lambdas.keygen_fixtures import keygen_environment  # noqa: E402
from tests.lambdas.lifecycle_fixtures import (  # noqa: E402
    ACCOUNT,
    build_world,
    lifecycle_env,
    lifecycle_event,
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Bench:
    """Runs packages' handlers once each in fresh processes and records their CPU seconds."""

    def __init__(self, server: MotoServer, packages: dict[str, bytes]) -> None:
        self.server = server
        self.packages = packages
        self.cpu: dict[str, list[float]] = {}

    def run(self, label: str, package: str, handler: str, env: dict[str, str], event: Any) -> Any:
        code_zip = self.packages[package]
        prepare_package(code_zip)
        before = _children_cpu()
        invocation = run_function(
            function_name=label,
            code_zip=code_zip,
            handler=handler,
            environment=env,
            timeout_seconds=300,
            event=json.dumps(event).encode(),
            endpoint=self.server.endpoint,
            region=REGION,
        )
        self.cpu.setdefault(label, []).append(_children_cpu() - before)
        if invocation.function_error:
            sys.exit(f"{label} failed: {invocation.result.decode()}\n{invocation.logs[-2000:]}")
        return json.loads(invocation.result)

    def boto3_import(self) -> None:
        _, overlay = prepare_package(self.packages["lifecycle"])
        before = _children_cpu()
        subprocess.run(
            [sys.executable, "-S", "-s", "-c", "import boto3"],
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(overlay)},
            check=True,
        )
        self.cpu.setdefault("import boto3", []).append(_children_cpu() - before)


def _keygen(bench: Bench) -> None:
    server = bench.server
    key = str(server.client("kms").create_key()["KeyMetadata"]["KeyId"])
    env = keygen_environment(server.client("dynamodb"), server.client("s3"), key, prefix="bench")
    bench.run("keygen", "keygen", "keygen.handler.handler", env, {"validator_count": 4})


def _lifecycle(bench: Bench) -> None:
    world = build_world()
    env = {**lifecycle_env(world.config.volume_kms_key_id, world.zone_id)}
    instance_id = world.launch(f"{REGION}a")
    launched = bench.run(
        "launch", "lifecycle", "lifecycle.launch_handler.handler", env, lifecycle_event(instance_id)
    )
    if launched.get("result") != "CONTINUE":
        sys.exit(f"the launch hook answered {launched}")
    scheduled = {"account": ACCOUNT, "region": REGION, "resources": []}
    bench.run("reconcile", "lifecycle", "lifecycle.reconcile_handler.handler", env, scheduled)
    world.ec2.terminate_instances(InstanceIds=[instance_id])
    bench.run(
        "terminate",
        "lifecycle",
        "lifecycle.termination_handler.handler",
        env,
        lifecycle_event(instance_id, "terminate"),
    )


def _health(bench: Bench) -> None:
    network = FakeNetwork()
    try:
        for _ in range(4):
            network.add()
        side = make_health_aws(4)
        for node in network.nodes:
            side.register(node.slot, node.port)
        env = health_env(RPC_TOKEN_KEY_ARN=make_rpc_token_key())
        bench.run("health", "health", "health.handler.handler", env, {})
    finally:
        network.stop()


SCENARIOS: tuple[Callable[[Bench], None], ...] = (_keygen, _lifecycle, _health)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="besu-first-call-") as tmp:
        packages = {}
        for name in ("health", "keygen", "lifecycle"):
            build_function_package(name, Path(tmp) / f"{name}.zip")
            packages[name] = (Path(tmp) / f"{name}.zip").read_bytes()
        with MotoServer() as server:
            os.environ.update(server.client_environment())
            bench = Bench(server, packages)
            for _ in range(args.runs):
                bench.boto3_import()
                for scenario in SCENARIOS:
                    server.reset()
                    scenario(bench)
    baseline = statistics.median(bench.cpu.pop("import boto3"))
    print(
        f"first real invocation in CPU seconds (fresh process), median of {args.runs} "
        f"(python {platform.python_version()}, {platform.machine()}); "
        f"import boto3 the same way: {baseline:.3f} s"
    )
    for label in ("keygen", "launch", "reconcile", "terminate", "health"):
        seconds = statistics.median(bench.cpu[label])
        print(f"  {label:<10} {seconds:6.3f} s  {seconds / baseline:5.2f}x import boto3")


if __name__ == "__main__":
    main()
