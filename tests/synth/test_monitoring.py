"""Monitoring: encrypted alarm topic, every alarm with its metric and actions, the dashboard.

Synthesized on its own, once for the module: one app with a 4-validator network (alarm e-mail
from a variable, block period from a variable) and a 7-validator one (literal values).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackJson, address_of, only_resource, read_stack, resources

pytestmark = pytest.mark.synth

FOUR, SEVEN = "monitoring-four", "monitoring-seven"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"


def synth_monitoring(outdir: Path) -> Path:
    """Two stacks, n = 4 (tokens) and n = 7 (literals), each with one Monitoring."""
    from cdktf import App, TerraformStack, TerraformVariable
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from besu_stack.constructs.fleet.reference import FleetReference
    from besu_stack.constructs.identity import NetworkIdentity
    from besu_stack.constructs.kms import KeyGrants
    from besu_stack.constructs.monitoring import Monitoring
    from besu_stack.constructs.naming import Naming
    from besu_stack.constructs.platform import Platform

    app = App(outdir=str(outdir))
    for name, count in ((FOUR, 4), (SEVEN, 7)):
        stack = TerraformStack(app, name)
        AwsProvider(stack, "aws", region="eu-west-1")
        tokens = count == 4
        email: str = (
            TerraformVariable(stack, "alarm_email", type="string", default="").string_value
            if tokens
            else ""
        )
        period: float = (
            TerraformVariable(stack, "block_period_seconds", type="number", default=2).number_value
            if tokens
            else 15
        )
        failures: float = (
            TerraformVariable(
                stack, "health_check_failures_before_action", type="number", default=3
            ).number_value
            if tokens
            else 3
        )
        platform = Platform(stack, "platform")
        identity = NetworkIdentity(Naming("testnet"), platform)
        Monitoring(
            stack,
            "monitoring",
            identity=identity,
            fleet=FleetReference(identity),
            validator_count=count,
            block_period_seconds=period,
            key=KeyGrants(KEY_ARN, platform),
            alarm_email=email,
            lambda_functions={"health": "testnet-health", "keygen": "testnet-keygen"},
            unhealthy_evaluation_periods=failures,
        )
    app.synth()
    return outdir


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_monitoring(tmp_path_factory.mktemp("monitoring") / "cdktf.out")


@pytest.fixture(scope="module")
def four(outdir: Path) -> StackJson:
    return read_stack(outdir, FOUR)


@pytest.fixture(scope="module")
def seven(outdir: Path) -> StackJson:
    return read_stack(outdir, SEVEN)


def _alarms(stack: StackJson) -> dict[str, dict[str, Any]]:
    return {a["alarm_name"]: a for a in resources(stack, "aws_cloudwatch_metric_alarm").values()}


def test_topic_is_encrypted_and_only_this_accounts_cloudwatch_publishes(four: StackJson) -> None:
    topic = only_resource(four, "aws_sns_topic")
    assert topic["name"] == "testnet-alarms"
    assert topic["kms_master_key_id"] == KEY_ARN
    topic_arn = "${" + address_of(four, "aws_sns_topic", "topic") + ".arn}"
    policy = only_resource(four, "aws_sns_topic_policy")
    assert policy["arn"] == topic_arn
    allow, deny = json.loads(policy["policy"])["Statement"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish" and allow["Resource"] == topic_arn
    account = "${" + address_of(four, "aws_caller_identity", "caller", "data") + ".account_id}"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"].endswith(f":{account}:alarm:testnet-*")
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_email_subscription_exists_only_when_an_address_is_given(
    four: StackJson, seven: StackJson
) -> None:
    subscription = only_resource(four, "aws_sns_topic_subscription")
    assert subscription["protocol"] == "email"
    assert subscription["endpoint"] == "${var.alarm_email}"
    assert subscription["count"] == "${min(1, length(var.alarm_email))}"
    assert "aws_sns_topic_subscription" not in seven["resource"]


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(
    four: StackJson, seven: StackJson
) -> None:
    for stack, count in ((four, 4), (seven, 7)):
        topic_arn = "${" + address_of(stack, "aws_sns_topic", "topic") + ".arn}"
        alarms = _alarms(stack)
        expected = {
            "testnet-network-stalled",
            "testnet-validators-online",
            "testnet-remediation",
            "testnet-data-volume-disk",
            "testnet-service-running-tasks",
            "testnet-stuck-slots",
            "testnet-lambda-health-errors",
            "testnet-lambda-keygen-errors",
            *(f"testnet-node-{slot}-unhealthy" for slot in range(count)),
        }
        assert set(alarms) == expected
        for name, alarm in alarms.items():
            assert alarm["alarm_actions"] == [topic_arn], name
            assert alarm["ok_actions"] == [topic_arn], name
            assert alarm["treat_missing_data"] in ("breaching", "notBreaching", "missing"), name
            assert alarm["alarm_description"], name


def test_network_stalled_waits_ten_block_periods_in_minutes(
    four: StackJson, seven: StackJson
) -> None:
    stalled = _alarms(four)["testnet-network-stalled"]
    assert (stalled["namespace"], stalled["metric_name"]) == ("BesuStack", "NetworkStalled")
    assert stalled["dimensions"] == {"Network": "testnet"}
    assert stalled["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert stalled["threshold"] == 1 and stalled["period"] == 60
    assert stalled["treat_missing_data"] == "breaching"
    assert stalled["evaluation_periods"] == (
        "${max(2, ceil(((var.block_period_seconds * 10) / 60)))}"
    )
    # 15 s blocks: 10 periods are 150 s, so 3 one-minute periods.
    assert _alarms(seven)["testnet-network-stalled"]["evaluation_periods"] == 3


def test_each_slot_has_an_unhealthy_alarm_over_the_failures_before_action(
    four: StackJson,
) -> None:
    for slot in range(4):
        alarm = _alarms(four)[f"testnet-node-{slot}-unhealthy"]
        assert alarm["metric_name"] == "Healthy"
        assert alarm["dimensions"] == {"Network": "testnet", "Slot": str(slot)}
        assert alarm["comparison_operator"] == "LessThanThreshold" and alarm["threshold"] == 1
        assert alarm["evaluation_periods"] == "${var.health_check_failures_before_action}"
        assert alarm["treat_missing_data"] == "missing"


@pytest.mark.parametrize(("stack_name", "threshold"), [(FOUR, 4), (SEVEN, 6)])
def test_validators_online_alarm_is_quorum_plus_one(
    outdir: Path, stack_name: str, threshold: int
) -> None:
    from besu_stack.besu.bft import quorum
    from besu_stack.constructs.monitoring import validators_online_alarm_threshold

    n = 4 if stack_name == FOUR else 7
    assert validators_online_alarm_threshold(n) == quorum(n) + 1 == threshold
    alarm = _alarms(read_stack(outdir, stack_name))["testnet-validators-online"]
    assert alarm["metric_name"] == "ValidatorsOnline"
    assert alarm["comparison_operator"] == "LessThanThreshold"
    assert alarm["threshold"] == threshold
    assert validators_online_alarm_threshold(1) == 1  # never above n


def test_remediation_disk_tasks_stuck_and_lambda_alarms(four: StackJson) -> None:
    alarms = _alarms(four)
    remediation = alarms["testnet-remediation"]
    assert (remediation["metric_name"], remediation["statistic"]) == ("Remediations", "Sum")
    assert remediation["comparison_operator"] == "GreaterThanThreshold"
    assert remediation["threshold"] == 0
    disk = alarms["testnet-data-volume-disk"]
    assert (disk["namespace"], disk["metric_name"]) == ("CWAgent", "disk_used_percent")
    assert disk["dimensions"] == {
        "AutoScalingGroupName": "testnet-validators",
        "path": "/var/lib/besu",
    }
    assert disk["comparison_operator"] == "GreaterThanThreshold" and disk["threshold"] == 80
    tasks = alarms["testnet-service-running-tasks"]
    assert (tasks["namespace"], tasks["metric_name"]) == (
        "ECS/ContainerInsights",
        "RunningTaskCount",
    )
    assert tasks["dimensions"] == {
        "ClusterName": "testnet-validators",
        "ServiceName": "testnet-validators",
    }
    assert tasks["comparison_operator"] == "LessThanThreshold" and tasks["threshold"] == 4
    assert tasks["treat_missing_data"] == "breaching"
    stuck = alarms["testnet-stuck-slots"]
    assert stuck["metric_name"] == "SlotsStuck" and stuck["dimensions"] == {"Network": "testnet"}
    assert stuck["comparison_operator"] == "GreaterThanThreshold" and stuck["threshold"] == 0
    for key in ("health", "keygen"):
        errors = alarms[f"testnet-lambda-{key}-errors"]
        assert (errors["namespace"], errors["metric_name"]) == ("AWS/Lambda", "Errors")
        assert errors["dimensions"] == {"FunctionName": f"testnet-{key}"}
        assert errors["statistic"] == "Sum" and errors["threshold"] == 0
        assert errors["treat_missing_data"] == "notBreaching"


def test_dashboard_parses_and_has_the_widgets(four: StackJson, seven: StackJson) -> None:
    dashboard = only_resource(four, "aws_cloudwatch_dashboard")
    assert dashboard["dashboard_name"] == "testnet-validators"
    body = json.loads(dashboard["dashboard_body"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == [
        "Block height per node",
        "Peers per node",
        "Health per node (1 = healthy)",
        "Participation: blocks since the last proposal",
        "Validators online, healthy, in remediation",
        "Besu service CPU and memory (Container Insights)",
        "Data volume disk used (%)",
    ]
    region = "${" + address_of(four, "aws_region", "region", "data") + ".id}"
    assert all(w["properties"]["region"] == region for w in body["widgets"])
    heights = body["widgets"][0]["properties"]["metrics"]
    assert len(heights) == 5 and heights[3][:6] == [
        "BesuStack",
        "BlockHeight",
        "Network",
        "testnet",
        "Slot",
        "3",
    ]
    seven_body = json.loads(only_resource(seven, "aws_cloudwatch_dashboard")["dashboard_body"])
    assert len(seven_body["widgets"][2]["properties"]["metrics"]) == 7
    quorum_line = seven_body["widgets"][4]["properties"]["annotations"]["horizontal"]
    assert quorum_line == [{"label": "quorum (5)", "value": 5}]


def test_bad_lambda_key_is_refused_naming_it() -> None:
    from cdktf import App, TerraformStack

    from besu_stack.constructs.fleet.reference import FleetReference
    from besu_stack.constructs.identity import NetworkIdentity
    from besu_stack.constructs.kms import KeyGrants
    from besu_stack.constructs.monitoring import Monitoring
    from besu_stack.constructs.naming import Naming
    from besu_stack.constructs.platform import Platform

    stack = TerraformStack(App(), "bad")
    platform = Platform(stack, "platform")
    identity = NetworkIdentity(Naming("testnet"), platform)
    with pytest.raises(ValueError, match="'Health Check'"):
        Monitoring(
            stack,
            "monitoring",
            identity=identity,
            fleet=FleetReference(identity),
            validator_count=4,
            block_period_seconds=2,
            key=KeyGrants(KEY_ARN, platform),
            lambda_functions={"Health Check": "x"},
        )


@pytest.mark.policy
def test_checkov_accepts_the_monitoring(outdir: Path) -> None:
    from besu_stack.policy.gate import find_checkov, run_gate

    checkov = find_checkov()
    assert checkov is not None, "checkov is missing: `make tools` installs it into .tools/checkov"
    result = run_gate(outdir, checkov=checkov, strict=False)
    assert result.stacks == [FOUR, SEVEN]
    assert result.unaccepted == [], result.report()
