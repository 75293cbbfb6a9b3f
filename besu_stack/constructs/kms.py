"""Using a KMS key through an AWS service: the one place ``kms:ViaService`` grants are written.

A key whose policy delegates to the account's IAM (the network key, the state key) is used by a
principal only if its identity policy allows it. Every such use here goes through a service
that encrypts on the caller's behalf (S3, DynamoDB, SQS, EC2), so each grant carries
``kms:ViaService`` for that service in this region ("AWS KMS condition keys: kms:ViaService",
https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service):
the principal can never call KMS directly with the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from besu_stack.constructs.iam import Grantable
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
