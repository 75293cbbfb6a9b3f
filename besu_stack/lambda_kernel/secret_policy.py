"""The resource policies of the slot secrets: one definition for Terraform and the launch hook.

A slot secret goes through three kinds of policy, and every one of them holds the same
statements, :func:`key_guard_statements`:

* nobody but the key Lambda's role and the hosts' role reads (``GetSecretValue``) or
  overwrites (``PutSecretValue``) the key;
* nobody but the key Lambda's role calls ``UpdateSecret`` naming a KMS key other than the
  secrets key. ``UpdateSecret`` with ``SecretString`` and ``KmsKeyId`` stores a new current
  version under the caller's choice of key, so a principal refused the secrets key (an
  administrator, ``besu_stack/constructs/secrets_key.py``) could replace a slot's key with a
  key of their own. The Service Authorization Reference
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html,
  and the copy of it parliament ships, ``iam_definition.json``) gives ``UpdateSecret`` two
  condition keys for it: ``secretsmanager:KmsKeyId`` ("the key identifier of the KMS key in
  the request", a String, deprecated) and ``secretsmanager:KmsKeyArn`` ("the key ARN of the
  KMS key in the request", an ARN). Neither page says whether an alias or key id in the
  request reaches ``KmsKeyArn`` resolved, so there is one ``Deny`` per key, each "present
  (``Null`` false) and not the secrets key's ARN": whichever key AWS fills, with whatever
  spelling, a foreign key is refused, and so is the secrets key spelled other than by its
  ARN. A negated operator alone would be true for a request without the key ("Condition
  operators", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html),
  which would refuse Terraform's plain updates. Terraform, which applies as an administrator,
  keeps working: the AWS provider's update of a secret's description sends the configured
  ``kms_key_id`` (the secrets key's ARN) or none (``tests/terraform/test_secret_policy_lifecycle.py``
  records the request it sends). ``UpdateSecret`` with ``SecretString`` and no ``KmsKeyId``
  uses the secret's own key, whose policy refuses the administrator ``kms:GenerateDataKey``;
* nobody but the key Lambda's role moves a version label (``UpdateSecretVersionStage``:
  pointing ``AWSCURRENT`` at another version changes the key a node reads as surely as
  writing one) or replicates the secret to another region (``ReplicateSecretToRegions``; its
  API reference also requires ``kms:Decrypt`` on the primary key, which the secrets key's
  policy refuses everyone but the key Lambda and the hosts' role);
* nobody at all deletes the secret without a recovery window (``DeleteSecret`` with
  ``ForceDeleteWithoutRecovery``; the Service Authorization Reference gives the call the Bool
  condition key ``secretsmanager:ForceDeleteWithoutRecovery``). A slot's key is the
  validator's identity: a force-deleted one is gone, with no way back. Terraform's destroy
  schedules the deletion with the slot secrets' 30-day window instead
  (``validator_keys.SECRET_RECOVERY_WINDOW_DAYS``;
  ``tests/terraform/test_secret_policy_lifecycle.py`` records the request the provider
  sends), and every ``DeleteSecret`` alerts (``besu_stack/constructs/monitoring.py``).

``RestoreSecret`` only cancels a scheduled deletion: the versions it brings back are the ones
the secret had, so it is not guarded.

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
  (``besu_stack/constructs/secrets_key.py``), so nobody else reads the key
  (``tests/lambdas/test_secret_access_states.py`` evaluates every state). What no policy can
  stop here is an administrator's ``UpdateSecret`` with a value and a KMS key of their own:
  that replaces the key (it never reveals the old one; the node then fails closed, its
  address no longer the registry's), and an EventBridge rule on the CloudTrail event alerts
  (``besu_stack/constructs/monitoring.py``, ``secret_value_event_patterns``). Nor can it stop
  a ``DeleteSecret`` without a recovery window, which loses the key for good; that alerts too
  (``secret_deletion_event_patterns``).

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

KEY_LAMBDA_ONLY_ACTIONS: tuple[str, ...] = (
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:UpdateSecretVersionStage",
)
"""Copying the key to another region, and choosing which version is current: the key Lambda's."""

KMS_KEY_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("NoOtherKmsKeyById", "StringNotEquals", "secretsmanager:KmsKeyId"),
    ("NoOtherKmsKeyByArn", "ArnNotEquals", "secretsmanager:KmsKeyArn"),
)
"""(Sid, negated operator, condition key) of the two ``UpdateSecret`` guards (module doc)."""

GUARD_SID = "OnlyTheKeyLambdaAndTheSlotsNodeTouchTheKey"
NO_FORCED_DELETION_SID = "NobodyDeletesTheKeyWithoutRecovery"
KEY_LAMBDA_ONLY_SID = "OnlyTheKeyLambdaMovesOrCopiesTheKey"
OWNER_ALLOW_SID = "OwnerInstanceMayRead"
OWNER_ONLY_SID = "NotFromOtherInstances"
HOSTS_READ_ONLY_SID = "OnlyTheOwnerInstance"


def _all_of(*clauses: tuple[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A ``Condition`` block holding every ``(operator, {key: value})`` clause (all ANDed).

    Clauses of one operator share its block: a second ``StringNotEquals`` key must join the
    first, not replace it.
    """
    block: dict[str, dict[str, Any]] = {}
    for operator, keys in clauses:
        for key, value in keys.items():
            if key in block.setdefault(operator, {}):
                raise ValueError(f"condition {operator} names {key} twice")
            block[operator][key] = value
    return block


def key_guard_statements(
    allowed_principal_arns: Sequence[str], key_lambda_role_arn: str, secrets_key_arn: str
) -> list[Statement]:
    """The statements every slot-secret policy holds (see the module docstring).

    Reading and overwriting the key is denied to every principal not in
    ``allowed_principal_arns``; choosing another KMS key, moving a version label and
    replicating to every principal but ``key_lambda_role_arn``; deleting without a recovery
    window to everyone.
    """
    not_allowed = {"aws:PrincipalArn": sorted(set(allowed_principal_arns))}
    not_key_lambda = {"aws:PrincipalArn": [key_lambda_role_arn]}
    return [
        {
            "Sid": GUARD_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(KEY_ACTIONS),
            "Resource": "*",
            "Condition": {"StringNotEquals": not_allowed},
        },
        *(
            {
                "Sid": sid,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:UpdateSecret",
                "Resource": "*",
                "Condition": _all_of(
                    # From anyone but the key Lambda, with the key present and not ours.
                    ("StringNotEquals", not_key_lambda),
                    ("Null", {key: "false"}),
                    (operator, {key: secrets_key_arn}),
                ),
            }
            for sid, operator, key in KMS_KEY_CONDITIONS
        ),
        {
            "Sid": KEY_LAMBDA_ONLY_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(KEY_LAMBDA_ONLY_ACTIONS),
            "Resource": "*",
            "Condition": {"StringNotEquals": not_key_lambda},
        },
        {
            "Sid": NO_FORCED_DELETION_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:DeleteSecret",
            "Resource": "*",
            "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
        },
    ]


def document(statements: Sequence[Statement]) -> str:
    """A policy document as compact, key-sorted JSON (byte-stable)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def initial_policy(
    key_lambda_role_arn: str, secrets_key_arn: str, reader_role_arns: Sequence[str] = ()
) -> str:
    """Terraform's policy of a slot secret: only the key Lambda (and readers) touch the key."""
    return document(
        key_guard_statements(
            [key_lambda_role_arn, *reader_role_arns], key_lambda_role_arn, secrets_key_arn
        )
    )


def owner_policy(
    instance_role_arn: str, key_lambda_role_arn: str, owner_instance_arn: str, secrets_key_arn: str
) -> str:
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
            *key_guard_statements(
                [key_lambda_role_arn, instance_role_arn], key_lambda_role_arn, secrets_key_arn
            ),
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
