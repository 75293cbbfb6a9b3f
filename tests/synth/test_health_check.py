"""The deep health check construct: schedule, permission, environment, scoped IAM, checkov.

The construct is synthesized on its own in a small stack (literal cluster, service and group
names; a literal key ARN), once for the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackJson, address_of, only_resource, read_stack, resources

pytestmark = pytest.mark.synth

STACK = "health-test"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"


def synth_health_check(outdir: Path) -> Path:
    """An app with one stack holding a registry and the health check (imports cdktf lazily)."""
    from cdktf import App, TerraformStack, TerraformVariable
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from besu_stack.constructs.fleet.reference import FleetReference
    from besu_stack.constructs.health_check import HealthCheck, HealthThresholds
    from besu_stack.constructs.identity import NetworkIdentity
    from besu_stack.constructs.kms import KeyGrants
    from besu_stack.constructs.naming import Naming
    from besu_stack.constructs.platform import Platform
    from besu_stack.constructs.registry import ValidatorRegistry
    from besu_stack.constructs.rpc_token_key import RpcTokenKey

    app = App(outdir=str(outdir))
    stack = TerraformStack(app, STACK)
    AwsProvider(stack, "aws", region="eu-west-1")
    naming = Naming("testnet")
    block_period = TerraformVariable(stack, "block_period_seconds", type="number", default=2)
    failures = TerraformVariable(
        stack, "health_check_failures_before_action", type="number", default=3
    )
    enabled = TerraformVariable(
        stack, "health_check_remediation_enabled", type="bool", default=True
    )
    platform = Platform(stack, "platform")
    identity = NetworkIdentity(naming, platform)
    key = KeyGrants(KEY_ARN, platform)
    registry = ValidatorRegistry(stack, "registry", identity=identity, key=key)
    rpc_token_key = RpcTokenKey(stack, "rpc_token_key", identity=identity, deletion_window_days=30)
    HealthCheck(
        stack,
        "health_check",
        identity=identity,
        fleet=FleetReference(identity),
        registry=registry,
        key=key,
        rpc_token_key=rpc_token_key,
        protocol="qbft",
        validator_count=4,
        block_period_seconds=block_period.number_value,
        subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        security_group_id="sg-0123456789abcdef0",
        log_retention_days=365,
        thresholds=HealthThresholds(
            failures_before_action=failures.number_value, cooldown_seconds=900.0
        ),
        remediation_enabled=enabled.boolean_value,
    )
    app.synth()
    return outdir


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_health_check(tmp_path_factory.mktemp("health") / "cdktf.out")


@pytest.fixture(scope="module")
def stack(outdir: Path) -> StackJson:
    return read_stack(outdir, STACK)


def _statements(stack: StackJson) -> dict[str, dict[str, Any]]:
    (policy,) = [
        p for p in resources(stack, "aws_iam_role_policy").values() if p["name"] == "testnet-health"
    ]
    return {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}


def test_function_runs_alone_in_the_vpc_with_the_checker_security_group(
    stack: StackJson,
) -> None:
    fn = only_resource(stack, "aws_lambda_function")
    assert fn["function_name"] == "testnet-health"
    assert fn["handler"] == "health.handler.handler"
    assert fn["reserved_concurrent_executions"] == 1
    assert fn["timeout"] < 60
    assert fn["vpc_config"]["security_group_ids"] == ["sg-0123456789abcdef0"]
    assert fn["kms_key_arn"] == KEY_ARN
    invoke = only_resource(stack, "aws_lambda_function_event_invoke_config")
    assert invoke["maximum_retry_attempts"] == 0
    assert invoke["maximum_event_age_in_seconds"] == 60


def test_environment_matches_the_runtime_configuration(stack: StackJson) -> None:
    env = only_resource(stack, "aws_lambda_function")["environment"]["variables"]
    assert env == {
        "REGISTRY_TABLE_NAME": "${" + address_of(stack, "aws_dynamodb_table", "table") + ".name}",
        "NETWORK_NAME": "testnet",
        "ECS_CLUSTER_NAME": "testnet-validators",
        "ECS_SERVICE_NAME": "testnet-validators",
        "AUTOSCALING_GROUP_NAME": "testnet-validators",
        "CONSENSUS_PROTOCOL": "qbft",
        "BLOCK_PERIOD_SECONDS": "${var.block_period_seconds}",
        "METRIC_NAMESPACE": "BesuStack",
        "CHECK_CONCURRENCY": "4",
        "REMEDIATION_ENABLED": "${var.health_check_remediation_enabled}",
        "RPC_TOKEN_KEY_ARN": "${" + address_of(stack, "aws_kms_key", "rpc_token_key/key") + ".arn}",
        "FAILURES_BEFORE_ACTION": "${var.health_check_failures_before_action}",
        # A whole number is written without a fraction: the runtime reads counts with isdigit.
        "REMEDIATION_COOLDOWN_SECONDS": "900",
    }


def test_runtime_reads_every_variable_the_construct_sets(stack: StackJson) -> None:
    env = only_resource(stack, "aws_lambda_function")["environment"]["variables"]
    config_doc = (Path(__file__).resolve().parents[2] / "lambda_src/health/config.py").read_text()
    for name in env:
        assert f"``{name}``" in config_doc, name


def test_schedule_invokes_the_function_and_only_that_rule_may(stack: StackJson) -> None:
    rule = only_resource(stack, "aws_cloudwatch_event_rule")
    assert rule["schedule_expression"] == "rate(1 minute)"
    assert rule["name"] == "testnet-health-check"
    rule_address = address_of(stack, "aws_cloudwatch_event_rule", "schedule")
    function_address = address_of(stack, "aws_lambda_function", "function")
    target = only_resource(stack, "aws_cloudwatch_event_target")
    assert target["rule"] == "${" + rule_address + ".name}"
    assert target["arn"] == "${" + function_address + ".arn}"
    permission = only_resource(stack, "aws_lambda_permission")
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["source_arn"] == "${" + rule_address + ".arn}"
    assert permission["function_name"] == "${" + function_address + ".function_name}"


def test_iam_is_scoped_to_the_table_cluster_group_namespace_and_key(stack: StackJson) -> None:
    s = _statements(stack)
    table_arn = "${" + address_of(stack, "aws_dynamodb_table", "table") + ".arn}"
    assert s["ReadSlots"]["Action"] == ["dynamodb:Scan"]
    assert s["ReadSlots"]["Resource"] == table_arn
    record = s["RecordNodeHealth"]
    assert record["Action"] == ["dynamodb:UpdateItem"] and record["Resource"] == table_arn
    # Issue 13 item 3: the checker writes its own attribute only (and names the key).
    assert record["Condition"]["ForAllValues:StringEquals"] == {
        "dynamodb:Attributes": ["health", "slot"]
    }
    # ReturnValues always has a value (NONE by default): StringEquals (DynamoDB guide,
    # "Using IAM policy conditions for fine-grained access control", example 2).
    assert record["Condition"]["StringEquals"] == {
        "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
    }
    cluster_arn = s["ListClusterInstances"]["Resource"]
    assert cluster_arn.endswith(":cluster/testnet-validators")
    in_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}
    instances = s["FindTasksOnClusterInstances"]
    assert instances["Resource"].endswith(":container-instance/testnet-validators/*")
    assert instances["Condition"] == in_cluster
    tasks = s["RestartClusterTasks"]
    assert sorted(tasks["Action"]) == ["ecs:DescribeTasks", "ecs:StopTask"]
    assert tasks["Resource"].endswith(":task/testnet-validators/*")
    assert tasks["Condition"] == in_cluster
    assert s["ReplaceGroupInstances"]["Resource"].endswith(
        ":autoScalingGroup:*:autoScalingGroupName/testnet-validators"
    )
    assert s["ReplaceGroupInstances"]["Action"] == "autoscaling:SetInstanceHealth"
    metrics = s["PublishHealthMetricsToOwnNamespace"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "BesuStack"}}
    key = s["UseKeyThroughDynamodb"]
    assert key["Resource"] == KEY_ARN
    assert list(key["Condition"]["StringEquals"]) == ["kms:ViaService"]
    # "*" only where the action has no resource-level permissions, each documented.
    wildcard = {
        sid: st["Action"]
        for sid, st in s.items()
        if st["Resource"] == "*"
        or "*" in (st["Resource"] if isinstance(st["Resource"], list) else [])
    }
    assert wildcard == {
        "FindInstancesGroupNoResourceLevelSupport": "autoscaling:DescribeAutoScalingInstances",
        "PublishHealthMetricsToOwnNamespace": "cloudwatch:PutMetricData",
        "SendTraceSegmentsNoResourceLevelPermissions": [
            "xray:PutTelemetryRecords",
            "xray:PutTraceSegments",
        ],
        "DescribeNetworkNoResourceLevelPermissions": [
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
        ],
    }
    every_action = {
        a
        for st in s.values()
        for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    }
    assert not any(a.endswith("*") for a in every_action)
    # No AWS-managed policy (issue 13 item 5): everything is in the one inline policy.
    assert "aws_iam_role_policy_attachment" not in stack.get("resource", {})


def test_the_checker_role_may_sign_rpc_tokens_through_the_keys_policy(stack: StackJson) -> None:
    """The grant lives in the key's policy (rpc_token_key.py), not in the role's."""
    role = address_of(stack, "aws_iam_role", "role")
    key = only_resource(stack, "aws_kms_key")
    statements = {st["Sid"]: st for st in json.loads(key["policy"])["Statement"]}
    sign = statements["HealthCheckerSignsRpcTokens"]
    assert sign["Principal"] == {"AWS": "${" + role + ".arn}"}
    assert sign["Action"] == ["kms:Sign"]
    assert not any("kms:Sign" in str(st["Action"]) for st in _statements(stack).values())


def test_package_ships_the_shared_library_and_wheels(outdir: Path) -> None:
    import zipfile

    (zip_path,) = list((outdir / "stacks" / STACK / "assets").rglob("*.zip"))
    names = zipfile.ZipFile(zip_path).namelist()
    assert "health/handler.py" in names and "besu_stack/besu/bft.py" in names
    assert any(n.startswith("websocket/") for n in names)
    # Only the quorum arithmetic of besu_stack.besu: no curve, hash or RLP code or libraries.
    assert not any(n.startswith(("coincurve/", "Crypto/", "rlp/", "pydantic/")) for n in names)
    assert "besu_stack/besu/keys.py" not in names


def test_literal_thresholds_are_validated() -> None:
    from besu_stack.constructs.health_check import HealthThresholds, env_text

    assert HealthThresholds().environment() == {}
    assert HealthThresholds(min_peers=2, stall_window_seconds=90.5).environment() == {
        "MIN_PEERS": "2",
        "STALL_WINDOW_SECONDS": "90.5",
    }
    assert env_text(False) == "false"
    with pytest.raises(ValueError, match="min_peers"):
        HealthThresholds(min_peers=-1).environment()


@pytest.mark.policy
def test_checkov_accepts_the_health_check(outdir: Path) -> None:
    from besu_stack.policy.gate import find_checkov, run_gate

    checkov = find_checkov()
    assert checkov is not None, "checkov is missing: `make tools` installs it into .tools/checkov"
    result = run_gate(outdir, checkov=checkov, strict=False)
    assert result.stacks == [STACK]
    assert result.unaccepted == [], result.report()
