"""Plans against the emulated account, asserted on evaluated values (``terraform show -json``).

What Terraform expressions hide in the synthesized JSON (``for_each`` expansions, conditionals
on variables, the user data and the container command after interpolation) is checked here on
the values Terraform computed, for the default network (the rehearsal's plan) and each example.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from besu_stack.besu.command_line import (
    RUNTIME_LOAD_BALANCER_IPS,
    RUNTIME_NODE_HOST,
    RUNTIME_PRIVATE_IP,
)
from besu_stack.rehearsal.moto_server import MotoServer, write_provider_override
from besu_stack.rehearsal.terraform import Terraform
from besu_stack.settings import Settings
from tests.support.tokens import LocalSigningKey
from tests.synth.test_node_conformance import (
    check_command_line,
    check_environment,
    check_p2p_host,
    check_port_mappings,
    container_environment,
)
from tests.terraform.conftest import Snapshots, consumer_example, load_example

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]
Plan = dict[str, Any]


def planned(plan: Plan, kind: str) -> list[dict[str, Any]]:
    """Planned resources of one type (every module), with their evaluated values."""
    found: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        found.extend(r for r in module.get("resources", []) if r["type"] == kind)
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan["planned_values"]["root_module"])
    return found


def only(plan: Plan, kind: str) -> dict[str, Any]:
    (resource,) = planned(plan, kind)
    return dict(resource["values"])


def assert_fully_evaluated(values: object, where: str) -> None:
    assert "${" not in json.dumps(values), f"{where} still holds an unevaluated expression"


@pytest.fixture(scope="session")
def default_plan(rehearsed: tuple[Any, Snapshots]) -> Plan:
    return rehearsed[1].plan


def plan_example(
    name: str,
    moto: MotoServer,
    copy_module: Callable[..., Terraform],
    tmp_path: Path,
    variables: dict[str, object] | None = None,
) -> Plan:
    example = load_example(name)
    example.build(tmp_path / "cdktf.out").synth()
    (stack,) = sorted((tmp_path / "cdktf.out" / "stacks").iterdir())
    tf = copy_module(stack, name, env=moto.isolated_environment())
    tfvars = ROOT / "examples" / name / "terraform.tfvars"
    if tfvars.exists():
        shutil.copy(tfvars, tf.workdir / "terraform.tfvars")
    write_provider_override(tf.workdir)
    tf.init()
    tf.plan(variables=variables)
    return tf.show_plan()


# --- the default network ---------------------------------------------------------------------


def test_one_interface_endpoint_per_service_in_every_node_subnet(default_plan: Plan) -> None:
    subnets = planned(default_plan, "aws_subnet")
    assert len(subnets) == 3
    endpoints = planned(default_plan, "aws_vpc_endpoint")
    interface = [e for e in endpoints if e["values"]["vpc_endpoint_type"] == "Interface"]
    gateway = [e for e in endpoints if e["values"]["vpc_endpoint_type"] == "Gateway"]
    assert {e["values"]["service_name"] for e in gateway} == {
        "com.amazonaws.eu-west-1.s3",
        "com.amazonaws.eu-west-1.dynamodb",
    }
    services = {e["values"]["service_name"] for e in interface}
    assert len(services) == len(interface) >= 8
    assert all(s.startswith("com.amazonaws.eu-west-1.") for s in services)
    for endpoint in interface:
        assert endpoint["values"]["private_dns_enabled"] is True


def test_the_rpc_listener_is_plain_tcp_without_a_certificate(default_plan: Plan) -> None:
    (listener,) = [
        r["values"] for r in planned(default_plan, "aws_lb_listener") if r["values"]["port"] == 8545
    ]
    assert listener["protocol"] == "TCP"
    assert listener.get("certificate_arn") is None and listener.get("ssl_policy") is None


def test_the_rendered_container_passes_besus_rules(default_plan: Plan, tmp_path: Path) -> None:
    task = only(default_plan, "aws_ecs_task_definition")
    assert_fully_evaluated(task["container_definitions"], "container_definitions")
    (container,) = json.loads(task["container_definitions"])
    # The entry point fills the runtime placeholders, and only those (test_node_conformance).
    samples = {
        RUNTIME_PRIVATE_IP: "10.42.64.4",
        RUNTIME_NODE_HOST: "validator-0.besu.besu.internal",
        RUNTIME_LOAD_BALANCER_IPS: "10.42.0.5,10.42.32.6,10.42.64.7",
    }
    command = [_fill(argument, samples) for argument in container["command"]]
    # The entry point puts the slot's verified key at the key path before Besu starts.
    key_file = tmp_path / "key"
    key_file.write_text("0x" + "4d" * 32, encoding="utf-8")
    command = [
        f"--node-private-key-file={key_file}" if a.startswith("--node-private-key-file=") else a
        for a in command
    ]
    assert any(a.startswith("--node-private-key-file=") for a in command)
    # The host bootstrap writes the RPC token key's public key (test_host_bootstrap.py).
    pem = tmp_path / "rpc-token-key.pem"
    pem.write_bytes(LocalSigningKey().public_key_pem)
    option = "--rpc-ws-authentication-jwt-public-key-file="
    assert any(a.startswith(option) for a in command)
    command = [f"{option}{pem}" if a.startswith(option) else a for a in command]
    environment = container_environment(container)
    check_command_line(command, environment)
    ours = {e["name"]: e["value"] for e in container.get("environment", [])}
    image = {k: v for k, v in environment.items() if k not in ours}
    check_environment(command, ours, image)
    check_p2p_host(command)
    service = only(default_plan, "aws_ecs_service")
    check_port_mappings(task, container, service)
    assert container["image"].endswith(".dkr.ecr.eu-west-1.amazonaws.com/besu:25.11.0")


def _fill(argument: str, samples: dict[str, str]) -> str:
    for placeholder, value in samples.items():
        argument = argument.replace(placeholder, value)
    return argument


def test_the_user_data_is_rendered_for_this_cluster(default_plan: Plan) -> None:
    template = only(default_plan, "aws_launch_template")
    script = base64.b64decode(template["user_data"]).decode()
    # Shell ${...} is the script's own; no Terraform reference may be left unevaluated.
    assert not re.search(r"\$\{(var|local|data|aws_[a-z0-9_]+|module)\.", script)
    assert "besu-validators" in script
    assert template["metadata_options"][0]["http_tokens"] == "required"


# --- the examples ----------------------------------------------------------------------------


def test_the_qbft_example_plans_seven_validators_behind_tls(
    moto: MotoServer, copy_module: Callable[..., Terraform], tmp_path: Path
) -> None:
    plan = plan_example("qbft-seven-validators", moto, copy_module, tmp_path)
    assert len(planned(plan, "aws_secretsmanager_secret")) == 7
    (listener,) = [
        r["values"] for r in planned(plan, "aws_lb_listener") if r["values"]["port"] == 8545
    ]
    assert listener["protocol"] == "TLS"
    assert listener["certificate_arn"].startswith("arn:aws:acm:")
    assert listener["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    assert only(plan, "aws_ecs_service")["deployment_minimum_healthy_percent"] == 71
    assert only(plan, "aws_autoscaling_group")["max_size"] == 7


def test_the_composition_example_plans_an_app_endpoint_to_the_network(
    moto: MotoServer, copy_module: Callable[..., Terraform], tmp_path: Path
) -> None:
    plan = plan_example("cdktf-composition", moto, copy_module, tmp_path)
    apps = [
        e["values"]
        for e in planned(plan, "aws_vpc_endpoint")
        if e["address"].startswith("aws_vpc_endpoint.app_to_besu")
    ]
    assert len(apps) == 1 and apps[0]["vpc_endpoint_type"] == "Interface"
    assert len(planned(plan, "aws_vpc")) == 2  # the network's and the application's


def test_the_existing_vpc_example_plans_into_the_given_subnets(
    moto: MotoServer, copy_module: Callable[..., Terraform], tmp_path: Path
) -> None:
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.60.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("abc")
    ]
    for subnet in subnets:
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    plan = plan_example(
        "existing-vpc",
        moto,
        copy_module,
        tmp_path,
        variables={"existing_vpc_id": vpc, "existing_subnet_ids": subnets},
    )
    assert not planned(plan, "aws_vpc") and not planned(plan, "aws_subnet")
    interface = [
        e["values"]
        for e in planned(plan, "aws_vpc_endpoint")
        if e["values"]["vpc_endpoint_type"] == "Interface"
    ]
    assert interface and all(sorted(e["subnet_ids"]) == sorted(subnets) for e in interface)
    assert set(only(plan, "aws_lb")["subnets"]) == set(subnets)


def test_the_terraform_consumer_plans_the_registry_module(
    moto: MotoServer, terraform_binary: Path, tmp_path: Path
) -> None:
    tf = consumer_example(tmp_path, terraform_binary, moto.isolated_environment())
    target = tf.workdir
    # The example's S3 backend is not reachable here: an override file replaces it with local
    # state (https://developer.hashicorp.com/terraform/language/files/override).
    (target / "local_backend_override.tf.json").write_text(
        json.dumps({"terraform": {"backend": {"local": {}}}}), encoding="utf-8"
    )
    write_provider_override(target)
    tf.init()
    tf.plan()
    plan = tf.show_plan()
    secrets = planned(plan, "aws_secretsmanager_secret")
    assert len(secrets) == 4
    assert all(r["address"].startswith("module.besu_network.") for r in secrets)
    (container,) = json.loads(only(plan, "aws_ecs_task_definition")["container_definitions"])
    assert container["memory"] == 12288  # the consumer's besu_memory_mib reached the task


def test_adopted_key_secrets_are_read_not_created(
    moto: MotoServer,
    copy_module: Callable[..., Terraform],
    synth_outdir: Callable[[Settings], Path],
) -> None:
    # Bring your own keys (README): the operator creates the slot secrets before the first
    # apply; the stack reads them with data sources and only writes their policies.
    settings = Settings(network_name="adopt", key_secrets="adopt")
    secrets = moto.client("secretsmanager")
    arns = [
        secrets.create_secret(
            Name=f"adopt/validator-{slot}/key", SecretString="0x" + f"{slot + 1:02x}" * 32
        )["ARN"]
        for slot in range(settings.validator_count)
    ]
    tf = copy_module(
        synth_outdir(settings) / "stacks" / "adopt", "adopt", env=moto.isolated_environment()
    )
    write_provider_override(tf.workdir)
    tf.init()
    tf.plan()
    plan = tf.show_plan()
    assert not planned(plan, "aws_secretsmanager_secret")
    policies = planned(plan, "aws_secretsmanager_secret_policy")
    assert sorted(p["values"]["secret_arn"] for p in policies) == sorted(arns)
