"""EventBridge patterns of the slot-secret alerts, read from a synthesized stack and matched.

Matching is a small reading of EventBridge's documented content filters ("Content filtering in
Amazon EventBridge event patterns",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html: exact
values, ``prefix``, ``anything-but``; a field absent from the event matches no filter). moto's
TestEventPattern returns no result, so this is a regression guard of our reading, not an AWS
oracle. Events are CloudTrail "AWS API Call via CloudTrail" events of Secrets Manager and KMS,
with the fields the patterns filter on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.conftest import StackJson, resources
from tests.support.iam_eval import resolve


def matches(pattern: Any, event: Any) -> bool:
    """Whether ``event`` matches the EventBridge ``pattern``."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and matches(value, event[key]) for key, value in pattern.items()
        )
    return any(_value_matches(p, event) for p in pattern)


def _value_matches(filter_: Any, value: Any) -> bool:
    if isinstance(filter_, dict) and "prefix" in filter_:
        return isinstance(value, str) and value.startswith(filter_["prefix"])
    if isinstance(filter_, dict) and "anything-but" in filter_:
        return value not in filter_["anything-but"]
    return bool(filter_ == value)


def api_call_event(
    service: str, name: str, parameters: Mapping[str, Any], identity: Mapping[str, Any]
) -> dict[str, Any]:
    """The CloudTrail "AWS API Call" event of ``service``'s call ``name`` by ``identity``."""
    return {
        "source": f"aws.{service}",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": f"{service}.amazonaws.com",
            "eventName": name,
            "requestParameters": dict(parameters),
            "userIdentity": dict(identity),
        },
    }


def cloudtrail_event(
    name: str,
    secret_id: str,
    identity: Mapping[str, Any],
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The CloudTrail event of Secrets Manager call ``name`` on ``secret_id`` by ``identity``."""
    return api_call_event(
        "secretsmanager", name, {"secretId": secret_id, **(parameters or {})}, identity
    )


def kms_cloudtrail_event(name: str, key_id: str, identity: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudTrail event of KMS call ``name`` on the key named ``key_id`` by ``identity``."""
    return api_call_event("kms", name, {"keyId": key_id}, identity)


def kms_alias_cloudtrail_event(
    name: str, alias_name: str, identity: Mapping[str, Any]
) -> dict[str, Any]:
    """The CloudTrail event of KMS alias call ``name`` (``CreateAlias``, ``UpdateAlias``,
    ``DeleteAlias``) on ``alias_name`` by ``identity``: ``requestParameters.aliasName``, as
    the CloudTrail examples of the KMS developer guide show (``ct-updatealias``)."""
    return api_call_event("kms", name, {"aliasName": alias_name}, identity)


def role_session(role_arn: str) -> dict[str, Any]:
    """A CloudTrail ``userIdentity`` of a session of the role ``role_arn``."""
    return {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": role_arn}}}


def rule_patterns(stack: StackJson, kind: str) -> list[Any]:
    """The resolved patterns of the monitoring rules whose construct ids start with ``kind``."""
    rules = [
        r
        for r in resources(stack, "aws_cloudwatch_event_rule").values()
        if f"/monitoring/{kind}_" in r["//"]["metadata"]["path"]
    ]
    return [json.loads(resolve(stack, r["event_pattern"])) for r in rules]


def alert_rules(stack: StackJson, kind: str) -> tuple[list[str], list[str]]:
    """The sorted names of the monitoring rules of ``kind``, and their targets' ARNs."""
    in_kind = f"/monitoring/{kind}_"
    names = sorted(
        r["name"]
        for r in resources(stack, "aws_cloudwatch_event_rule").values()
        if in_kind in r["//"]["metadata"]["path"]
    )
    targets = [
        t["arn"]
        for t in resources(stack, "aws_cloudwatch_event_target").values()
        if in_kind in t["//"]["metadata"]["path"]
    ]
    return names, targets


def alarm_topic_ref(stack: StackJson) -> str:
    """The interpolation of the alarm topic's ARN (the stack has one topic)."""
    (name,) = resources(stack, "aws_sns_topic")
    return "${aws_sns_topic." + name + ".arn}"


def alerts(patterns: list[Any], event: Mapping[str, Any]) -> bool:
    """Whether any of ``patterns`` matches ``event``."""
    return any(matches(p, event) for p in patterns)
