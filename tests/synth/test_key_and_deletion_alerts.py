"""Alerts on what the guards allow but nobody should do unseen.

* Every ``DeleteSecret`` of a slot secret alerts, whoever calls it: the key guard refuses only a
  deletion without a recovery window (``besu_stack/lambda_kernel/secret_policy.py``), and a
  scheduled one makes the key unreadable at once.
* Changing the policy of a key whose policy decides alone (the validator secrets' key, the RPC
  token key), disabling it, scheduling its deletion, or creating, repointing or deleting its
  alias alerts, whoever calls it: the account administers those keys
  (``besu_stack/constructs/kms.py``, ``KEY_ADMINISTRATION_ACTIONS``), so such a change is
  allowed, and only an alert makes it seen.

Matched by ``tests/support/event_patterns.py``: a regression guard of our reading of
EventBridge's filters, not an AWS oracle.
"""

from __future__ import annotations

from typing import Any

import pytest

from besu_stack.constructs.monitoring import ALIAS_CHANGE_EVENTS, KEY_CHANGE_EVENTS
from tests.conftest import StackJson, resources
from tests.support.event_patterns import (
    alarm_topic_ref,
    alert_rules,
    alerts,
    cloudtrail_event,
    kms_alias_cloudtrail_event,
    kms_cloudtrail_event,
    role_session,
    rule_patterns,
)
from tests.support.iam_eval import ACCOUNT, ADMIN, REGION, resolve
from tests.support.slot_secrets import by_path

pytestmark = pytest.mark.synth

SECRET = "besu/validator-1/key"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET}-AbCdEf"
CALLERS = [
    role_session(ADMIN),
    {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/someone"},
    {"type": "Root"},
]


def _key(stack: StackJson, path_suffix: str) -> tuple[str, str]:
    """The resolved (key id, key ARN) of the KMS key at ``path_suffix``."""
    (logical,) = [
        name
        for name, r in resources(stack, "aws_kms_key").items()
        if r["//"]["metadata"]["path"].endswith(path_suffix)
    ]
    return (
        resolve(stack, "${aws_kms_key." + logical + ".key_id}"),
        resolve(stack, "${aws_kms_key." + logical + ".arn}"),
    )


@pytest.fixture(scope="module")
def deletion(default_stack: StackJson) -> list[Any]:
    found = rule_patterns(default_stack, "secret_deletion")
    assert len(found) == 1
    return found


@pytest.fixture(scope="module")
def key_change(default_stack: StackJson) -> list[Any]:
    found = rule_patterns(default_stack, "key_change")
    assert len(found) == 2  # the key's policy and state, its alias
    return found


def test_every_deletion_of_a_slot_secret_alerts(deletion: list[Any]) -> None:
    """Whoever calls it, the administrator Terraform applies as included."""
    for caller in CALLERS:
        for secret_id in (SECRET, SECRET_ARN):
            event = cloudtrail_event(
                "DeleteSecret", secret_id, caller, {"recoveryWindowInDays": 30}
            )
            assert alerts(deletion, event), (caller, secret_id)


def test_deleting_another_secret_or_restoring_a_slot_secret_raises_no_alert(
    deletion: list[Any],
) -> None:
    admin = role_session(ADMIN)
    assert not alerts(deletion, cloudtrail_event("DeleteSecret", "prod/db-password", admin))
    assert not alerts(deletion, cloudtrail_event("RestoreSecret", SECRET, admin))


def test_changing_disabling_or_deleting_a_guarding_key_alerts(
    default_stack: StackJson, key_change: list[Any]
) -> None:
    """For both keys whose policy decides alone, named by id or by ARN, by anyone."""
    for suffix in ("/validator_keys/secrets_key/key", "/rpc_token_key/key"):
        for key in _key(default_stack, suffix):
            for call in KEY_CHANGE_EVENTS:
                for caller in CALLERS:
                    event = kms_cloudtrail_event(call, key, caller)
                    assert alerts(key_change, event), (suffix, key, call, caller)


def test_using_a_guarding_key_or_changing_another_key_raises_no_alert(
    default_stack: StackJson, key_change: list[Any]
) -> None:
    admin = role_session(ADMIN)
    key_id, key_arn = _key(default_stack, "/validator_keys/secrets_key/key")
    for call in ("Decrypt", "GenerateDataKey", "DescribeKey", "GetKeyPolicy"):
        assert not alerts(key_change, kms_cloudtrail_event(call, key_id, admin)), call
    network_key_id, _ = _key(default_stack, "/network_key/key")
    assert not alerts(key_change, kms_cloudtrail_event("PutKeyPolicy", network_key_id, admin))
    assert key_arn.endswith(key_id)


def _alias(stack: StackJson, path_suffix: str) -> str:
    """The resolved name of the KMS alias at ``path_suffix``."""
    return str(resolve(stack, by_path(stack, "aws_kms_alias", path_suffix)["name"]))


def test_changing_a_guarding_keys_alias_alerts(
    default_stack: StackJson, key_change: list[Any]
) -> None:
    """The hosts find the RPC token key by its alias (host_bootstrap.py): the account may
    repoint an alias (KEY_ADMINISTRATION_ACTIONS), so a repointed alias would make new hosts
    trust another key. Creating, repointing or deleting either guarding key's alias alerts."""
    aliases = [
        _alias(default_stack, "/validator_keys/secrets_key/alias"),
        _alias(default_stack, "/rpc_token_key/alias"),
    ]
    assert aliases == ["alias/besu-validator-keys", "alias/besu-rpc-token"]
    for alias in aliases:
        for call in ALIAS_CHANGE_EVENTS:
            for caller in CALLERS:
                event = kms_alias_cloudtrail_event(call, alias, caller)
                assert alerts(key_change, event), (alias, call, caller)
    admin = role_session(ADMIN)
    assert not alerts(key_change, kms_alias_cloudtrail_event("UpdateAlias", "alias/other", admin))


def test_deletion_and_key_alerts_go_to_the_alarm_topic(default_stack: StackJson) -> None:
    for kind, rule_names in (
        ("secret_deletion", ["besu-secret-deletion-any"]),
        ("key_change", ["besu-key-change-alias", "besu-key-change-any"]),
    ):
        names, targets = alert_rules(default_stack, kind)
        assert targets == [alarm_topic_ref(default_stack)] * len(rule_names)
        assert names == rule_names
