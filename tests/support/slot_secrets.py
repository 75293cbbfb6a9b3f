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
Overwriting takes ``PutSecretValue`` and ``kms:GenerateDataKey``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.conftest import StackJson, resources
from tests.support.iam_eval import ACCOUNT, REGION, Policies, Request, is_allowed, resolve

SLOT = 1
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:besu/validator-{SLOT}/key-AbCdEf"
"""Slot 1's secret in the synthesized default network (``besu``)."""
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Administrator"
ALLOW_EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
VERBS = {
    "read": ("secretsmanager:GetSecretValue", "kms:Decrypt"),
    "overwrite": ("secretsmanager:PutSecretValue", "kms:GenerateDataKey"),
}
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


def role(stack: StackJson, suffix: str) -> tuple[str, list[str]]:
    """(ARN, resolved inline policies) of the role at ``suffix``."""
    logical = next(
        name
        for name, r in resources(stack, "aws_iam_role").items()
        if r["//"]["metadata"]["path"].endswith(suffix)
    )
    arn = resolve(stack, "${aws_iam_role." + logical + ".arn}")
    policies = [
        resolve(stack, p["policy"])
        for p in resources(stack, "aws_iam_role_policy").values()
        if p["role"] == "${aws_iam_role." + logical + ".id}"
    ]
    return arn, policies


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
        self.key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/validator_keys_secrets_key"
        self.initial_policy = resolve(
            stack,
            by_path(stack, "aws_secretsmanager_secret_policy", f"/slot_{SLOT}_policy")["policy"],
        )
        self.roles: dict[str, tuple[str, list[str]]] = {
            who: role(stack, suffix) for who, suffix in ROLE_PATHS.items()
        }
        self.roles["admin"] = (ADMIN, [json.dumps(ALLOW_EVERYTHING)])

    def arn(self, who: str) -> str:
        """The role ARN of ``who``."""
        return self.roles[who][0]

    def _request(self, who: str, action: str, resource: str, context: Mapping[str, str]) -> Request:
        return Request(self.arn(who), action, resource, dict(context))

    def secrets_manager_allows(
        self, who: str, verb: str, secret_policy: str | None, instance: str | None = None
    ) -> bool:
        """Secrets Manager's half alone: the identity policies and the secret's own policy."""
        api, _ = VERBS[verb]
        context = {"ec2:SourceInstanceARN": instance} if instance else {}
        return is_allowed(
            self._request(who, api, SECRET_ARN, context),
            Policies(
                identity=self.roles[who][1],
                resource=[secret_policy] if secret_policy is not None else [],
            ),
        )

    def kms_allows(self, who: str, verb: str, instance: str | None = None) -> bool:
        """KMS's half: Secrets Manager decrypting (or generating a data key) for ``who``."""
        _, kms = VERBS[verb]
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
