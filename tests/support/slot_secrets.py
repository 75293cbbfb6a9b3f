"""Who can read or overwrite a validator key, given a slot secret's resource policy.

The principals and their policies come from one synthesized network (``tests/support/iam_eval.py``
resolves its references): the key Lambda, the hosts' role, the health checker, the three
lifecycle functions, and an account administrator whose identity policy allows everything but
who has no grant of its own. The secret's resource policy is the variable: Terraform's initial
one, one the launch hook wrote, or none (after a revoke).

Reading a key takes two decisions ("Secret encryption and decryption in AWS Secrets Manager",
https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html):
Secrets Manager allows ``GetSecretValue`` (identity and resource policies, :meth:`SlotSecrets.
secrets_manager_allows`), then KMS allows Secrets Manager's ``kms:Decrypt`` for the caller (the
secrets key's policy, with ``kms:ViaService`` and the ``SecretARN`` encryption context).
Overwriting takes ``PutSecretValue`` and ``kms:GenerateDataKey``; so does ``UpdateSecret`` with
a value and no ``KmsKeyId`` (the secret's own key encrypts the new version).

``UpdateSecret`` with a value and a ``KmsKeyId`` of the caller's own key is the other way to
replace a key (:meth:`SlotSecrets.can_replace_with_own_key`): KMS's half is then the caller's
own key, whose default policy lets the account's IAM decide ("Default key policy",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html), so only the
secret's policy can refuse it. Its two condition keys ("Actions, resources, and condition keys
for AWS Secrets Manager",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html):
``secretsmanager:KmsKeyId``, the key as the request names it (ARN, key id, alias or alias ARN),
and ``secretsmanager:KmsKeyArn``, the key's ARN. Whether AWS fills both, and resolves an alias
into ``KmsKeyArn``, no page says; the evaluations take each key alone as well as both.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from tests.conftest import StackJson, resources
from tests.support.iam_eval import (
    ACCOUNT,
    ADMIN,
    ALLOW_EVERYTHING,
    REGION,
    Policies,
    Request,
    is_allowed,
    resolve,
    role_policies,
)

SLOT = 1
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:besu/validator-{SLOT}/key-AbCdEf"
"""Slot 1's secret in the synthesized default network (``besu``)."""
VERBS: dict[str, tuple[str, str | None]] = {
    "read": ("secretsmanager:GetSecretValue", "kms:Decrypt"),
    "overwrite": ("secretsmanager:PutSecretValue", "kms:GenerateDataKey"),
    # UpdateSecret with a value and no KmsKeyId: a new version under the secret's own key.
    "update": ("secretsmanager:UpdateSecret", "kms:GenerateDataKey"),
    # Pointing AWSCURRENT at another version: no KMS call at all.
    "move": ("secretsmanager:UpdateSecretVersionStage", None),
    # The API reference requires kms:Decrypt on the primary secret's key.
    "replicate": ("secretsmanager:ReplicateSecretToRegions", "kms:Decrypt"),
    # Deleting (scheduled, or without recovery): no KMS call.
    "delete": ("secretsmanager:DeleteSecret", None),
}
"""What each verb takes: the Secrets Manager action, and the KMS action on the secrets key."""
OWN_KEY_ID = "0000aaaa-bbbb-cccc-dddd-eeeeffff0000"
OWN_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{OWN_KEY_ID}"
OWN_KEY_SPELLINGS = {
    "key ARN": OWN_KEY_ARN,
    "key id": OWN_KEY_ID,
    "alias": "alias/mine",
    "alias ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mine",
}
"""A KMS key of the administrator's own, as an ``UpdateSecret`` request may name it."""
OWN_KEY_POLICY = {
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
}
"""KMS's default key policy: the account's IAM policies decide who uses the key."""
FILLED = (("KmsKeyId", "KmsKeyArn"), ("KmsKeyId",), ("KmsKeyArn",))
"""Which of the two condition keys AWS may fill for an ``UpdateSecret`` naming a key."""


def update_context(
    named: str | None, key_arn: str | None, filled: Collection[str] = FILLED[0]
) -> dict[str, str]:
    """The condition keys of an ``UpdateSecret`` naming KMS key ``named`` (ARN ``key_arn``)."""
    if named is None:
        return {}
    context = {"secretsmanager:KmsKeyId": named} if "KmsKeyId" in filled else {}
    if "KmsKeyArn" in filled and key_arn is not None:
        context["secretsmanager:KmsKeyArn"] = key_arn
    return context


ROLE_PATHS = {
    "key lambda": "/validator_keys/keygen/role",
    "host": "/fleet/instance_role",
    "health checker": "/health_check/health/role",
    "launch hook": "/node_lifecycle/launch/role",
    "termination hook": "/node_lifecycle/termination/role",
    "reconciler": "/node_lifecycle/reconciler/role",
}


def by_path(stack: StackJson, kind: str, suffix: str) -> dict[str, Any]:
    """The one resource of ``kind`` whose construct path ends with ``suffix``."""
    (found,) = [
        r for r in resources(stack, kind).values() if r["//"]["metadata"]["path"].endswith(suffix)
    ]
    return found


def function_environment(stack: StackJson, suffix: str) -> dict[str, str]:
    """The resolved environment variables of the Lambda function at ``suffix``."""
    function = by_path(stack, "aws_lambda_function", suffix)
    variables = function["environment"]["variables"]
    return {name: resolve(stack, str(value)) for name, value in variables.items()}


class SlotSecrets:
    """The synthesized policies around slot 1's secret, evaluated for a list of principals."""

    def __init__(self, stack: StackJson) -> None:
        self.key_policy = resolve(
            stack, by_path(stack, "aws_kms_key", "/validator_keys/secrets_key/key")["policy"]
        )
        (key_id,) = [
            name
            for name, r in resources(stack, "aws_kms_key").items()
            if r["//"]["metadata"]["path"].endswith("/validator_keys/secrets_key/key")
        ]
        self.key_arn = resolve(stack, "${aws_kms_key." + key_id + ".arn}")
        """The secrets key's ARN, as the policies and the launch hook's environment name it."""
        self.initial_policy = resolve(
            stack,
            by_path(stack, "aws_secretsmanager_secret_policy", f"/slot_{SLOT}_policy")["policy"],
        )
        self.roles: dict[str, tuple[str, list[str]]] = {
            who: role_policies(stack, suffix) for who, suffix in ROLE_PATHS.items()
        }
        self.roles["admin"] = (ADMIN, [json.dumps(ALLOW_EVERYTHING)])

    def arn(self, who: str) -> str:
        """The role ARN of ``who``."""
        return self.roles[who][0]

    def _request(self, who: str, action: str, resource: str, context: Mapping[str, str]) -> Request:
        return Request(self.arn(who), action, resource, dict(context))

    def secrets_manager_allows(
        self,
        who: str,
        verb: str,
        secret_policy: str | None,
        instance: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> bool:
        """Secrets Manager's half alone: the identity policies and the secret's own policy."""
        api, _ = VERBS[verb]
        keys = {**({"ec2:SourceInstanceARN": instance} if instance else {}), **(context or {})}
        return is_allowed(
            self._request(who, api, SECRET_ARN, keys),
            Policies(
                identity=self.roles[who][1],
                resource=[secret_policy] if secret_policy is not None else [],
            ),
        )

    def kms_allows(self, who: str, verb: str, instance: str | None = None) -> bool:
        """KMS's half: Secrets Manager decrypting (or generating a data key) for ``who``."""
        _, kms = VERBS[verb]
        if kms is None:
            return True
        context = {
            **({"ec2:SourceInstanceARN": instance} if instance else {}),
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
            "kms:EncryptionContext:SecretARN": SECRET_ARN,
        }
        return is_allowed(
            self._request(who, kms, self.key_arn, context),
            Policies(identity=self.roles[who][1], key_policy=self.key_policy),
        )

    def can(
        self, who: str, verb: str, secret_policy: str | None, instance: str | None = None
    ) -> bool:
        """Whether ``who`` can ``read`` or ``overwrite`` slot 1's key (both halves)."""
        return self.secrets_manager_allows(who, verb, secret_policy, instance) and self.kms_allows(
            who, verb, instance
        )

    def can_replace_with_own_key(
        self,
        who: str,
        secret_policy: str | None,
        spelling: str = "key ARN",
        filled: Collection[str] = FILLED[0],
    ) -> bool:
        """Whether ``who`` can store a value of their choice in slot 1's secret under a KMS key
        of their own (``UpdateSecret`` with ``SecretString`` and ``KmsKeyId``), the key named as
        ``spelling`` (of :data:`OWN_KEY_SPELLINGS`) and AWS filling the condition keys
        ``filled``. KMS's half: ``kms:GenerateDataKey`` on that key, under its default policy."""
        context = update_context(OWN_KEY_SPELLINGS[spelling], OWN_KEY_ARN, filled)
        secrets_manager = self.secrets_manager_allows(who, "update", secret_policy, None, context)
        kms = is_allowed(
            self._request(who, "kms:GenerateDataKey", OWN_KEY_ARN, {}),
            Policies(identity=self.roles[who][1], key_policy=OWN_KEY_POLICY),
        )
        return secrets_manager and kms

    def may_update_metadata(
        self,
        who: str,
        secret_policy: str | None,
        kms_key_id: str | None,
        filled: Collection[str] = FILLED[0],
    ) -> bool:
        """Whether Secrets Manager lets ``who`` call ``UpdateSecret`` without a value, naming
        ``kms_key_id`` (an ARN, or ``None``): what Terraform does to change a description."""
        context = {
            "secretsmanager:Description": "Besu node key",
            **update_context(kms_key_id, kms_key_id, filled),
        }
        return self.secrets_manager_allows(who, "update", secret_policy, None, context)

    def may_call(self, who: str, action: str) -> bool:
        """Whether ``who``'s identity policies allow ``action`` on slot 1's secret."""
        return is_allowed(
            self._request(who, action, SECRET_ARN, {}), Policies(identity=self.roles[who][1])
        )

    def can_use_key_directly(self, who: str) -> bool:
        """Whether ``who`` may decrypt with the secrets key outside Secrets Manager."""
        return is_allowed(
            self._request(who, "kms:Decrypt", self.key_arn, {}),
            Policies(identity=self.roles[who][1], key_policy=self.key_policy),
        )
