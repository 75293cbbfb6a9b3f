"""An alert when a slot secret's resource policy changes outside the hooks (issue 13 item 7).

The patterns are matched by ``tests/support/event_patterns.py``, a small reading of
EventBridge's documented content filters: a regression guard of our reading, not an AWS oracle.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import StackJson, resources
from tests.support.event_patterns import alarm_topic_ref, alert_rules, rule_patterns
from tests.support.event_patterns import alerts as _alerts
from tests.support.event_patterns import cloudtrail_event as _event
from tests.support.event_patterns import role_session as _role_session
from tests.support.iam_eval import ACCOUNT, REGION, Policies, Request, is_allowed, resolve

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def patterns(default_stack: StackJson) -> list[Any]:
    found = rule_patterns(default_stack, "secret_policy")
    assert len(found) == 4
    return found


def _hook_role(stack: StackJson, name: str) -> str:
    role = next(
        r
        for r in resources(stack, "aws_iam_role").values()
        if r["//"]["metadata"]["path"].endswith(f"/node_lifecycle/{name}/role")
    )
    return f"arn:aws:iam::{ACCOUNT}:role/{role['name']}"


def test_the_launch_hook_writing_and_the_hooks_deleting_slot_policies_raise_no_alert(
    patterns: list[Any], default_stack: StackJson
) -> None:
    launch = _role_session(_hook_role(default_stack, "launch"))
    assert not _alerts(patterns, _event("PutResourcePolicy", "besu/validator-0/key", launch))
    for hook in ("launch", "termination", "reconciler"):
        session = _role_session(_hook_role(default_stack, hook))
        event = _event("DeleteResourcePolicy", "besu/validator-0/key", session)
        assert not _alerts(patterns, event), hook


def test_a_revoking_function_writing_a_slot_policy_raises_an_alert(
    patterns: list[Any], default_stack: StackJson
) -> None:
    """The termination hook and the reconciler only ever delete a policy (their IAM allows no
    PutResourcePolicy either): a write under their roles is someone else's."""
    for hook in ("termination", "reconciler"):
        session = _role_session(_hook_role(default_stack, hook))
        event = _event("PutResourcePolicy", "besu/validator-0/key", session)
        assert _alerts(patterns, event), hook


def test_anyone_else_changing_a_slot_policy_raises_an_alert(patterns: list[Any]) -> None:
    admin = _role_session(f"arn:aws:iam::{ACCOUNT}:role/Administrator")
    arn_id = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:besu/validator-2/key-AbCdEf"
    user = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/someone"}
    for call in ("PutResourcePolicy", "DeleteResourcePolicy"):
        assert _alerts(patterns, _event(call, "besu/validator-0/key", admin)), call
        assert _alerts(patterns, _event(call, arn_id, admin)), call
        assert _alerts(patterns, _event(call, "besu/validator-0/key", user)), call
        assert _alerts(patterns, _event(call, "besu/validator-0/key", {"type": "Root"})), call


def test_other_secrets_raise_no_alert(patterns: list[Any]) -> None:
    admin = _role_session(f"arn:aws:iam::{ACCOUNT}:role/Administrator")
    assert not _alerts(patterns, _event("PutResourcePolicy", "prod/db-password", admin))
    assert not _alerts(patterns, _event("DeleteResourcePolicy", "prod/db-password", admin))


def test_alerts_go_to_the_alarm_topic_which_admits_only_these_rules(
    default_stack: StackJson,
) -> None:
    _, targets = alert_rules(default_stack, "secret_policy")
    assert targets == [alarm_topic_ref(default_stack)] * 4


def test_the_alarm_topic_admits_every_alert_rule_of_the_network_and_no_other(
    default_stack: StackJson,
) -> None:
    """Every EventBridge rule that targets the topic may publish to it (each rule's ARN is in
    the topic policy's aws:SourceArn); a rule of another name or account may not. Evaluated
    with tests/support/iam_eval.py over the synthesized topic policy."""
    topic = alarm_topic_ref(default_stack)
    topic_arn = resolve(default_stack, topic)
    policy = resolve(
        default_stack,
        next(iter(resources(default_stack, "aws_sns_topic_policy").values()))["policy"],
    )
    rules = resources(default_stack, "aws_cloudwatch_event_rule")
    publishing = {
        rules[target["rule"].split(".")[1]]["name"]
        for target in resources(default_stack, "aws_cloudwatch_event_target").values()
        if target["arn"] == topic
    }
    assert len(publishing) == 9  # secret policy 4, value 2, deletion 1, key change 2

    def may_publish(rule_name: str, account: str = ACCOUNT) -> bool:
        request = Request(
            "events.amazonaws.com",
            "sns:Publish",
            topic_arn,
            {
                "aws:SourceAccount": account,
                "aws:SourceArn": f"arn:aws:events:{REGION}:{account}:rule/{rule_name}",
                "aws:SecureTransport": "true",
            },
        )
        return is_allowed(request, Policies(resource=[policy]))

    for name in sorted(publishing):
        assert may_publish(name), name
    assert not may_publish("besu-someone-elses-rule")
    assert not may_publish("besu-secret-policy-by-non-role", account="999988887777")
