"""An alert when a slot secret's resource policy changes outside the hooks (issue 13 item 7).

The patterns are matched here by a small reading of EventBridge's documented content filters
("Content filtering in Amazon EventBridge event patterns": exact values, ``prefix``,
``anything-but``; a field absent from the event matches no filter). moto's TestEventPattern
returns no result, so this is a regression guard of our reading, not an AWS oracle.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import StackJson, resources
from tests.support.iam_eval import ACCOUNT, REGION, resolve

pytestmark = pytest.mark.synth


def _matches(pattern: Any, event: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and _matches(value, event[key]) for key, value in pattern.items()
        )
    return any(_value_matches(p, event) for p in pattern)


def _value_matches(filter_: Any, value: Any) -> bool:
    if isinstance(filter_, dict) and "prefix" in filter_:
        return isinstance(value, str) and value.startswith(filter_["prefix"])
    if isinstance(filter_, dict) and "anything-but" in filter_:
        return value not in filter_["anything-but"]
    return bool(filter_ == value)


def _event(name: str, secret_id: str, identity: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": "aws.secretsmanager",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": name,
            "requestParameters": {"secretId": secret_id},
            "userIdentity": identity,
        },
    }


def _role_session(role_arn: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": role_arn}}}


@pytest.fixture(scope="module")
def patterns(default_stack: StackJson) -> list[Any]:
    rules = [
        r
        for r in resources(default_stack, "aws_cloudwatch_event_rule").values()
        if "/monitoring/secret_policy_" in r["//"]["metadata"]["path"]
    ]
    assert len(rules) == 4
    return [json.loads(resolve(default_stack, r["event_pattern"])) for r in rules]


def _alerts(patterns: list[Any], event: dict[str, Any]) -> bool:
    return any(_matches(p, event) for p in patterns)


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
    targets = [
        t
        for t in resources(default_stack, "aws_cloudwatch_event_target").values()
        if "/monitoring/secret_policy_" in t["//"]["metadata"]["path"]
    ]
    assert len(targets) == 4
    topic_ref = next(
        "${aws_sns_topic." + name + ".arn}" for name in resources(default_stack, "aws_sns_topic")
    )
    assert all(t["arn"] == topic_ref for t in targets)
    policy = json.loads(
        next(iter(resources(default_stack, "aws_sns_topic_policy").values()))["policy"]
    )
    (events,) = [
        s for s in policy["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert events["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":rule/besu-secret-policy-*")
