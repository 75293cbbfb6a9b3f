"""Parsing the EventBridge events the hooks receive.

An Auto Scaling lifecycle action arrives as::

    {"source": "aws.autoscaling", "detail-type": "EC2 Instance-launch Lifecycle Action",
     "account": "123456789012", "region": "eu-west-1",
     "resources": ["arn:aws:autoscaling:...:autoScalingGroup:...:autoScalingGroupName/<asg>"],
     "detail": {"LifecycleActionToken": "...", "AutoScalingGroupName": "...",
                "LifecycleHookName": "...", "EC2InstanceId": "i-...",
                "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING", ...}}
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidEventError

LAUNCH_DETAIL_TYPE = "EC2 Instance-launch Lifecycle Action"
TERMINATE_DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATE_TRANSITION = "autoscaling:EC2_INSTANCE_TERMINATING"

_INSTANCE_RE = re.compile(r"i-[0-9a-f]{8,17}")
_ACCOUNT_RE = re.compile(r"\d{12}")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


@dataclass(frozen=True)
class LifecycleAction:
    """One lifecycle action of one instance."""

    instance_id: str
    group_name: str
    hook_name: str
    token: str
    transition: str
    account: str
    region: str
    partition: str

    @property
    def instance_arn(self) -> str:
        """The instance ARN, as ``ec2:SourceInstanceARN`` carries it on instance credentials."""
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:instance/{self.instance_id}"


def _text(container: dict[str, object], name: str) -> str:
    value = container.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"the event has no {name}")
    return value


def parse_lifecycle_action(event: object, transition: str) -> LifecycleAction:
    """Return the lifecycle action of ``event``; it must be for ``transition``."""
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        raise InvalidEventError("the event is not an EventBridge event with a detail object")
    detail: dict[str, object] = event["detail"]
    if detail.get("LifecycleTransition") != transition:
        raise InvalidEventError(
            f"expected a {transition} lifecycle action, got {detail.get('LifecycleTransition')!r}"
        )
    instance_id = _text(detail, "EC2InstanceId")
    if not _INSTANCE_RE.fullmatch(instance_id):
        raise InvalidEventError(f"EC2InstanceId is not an instance id: {instance_id!r}")
    account = _text(event, "account")
    region = _text(event, "region")
    if not _ACCOUNT_RE.fullmatch(account) or not _REGION_RE.fullmatch(region):
        raise InvalidEventError(f"bad account {account!r} or region {region!r} in the event")
    partition = "aws"
    resources = event.get("resources")
    if isinstance(resources, list) and resources and isinstance(resources[0], str):
        parts = resources[0].split(":")
        if len(parts) > 1 and parts[0] == "arn":
            partition = parts[1]
    return LifecycleAction(
        instance_id=instance_id,
        group_name=_text(detail, "AutoScalingGroupName"),
        hook_name=_text(detail, "LifecycleHookName"),
        token=_text(detail, "LifecycleActionToken"),
        transition=transition,
        account=account,
        region=region,
        partition=partition,
    )
