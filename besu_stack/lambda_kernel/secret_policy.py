"""The resource policies of the slot secrets: one definition for Terraform and the launch hook.

A slot secret goes through three kinds of policy, and every one of them holds the same
statement, :func:`key_guard_statement`: nobody but the key Lambda's role and the hosts' role
reads (``GetSecretValue``) or overwrites (``PutSecretValue``) the key.

* **initial** (:func:`initial_policy`, written by Terraform before any host starts): the
  guard with the key Lambda (and optional readers) alone; no host reads;
* **owned** (:func:`owner_policy`, written by the launch hook when a slot is claimed): the guard,
  plus an ``Allow`` for the hosts' role only when the request's ``ec2:SourceInstanceARN`` is the
  owner instance, a ``Deny`` of the hosts' role for any other instance (or none), and a ``Deny``
  of every other Secrets Manager action to the hosts' role;
* **none** (after a revoke: ``DeleteResourcePolicy``, by the termination hook, the reconciler or
  a launch's undo). With no resource policy, only identity policies and the KMS key policy
  decide ("Policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
  the key Lambda's role is the only one with an identity grant on the slot secrets, and the
  secrets' KMS key lets no one else but the hosts' role decrypt
  (``besu_stack/constructs/secrets_key.py``), so the secret is closed to everyone but the key
  Lambda (``tests/lambdas/test_secret_access_states.py`` evaluates every state).

Revoking by deletion is what lets the termination hook and the reconciler hold
``secretsmanager:DeleteResourcePolicy`` without ``PutResourcePolicy``: Secrets Manager has no
condition key on a policy's content, so a role that may put a policy may put one that opens the
secret to anyone; a role that may only delete can only fall back to the closed state above.

``aws:PrincipalArn`` of a role session is the role's ARN ("AWS global condition context keys",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Statement = dict[str, Any]

KEY_ACTIONS: tuple[str, ...] = ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue")
"""Reading and overwriting a slot's key: refused to every principal but the guard's."""

GUARD_SID = "OnlyTheKeyLambdaAndTheSlotsNodeTouchTheKey"
OWNER_ALLOW_SID = "OwnerInstanceMayRead"
OWNER_ONLY_SID = "NotFromOtherInstances"
HOSTS_READ_ONLY_SID = "OnlyTheOwnerInstance"


def key_guard_statement(allowed_principal_arns: Sequence[str]) -> Statement:
    """Deny reading or overwriting the key to every principal not in ``allowed_principal_arns``."""
    return {
        "Sid": GUARD_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(KEY_ACTIONS),
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalArn": sorted(set(allowed_principal_arns))}},
    }


def document(statements: Sequence[Statement]) -> str:
    """A policy document as compact, key-sorted JSON (byte-stable)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def initial_policy(key_lambda_role_arn: str, reader_role_arns: Sequence[str] = ()) -> str:
    """Terraform's policy of a slot secret: only the key Lambda (and readers) touch the key."""
    return document([key_guard_statement([key_lambda_role_arn, *reader_role_arns])])


def owner_policy(instance_role_arn: str, key_lambda_role_arn: str, owner_instance_arn: str) -> str:
    """The launch hook's policy: the key guard, and the hosts' role reads only from the owner."""
    return document(
        [
            {
                "Sid": OWNER_ALLOW_SID,
                "Effect": "Allow",
                "Principal": {"AWS": instance_role_arn},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"StringEquals": {"ec2:SourceInstanceARN": owner_instance_arn}},
            },
            key_guard_statement([key_lambda_role_arn, instance_role_arn]),
            {
                "Sid": HOSTS_READ_ONLY_SID,
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "NotAction": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": instance_role_arn}},
            },
            {
                "Sid": OWNER_ONLY_SID,
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {
                    "ArnEquals": {"aws:PrincipalArn": instance_role_arn},
                    "StringNotEquals": {"ec2:SourceInstanceARN": owner_instance_arn},
                },
            },
        ]
    )


def policy_owner(text: str | None) -> str | None:
    """The owner instance ARN an owner policy names, or ``None`` (no policy, or not an owner's)."""
    if not text:
        return None
    try:
        statements = json.loads(text).get("Statement", [])
    except (ValueError, AttributeError):
        return None
    for statement in statements if isinstance(statements, list) else []:
        if isinstance(statement, dict) and statement.get("Sid") == OWNER_ALLOW_SID:
            condition = statement.get("Condition", {})
            value = condition.get("StringEquals", {}).get("ec2:SourceInstanceARN")
            return value if isinstance(value, str) else None
    return None
