"""Granting use of KMS keys: through an AWS service, or in a key policy that decides alone.

A key whose policy delegates to the account's IAM (the network key, the state key) is used by a
principal only if its identity policy allows it. Every such use here goes through a service
that encrypts on the caller's behalf (S3, DynamoDB, SQS, EC2), so each grant carries
``kms:ViaService`` for that service in this region ("AWS KMS condition keys: kms:ViaService",
https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service):
the principal can never call KMS directly with the key. This is the one place identity-side
``kms:ViaService`` grants are written.

A key whose policy does **not** delegate to IAM (the validator secrets' key, the RPC token key)
is used only by the principals its own policy names (a key policy must allow a request itself,
"Key policies in AWS KMS", https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html):
:class:`DecidingKeyPolicy` is that policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from besu_stack.constructs.iam import Grantable, Statement, policy_document
from besu_stack.constructs.platform import Platform

DECRYPT: tuple[str, ...] = ("kms:Decrypt",)
ENCRYPT_DECRYPT: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey")
"""What a service needs to read and write objects under the key on a caller's behalf (S3, SQS
and DynamoDB generate a data key to write and decrypt it to read)."""
EBS_VOLUMES: tuple[str, ...] = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
"""What EC2 needs to create, restore, attach and snapshot encrypted volumes for the caller
("How Amazon EBS uses AWS KMS", https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html)."""

KEY_ADMINISTRATION_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
"""What the account's administrators may do with a key whose policy decides alone: everything
but using it (no encrypt, decrypt, sign, data keys, re-encryption or ``CreateGrant``: a grant
would let an administrator use the key without a visible policy change)."""

ADMINISTRATION_SID = "AccountAdministersButCannotUseTheKey"
"""The statement id of the account's administration of a :class:`DecidingKeyPolicy`'s key."""

_SID = re.compile(r"[A-Za-z0-9]+")
"""What a statement id may be ("IAM JSON policy elements: Sid")."""


class DecidingKeyPolicy:
    """The policy of a key that decides alone who uses it: no IAM policy can add a user.

    It starts with one statement that lets the account administer the key
    (:data:`KEY_ADMINISTRATION_ACTIONS`) and gains one statement per :meth:`allow`, which names
    its principal. ``owner`` names the key in error messages.
    """

    def __init__(self, root_arn: str, *, owner: str) -> None:
        self._root_arn = root_arn
        self._owner = owner
        self._grants: list[Statement] = []

    def allow(
        self,
        sid: str,
        principal_arn: str,
        actions: Sequence[str],
        *,
        condition: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """Let ``principal_arn`` use the key for ``actions`` (under ``condition``, if any).

        ``sid`` names the statement (letters and digits, once per policy), so the policy says
        whom it admits.
        """
        if not _SID.fullmatch(sid):
            raise ValueError(f"{self._owner} grant: sid {sid!r} must be letters and digits")
        if sid == ADMINISTRATION_SID or any(granted["Sid"] == sid for granted in self._grants):
            raise ValueError(f"{self._owner} grant: sid {sid!r} is already used")
        statement: dict[str, object] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": principal_arn},
            "Action": list(actions),
            "Resource": "*",
        }
        if condition:
            statement["Condition"] = {op: dict(values) for op, values in condition.items()}
        self._grants.append(statement)

    def document(self) -> str:
        """The key policy as JSON (``policy_document``)."""
        administration: Statement = {
            "Sid": ADMINISTRATION_SID,
            "Effect": "Allow",
            "Principal": {"AWS": self._root_arn},
            "Action": list(KEY_ADMINISTRATION_ACTIONS),
            "Resource": "*",
        }
        return policy_document([administration, *self._grants])


class EncryptionKey(Protocol):
    """A KMS key other constructs encrypt with and grant use of."""

    @property
    def key_arn(self) -> str:
        """The key's ARN."""
        ...

    def grant(self, grantee: Grantable, actions: Sequence[str], *, via_service: str) -> None:
        """Let ``grantee`` use the key for ``actions`` through ``via_service`` only."""
        ...


class KeyGrants:
    """Identity-side grants on a key whose policy delegates to the account's IAM.

    Each grant adds to the grantee's policy one statement per service, named
    ``UseKeyThrough<Service>`` (statements for one service merge their actions).
    """

    def __init__(self, key_arn: str, platform: Platform) -> None:
        self.key_arn = key_arn
        self._platform = platform

    def grant(self, grantee: Grantable, actions: Sequence[str], *, via_service: str) -> None:
        """Let ``grantee`` use the key for ``actions``, only through ``via_service``."""
        if not via_service.isalnum():
            raise ValueError(f"via_service {via_service!r} must be a service name such as 's3'")
        grantee.add_to_policy(
            {
                "Sid": f"UseKeyThrough{via_service.capitalize()}",
                "Effect": "Allow",
                "Action": sorted(set(actions)),
                "Resource": self.key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": self._platform.service_endpoint(via_service)}
                },
            }
        )

    def grant_decrypt(self, grantee: Grantable, *, via_service: str) -> None:
        """Let ``grantee`` read data the service encrypted with the key."""
        self.grant(grantee, DECRYPT, via_service=via_service)

    def grant_encrypt_decrypt(self, grantee: Grantable, *, via_service: str) -> None:
        """Let ``grantee`` read and write data the service encrypts with the key."""
        self.grant(grantee, ENCRYPT_DECRYPT, via_service=via_service)
