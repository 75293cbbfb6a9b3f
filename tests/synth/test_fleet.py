"""The validator fleet as synthesized: cluster, hosts, rolling limits, task, exposure, snapshots."""

from __future__ import annotations

import base64
import http.server
import json
import math
import re
import shutil
import socketserver
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from besu_stack.besu.bft import max_faulty
from besu_stack.constructs.fleet.node_entrypoint import REFUSAL_MARKER
from besu_stack.rollout import rollout_policy
from besu_stack.settings import Settings
from tests.conftest import StackJson, address_of, ref, resource_at, resources

pytestmark = pytest.mark.synth

SIZES = [1, 4, 5, 7, 10]
PRIVILEGED = ("ADMIN", "IBFT", "QBFT", "TXPOOL", "DEBUG")
AMI_X86 = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
AMI_ARM = "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"


def _fleet(stack: StackJson, kind: str, name: str) -> dict[str, Any]:
    return resource_at(stack, kind, f"fleet/{name}")


def _stack_of(
    n: int, default_stack: StackJson, synth: Callable[[Settings], StackJson]
) -> StackJson:
    if n == Settings().validator_count:
        return default_stack
    # n = 7 shares the QBFT shape other modules synthesize (one synth per shape per session).
    return synth(Settings(validator_count=n, consensus="qbft" if n == 7 else "ibft2"))


def _container(stack: StackJson) -> dict[str, Any]:
    text = _fleet(stack, "aws_ecs_task_definition", "task_definition")["container_definitions"]
    # A Terraform reference as a bare JSON value (the memory) becomes a number; references
    # inside strings stay strings.
    (container,) = json.loads(re.sub(r"(?<=: )\$\{[^{}\"]*\}", "1", text))
    return container


def _script(stack: StackJson) -> str:
    container = _container(stack)
    # sh -c <script> <name>, replacing the image's own entry point; Besu's options follow.
    shell, flag, script, _name = container["entryPoint"]
    assert (shell, flag) == ("/bin/sh", "-c")
    return str(script)


def _command(stack: StackJson) -> list[str]:
    return list(_container(stack)["command"])


def _user_data(stack: StackJson) -> str:
    raw = _fleet(stack, "aws_launch_template", "launch_template")["user_data"]
    return base64.b64decode(raw, validate=True).decode()


# --- cluster and capacity -------------------------------------------------------------------


def test_cluster_has_container_insights_and_uses_the_protected_capacity_provider(
    default_stack: StackJson,
) -> None:
    cluster = _fleet(default_stack, "aws_ecs_cluster", "cluster")
    assert {"name": "containerInsights", "value": "enabled"} in cluster["setting"]
    provider = _fleet(default_stack, "aws_ecs_capacity_provider", "capacity_provider")
    asg_provider = provider["auto_scaling_group_provider"]
    assert asg_provider["auto_scaling_group_arn"] == ref(
        default_stack, "aws_autoscaling_group", "fleet/autoscaling_group", "arn"
    )
    assert asg_provider["managed_termination_protection"] == "ENABLED"
    attached = _fleet(
        default_stack, "aws_ecs_cluster_capacity_providers", "cluster_capacity_providers"
    )
    provider_name = ref(
        default_stack, "aws_ecs_capacity_provider", "fleet/capacity_provider", "name"
    )
    assert attached["cluster_name"] == ref(
        default_stack, "aws_ecs_cluster", "fleet/cluster", "name"
    )
    assert attached["capacity_providers"] == [provider_name]
    assert [s["capacity_provider"] for s in attached["default_capacity_provider_strategy"]] == [
        provider_name
    ]


# --- launch template ------------------------------------------------------------------------


def test_launch_template_hardening(default_stack: StackJson) -> None:
    template = _fleet(default_stack, "aws_launch_template", "launch_template")
    metadata = template["metadata_options"]
    assert metadata["http_tokens"] == "required"
    assert metadata["http_put_response_hop_limit"] == 1
    assert metadata["instance_metadata_tags"] == "enabled"
    assert metadata.get("http_endpoint", "enabled") == "enabled"
    (device,) = template["block_device_mappings"]
    ebs = device["ebs"]
    assert ebs["encrypted"] in (True, "true")
    assert ebs["volume_type"] == "gp3"
    assert ebs["kms_key_id"] == ref(default_stack, "aws_kms_key", "network_key/key", "arn")
    assert template["monitoring"] == {"enabled": True}
    assert "key_name" not in template
    (interface,) = template["network_interfaces"]
    assert interface["associate_public_ip_address"] in (False, "false")
    assert interface["security_groups"] == [
        ref(default_stack, "aws_security_group", "network/node_security_group", "id")
    ]
    assert "vpc_security_group_ids" not in template
    assert template["iam_instance_profile"]["arn"] == ref(
        default_stack, "aws_iam_instance_profile", "fleet/instance_profile", "arn"
    )


def test_ami_comes_from_the_ssm_parameter_of_the_instance_architecture(
    default_stack: StackJson,
) -> None:
    template = _fleet(default_stack, "aws_launch_template", "launch_template")
    ami = address_of(default_stack, "aws_ssm_parameter", "fleet/ecs_ami", block="data")
    assert template["image_id"] == "${" + ami + ".value}"
    name = default_stack["data"]["aws_ssm_parameter"][ami.split(".")[-1]]["name"]
    local = re.fullmatch(r"\$\{local\.(\w+)\}", name)
    assert local, name
    expression = default_stack["locals"][local.group(1)]
    assert AMI_ARM in expression and AMI_X86 in expression
    instance_type = address_of(
        default_stack, "aws_ec2_instance_type", "fleet/instance_type", "data"
    )
    assert f"{instance_type}.supported_architectures" in expression
    assert expression.index(AMI_ARM) < expression.index(AMI_X86)  # arm64 when supported
    assert '"arm64"' in expression


def test_user_data_is_the_host_bootstrap_for_this_cluster(default_stack: StackJson) -> None:
    raw = _fleet(default_stack, "aws_launch_template", "launch_template")["user_data"]
    assert "${" not in raw and "%{" not in raw
    script = _user_data(default_stack)
    assert script.startswith("#!/bin/bash\n")
    cluster_name = _fleet(default_stack, "aws_ecs_cluster", "cluster")["name"]
    assert f"CLUSTER={cluster_name}\n" in script and "ECS_CLUSTER=$CLUSTER" in script
    assert "tag besu:slot" in script
    assert "mount -o noatime" in script and "/var/lib/besu" in script
    assert re.search(r"if ! blkid [^\n]*; then\n[^\n]*\n\s*mkfs\.", script)
    assert script.count("mkfs") == 1
    assert re.search(r"mount -t tmpfs [^\n]* /run/besu", script)
    assert "cat > /etc/besu/node.env" in script
    fetch = script.index("secretsmanager get-secret-value")
    start = script.index("systemctl enable --now --no-block ecs")
    assert script.index("mount -t tmpfs") < fetch < start
    assert script[start:].count("\n") <= 2  # the agent start is the last action


# --- Auto Scaling and the ECS service: never more than f stopped ----------------------------


@pytest.mark.parametrize("n", SIZES)
def test_rolling_limits_follow_the_rollout_policy(
    n: int, default_stack: StackJson, synth_settings: Callable[[Settings], StackJson]
) -> None:
    stack = _stack_of(n, default_stack, synth_settings)
    policy = rollout_policy(n)
    asg = _fleet(stack, "aws_autoscaling_group", "autoscaling_group")
    assert (asg["min_size"], asg["max_size"], asg["desired_capacity"]) == (n, n, n)
    assert asg["health_check_type"] == "EC2"
    assert asg["protect_from_scale_in"] is True
    assert "AZRebalance" in asg["suspended_processes"]
    preferences = asg["instance_refresh"]["preferences"]
    assert preferences["min_healthy_percentage"] == policy.minimum_healthy_percent
    assert preferences["max_healthy_percentage"] == 100

    service = _fleet(stack, "aws_ecs_service", "service")
    assert service["desired_count"] == n
    assert service["deployment_minimum_healthy_percent"] == policy.minimum_healthy_percent
    assert service["deployment_maximum_percent"] == policy.maximum_percent == 100
    assert {"type": "distinctInstance"} in service["placement_constraints"]
    assert service["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert service["load_balancer"] == [
        {
            "container_name": "besu",
            "container_port": 8545,
            "target_group_arn": ref(
                stack, "aws_lb_target_group", "private_link/rpc_target_group", "arn"
            ),
        }
    ]
    assert service["task_definition"] == ref(
        stack, "aws_ecs_task_definition", "fleet/task_definition", "arn"
    )
    if n >= 4:
        f = max_faulty(n)
        for percent in (
            service["deployment_minimum_healthy_percent"],
            preferences["min_healthy_percentage"],
        ):
            assert math.ceil(n * percent / 100) == n - f


# --- task definition ------------------------------------------------------------------------


def test_task_definition_runs_the_verified_entrypoint_on_the_host_network(
    default_stack: StackJson,
) -> None:
    task = _fleet(default_stack, "aws_ecs_task_definition", "task_definition")
    assert task["network_mode"] == "host"
    assert task["requires_compatibilities"] == ["EC2"]
    text = task["container_definitions"]
    assert '"memory": ${var.besu_memory_mib}' in text
    assert "%{" not in text  # no accidental Terraform template directive
    container = _container(default_stack)
    image_local = re.fullmatch(r"\$\{local\.(\w+)\}", container["image"])
    assert image_local and image_local.group(1).startswith("fleet_besu_image")
    assert "var.besu_image_tag" in default_stack["locals"][image_local.group(1)]
    probe = container["healthCheck"]["command"]
    # CMD with an explicit bash: /dev/tcp is a bash feature, the image's /bin/sh may be dash.
    assert probe[:3] == ["CMD", "/bin/bash", "-c"] and "/liveness" in probe[3]
    script = _script(default_stack)
    assert REFUSAL_MARKER in script
    arguments = dict(a.split("=", 1) for a in _command(default_stack))
    apis_local = re.fullmatch(r"\$\{local\.(\w+)\}", arguments["--rpc-http-api"])
    assert apis_local
    assert default_stack["locals"][apis_local.group(1)] == '${join(",", var.rpc_consumer_apis)}'
    assert arguments["--data-storage-format"] == "${var.besu_data_storage_format}"
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert list(env) == ["BESU_OPTS"]
    assert "${var.besu_jvm_heap_mib}" in env["BESU_OPTS"]
    # The image's besu user (docker/Dockerfile, Besu 25.11.0), not root.
    assert container["user"] == "1000:1000"
    mounts = {m["containerPath"]: m for m in container["mountPoints"]}
    assert mounts["/run/besu"]["readOnly"] is True
    assert mounts["/etc/besu"]["readOnly"] is True
    volumes = {v["name"]: v["host_path"] for v in task["volume"]}
    assert volumes[mounts["/run/besu"]["sourceVolume"]] == "/run/besu"
    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == ref(
        default_stack, "aws_cloudwatch_log_group", "fleet/node_logs", "name"
    )
    (heap,) = task["lifecycle"]["precondition"]
    assert "var.besu_jvm_heap_mib" in heap["condition"]
    assert "var.besu_memory_mib" in heap["condition"]
    assert "besu_jvm_heap_mib" in heap["error_message"]


class _Liveness(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/liveness" else 404)
        self.end_headers()
        self.wfile.write(b'{"status":"UP"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def liveness_port() -> Iterator[int]:
    server = socketserver.TCPServer(("127.0.0.1", 0), _Liveness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _probe(stack: StackJson, shell: str, port: int) -> subprocess.CompletedProcess[str]:
    command = _container(stack)["healthCheck"]["command"][-1]
    assert "/8545" in command
    return subprocess.run(
        [shell, "-c", command.replace("/8545", f"/{port}")],
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_liveness_probe_passes_against_a_live_node_under_bash(
    default_stack: StackJson, liveness_port: int
) -> None:
    assert _probe(default_stack, "bash", liveness_port).returncode == 0


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash not installed")
def test_liveness_probe_is_not_left_to_a_posix_sh(
    default_stack: StackJson, liveness_port: int
) -> None:
    """The probe needs bash (dash, the /bin/sh of Ubuntu images, fails it), so the task must
    name bash explicitly rather than use CMD-SHELL."""
    assert _probe(default_stack, "dash", liveness_port).returncode != 0
    assert _container(default_stack)["healthCheck"]["command"][1] == "/bin/bash"


# --- method exposure: consumer surfaces never carry admin or consensus methods ---------------


def test_consumer_api_variable_admits_only_read_and_transact_groups(
    default_stack: StackJson,
) -> None:
    variable = default_stack["variable"]["rpc_consumer_apis"]
    assert variable["default"] == ["ETH", "NET", "WEB3"]
    conditions = " ".join(v["condition"] for v in variable["validation"])
    (allowed,) = re.findall(r"contains\(\[([^\]]*)\], api\)", conditions)
    assert sorted(json.loads(f"[{allowed}]")) == ["ETH", "NET", "TRACE", "WEB3"]
    assert "alltrue(" in conditions
    for group in PRIVILEGED:
        assert f'"{group}"' not in conditions


def test_the_nlb_forwards_only_the_consumer_rpc_ports(default_stack: StackJson) -> None:
    groups = resources(default_stack, "aws_lb_target_group")
    listeners = resources(default_stack, "aws_lb_listener")
    assert groups and listeners
    assert {g["port"] for g in groups.values()} <= {8545, 8546}
    assert {listener["port"] for listener in listeners.values()} <= {8545, 8546}
    forwarded = {
        action["target_group_arn"].split(".")[1].split("[")[0]
        for listener in listeners.values()
        for action in listener["default_action"]
    }
    assert forwarded <= set(groups)
    rpc = resource_at(default_stack, "aws_lb_target_group", "private_link/rpc_target_group")
    assert rpc["port"] == 8545


def test_admin_and_consensus_apis_only_on_the_internal_port_reached_by_the_health_checker(
    default_stack: StackJson,
) -> None:
    arguments = _command(default_stack)
    carrying = [a for a in arguments if any(g in a for g in PRIVILEGED)]
    assert carrying == ["--rpc-ws-api=ETH,NET,IBFT"]
    assert "--rpc-ws-port=8547" in arguments
    assert "--rpc-http-port=8545" in arguments
    node_sg = ref(default_stack, "aws_security_group", "network/node_security_group", "id")
    checker_sg = ref(
        default_stack, "aws_security_group", "network/health_checker_security_group", "id"
    )
    admitting = [
        rule
        for rule in resources(default_stack, "aws_vpc_security_group_ingress_rule").values()
        if rule.get("from_port", 0) <= 8547 <= rule.get("to_port", 65535)
        and rule.get("ip_protocol") in ("tcp", "-1")
    ]
    assert admitting, "no rule admits 8547"
    assert all(r["security_group_id"] == node_sg for r in admitting)
    assert [r.get("referenced_security_group_id") for r in admitting] == [checker_sg]
    assert not any("cidr_ipv4" in r or "prefix_list_id" in r for r in admitting)


def test_key_refusals_are_counted_from_the_node_logs(default_stack: StackJson) -> None:
    metric_filter = _fleet(default_stack, "aws_cloudwatch_log_metric_filter", "key_refusals")
    assert metric_filter["log_group_name"] == ref(
        default_stack, "aws_cloudwatch_log_group", "fleet/node_logs", "name"
    )
    assert metric_filter["pattern"] == f'"{REFUSAL_MARKER}"'
    assert metric_filter["metric_transformation"]["value"] == "1"
    assert REFUSAL_MARKER in _script(default_stack)


# --- snapshots and the instance role --------------------------------------------------------


def test_snapshots_target_the_data_volumes_on_the_variable_schedule(
    default_stack: StackJson,
) -> None:
    policy = _fleet(default_stack, "aws_dlm_lifecycle_policy", "snapshots")
    assert policy["state"] == "ENABLED"
    details = policy["policy_details"]
    assert details["resource_types"] == ["VOLUME"]
    assert details["target_tags"] == {"Network": "besu"}
    (schedule,) = details["schedule"]
    assert schedule["create_rule"]["interval"] == "${var.snapshot_interval_hours}"
    assert schedule["create_rule"]["interval_unit"] == "HOURS"
    assert schedule["retain_rule"]["count"] == "${var.snapshot_retention_count}"
    assert policy["execution_role_arn"] == ref(
        default_stack, "aws_iam_role", "fleet/snapshot_role", "arn"
    )


def test_instance_role_has_no_managed_policy_and_wildcards_only_where_documented(
    default_stack: StackJson,
) -> None:
    """Issue 13 item 5: no AWS-managed policy; "*" only for actions without resource-level
    permissions (each listed in a statement whose code comment says so)."""
    from besu_stack.constructs.fleet.reference import ECS_AGENT_DOC

    assert ECS_AGENT_DOC.startswith("https://docs.aws.amazon.com/")
    role_name = ref(default_stack, "aws_iam_role", "fleet/instance_role", "name")
    role_id = ref(default_stack, "aws_iam_role", "fleet/instance_role", "id")
    attached = [
        a
        for a in resources(default_stack, "aws_iam_role_policy_attachment").values()
        if a["role"] in (role_id, role_name)
    ]
    assert attached == []
    profile = _fleet(default_stack, "aws_iam_instance_profile", "instance_profile")
    assert profile["role"] == role_name
    inline = [
        p
        for p in resources(default_stack, "aws_iam_role_policy").values()
        if p["role"] in (role_id, role_name)
    ]
    assert inline
    without_resources = {
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeTags",
        "ecr:GetAuthorizationToken",
        "ecs:DiscoverPollEndpoint",
        "cloudwatch:PutMetricData",
    }
    without_resources |= {
        f"ec2messages:{a}"
        for a in ("AcknowledgeMessage", "DeleteMessage", "FailMessage", "GetEndpoint")
    }
    without_resources |= {"ec2messages:GetMessages", "ec2messages:SendReply"}
    without_resources |= {
        f"ssmmessages:{a}"
        for a in (
            "CreateControlChannel",
            "CreateDataChannel",
            "OpenControlChannel",
            "OpenDataChannel",
        )
    }
    for policy in inline:
        for statement in json.loads(policy["policy"])["Statement"]:
            actions = statement["Action"]
            actions = set(actions if isinstance(actions, list) else [actions])
            listed = statement["Resource"]
            listed = listed if isinstance(listed, list) else [listed]
            if "*" in listed:
                assert actions <= without_resources, statement
            assert not any(r == "arn:aws:*" for r in listed), statement


def test_capacity_provider_uses_managed_scaling_which_termination_protection_requires(
    default_stack: StackJson,
) -> None:
    provider = _fleet(default_stack, "aws_ecs_capacity_provider", "capacity_provider")
    group = provider["auto_scaling_group_provider"]
    assert group["managed_termination_protection"] == "ENABLED"
    assert group["managed_scaling"]["status"] == "ENABLED"
    assert group["managed_scaling"]["target_capacity"] == 100


def test_reserved_lambda_concurrency_fits_an_account_limit_of_19(default_stack: StackJson) -> None:
    """The README tells operators the account needs a Lambda concurrency limit of 19: AWS keeps
    10 unreserved, so the functions may reserve 9 in all."""
    reserved = [
        f["reserved_concurrent_executions"]
        for f in resources(default_stack, "aws_lambda_function").values()
    ]
    assert all(r >= 1 for r in reserved)
    assert sum(reserved) == 9


def test_the_peer_name_wait_ends_inside_the_health_check_start_period(
    default_stack: StackJson,
) -> None:
    """ECS counts failed health checks only after startPeriod; the entry point's bounded wait for
    peer names plus Besu's own start must fit in it, or ECS replaces a task that is waiting."""
    from besu_stack.constructs.fleet.node_entrypoint import DNS_WAIT_SECONDS

    check = _container(default_stack)["healthCheck"]
    assert check["startPeriod"] <= 300  # the ECS maximum
    assert check["startPeriod"] >= DNS_WAIT_SECONDS + 90
