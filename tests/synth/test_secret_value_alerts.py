"""An alert when a slot secret's value changes outside the key Lambda (issue 13, item 1).

Where a slot secret has no resource policy (after a revoke), nothing refuses an administrator's
``UpdateSecret`` with a value and a KMS key of their own (``besu_stack/lambda_kernel/
secret_policy.py``); these rules make it seen. Every ``PutSecretValue``, ``UpdateSecret`` and
``UpdateSecretVersionStage`` of a slot secret alerts unless the key Lambda's role made it, with
or without a value in the logged request (``secret_value_event_patterns`` says why). Matched by
``tests/support/event_patterns.py``: a regression guard of our reading of EventBridge's
filters, not an AWS oracle.
"""

from __future__ import annotations

from typing import Any

import pytest

from besu_stack.constructs.monitoring import VALUE_CHANGE_EVENTS
from tests.conftest import StackJson
from tests.support.event_patterns import (
    alarm_topic_ref,
    alert_rules,
    alerts,
    cloudtrail_event,
    role_session,
    rule_patterns,
)
from tests.support.iam_eval import ACCOUNT, ADMIN, REGION
from tests.support.slot_secrets import SlotSecrets

pytestmark = pytest.mark.synth

SECRET = "besu/validator-1/key"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET}-AbCdEf"
OWN_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000aaaa-bbbb-cccc-dddd-eeeeffff0000"


@pytest.fixture(scope="module")
def patterns(default_stack: StackJson) -> list[Any]:
    found = rule_patterns(default_stack, "secret_value")
    assert len(found) == 2
    return found


@pytest.fixture(scope="module")
def secrets(default_stack: StackJson) -> SlotSecrets:
    return SlotSecrets(default_stack)


def test_the_key_lambda_writing_a_key_raises_no_alert(
    patterns: list[Any], secrets: SlotSecrets
) -> None:
    key_lambda = role_session(secrets.arn("key lambda"))
    for call in VALUE_CHANGE_EVENTS:
        assert not alerts(patterns, cloudtrail_event(call, SECRET, key_lambda)), call


def test_an_administrator_replacing_a_key_with_their_own_kms_key_raises_an_alert(
    patterns: list[Any],
) -> None:
    """The residual risk of the no-policy state: the call succeeds there, and is seen. Alerts
    whether or not CloudTrail keeps the parameters' names, by name or by ARN."""
    admin = role_session(ADMIN)
    for parameters in ({"kmsKeyId": OWN_KEY, "secretString": "HIDDEN"}, {"kmsKeyId": OWN_KEY}, {}):
        for secret_id in (SECRET, SECRET_ARN):
            event = cloudtrail_event("UpdateSecret", secret_id, admin, parameters)
            assert alerts(patterns, event), (parameters, secret_id)


def test_anyone_else_changing_a_slot_key_or_its_current_version_raises_an_alert(
    patterns: list[Any], secrets: SlotSecrets
) -> None:
    user = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/someone"}
    callers = [
        role_session(ADMIN),
        role_session(secrets.arn("host")),
        role_session(secrets.arn("launch hook")),
        role_session(secrets.arn("health checker")),
        user,
        {"type": "Root"},
    ]
    for call in VALUE_CHANGE_EVENTS:
        for caller in callers:
            assert alerts(patterns, cloudtrail_event(call, SECRET, caller)), (call, caller)


def test_terraform_changing_a_description_alerts_too(patterns: list[Any]) -> None:
    """The documented cost of not trusting the logged parameters: Terraform's description-only
    UpdateSecret, made as the administrator it applies as, alerts."""
    event = cloudtrail_event(
        "UpdateSecret", SECRET, role_session(ADMIN), {"description": "Besu node key"}
    )
    assert alerts(patterns, event)


def test_reading_a_key_and_other_secrets_raise_no_alert(patterns: list[Any]) -> None:
    admin = role_session(ADMIN)
    assert not alerts(patterns, cloudtrail_event("GetSecretValue", SECRET, admin))
    assert not alerts(patterns, cloudtrail_event("DescribeSecret", SECRET, admin))
    for call in VALUE_CHANGE_EVENTS:
        assert not alerts(patterns, cloudtrail_event(call, "prod/db-password", admin)), call


def test_value_alerts_go_to_the_alarm_topic(default_stack: StackJson) -> None:
    names, targets = alert_rules(default_stack, "secret_value")
    assert targets == [alarm_topic_ref(default_stack)] * 2
    assert names == ["besu-secret-value-by-non-role", "besu-secret-value-by-other-role"]
