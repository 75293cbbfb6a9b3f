"""The examples planned against the emulated account, asserted on evaluated values.

What Terraform expressions hide in the synthesized JSON (``for_each`` expansions, conditionals
on variables) is checked here on the values Terraform computed (``terraform show -json``), for
each example. The default network's plan is the rehearsal's (``test_rehearsal.py``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from besu_stack.rehearsal.moto_server import MotoServer, write_provider_override
from besu_stack.rehearsal.terraform import Terraform
from besu_stack.settings import Settings
from tests.terraform.conftest import consumer_example, load_example
from tests.terraform.plans import Plan, only, planned

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]


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
