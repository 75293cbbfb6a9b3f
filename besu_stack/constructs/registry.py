"""The key↔node registry: one DynamoDB item per validator slot."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from constructs import Construct

from besu_stack.constructs.iam import Grantable
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import ENCRYPT_DECRYPT, EncryptionKey

PARTITION_KEY = "slot"

FINE_GRAINED_ACCESS_DOC = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html"
)
"""DynamoDB's "Using IAM policy conditions for fine-grained access control"."""

ATTRIBUTE_LIMITED_RETURN_VALUES = ("NONE", "UPDATED_OLD", "UPDATED_NEW")
"""The ``ReturnValues`` a caller limited to some attributes may ask for: ``ALL_OLD`` and
``ALL_NEW`` would return the other attributes too (``FINE_GRAINED_ACCESS_DOC``)."""


class ValidatorRegistry(Construct):
    """A DynamoDB table keyed by ``slot`` (a number), one item per validator slot.

    The key-generation Lambda writes each slot's public data (address, public key, enode); the
    fleet's lifecycle Lambdas add the runtime attributes (status, owning instance, AZ, volume,
    lease, version); the health checker its ``health``. Encrypted with the network's KMS key,
    point-in-time recovery on, deletion protection on (the registry is the map from keys to
    nodes: losing it strands the network).

    Access is granted with :meth:`grant`, which can limit a principal to some attributes.

    Attributes: ``table`` (the ``DynamodbTable``), ``table_name``, ``table_arn``.
    """

    def __init__(
        self, scope: Construct, id: str, *, identity: NetworkIdentity, key: EncryptionKey
    ) -> None:
        super().__init__(scope, id)
        self._key = key
        self.table = DynamodbTable(
            self,
            "table",
            name=identity.name("registry"),
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            attribute=[DynamodbTableAttribute(name=PARTITION_KEY, type="N")],
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(
                enabled=True, kms_key_arn=key.key_arn
            ),
            deletion_protection_enabled=True,
        )
        self.table_name: str = self.table.name
        self.table_arn: str = self.table.arn

    def grant(
        self,
        grantee: Grantable,
        actions: Sequence[str],
        *,
        sid: str,
        attributes: Sequence[str] | None = None,
    ) -> None:
        """Let ``grantee`` call the item ``actions`` on the table, optionally on some attributes.

        With ``attributes``, the request may name (read, write or test in a condition) only
        those top-level attributes and the partition key (``dynamodb:Attributes``), and may not
        return other attributes (``dynamodb:ReturnValues``, ``dynamodb:Select``), as DynamoDB's
        fine-grained access control prescribes (``FINE_GRAINED_ACCESS_DOC``). Whole-item writes
        (``PutItem``, ``DeleteItem``, ``BatchWriteItem``) would bypass that limit and are refused
        with it. The table's key is granted through DynamoDB too.
        """
        if not actions or not all(a.startswith("dynamodb:") for a in actions):
            raise ValueError(
                f"registry grant {sid}: actions must be dynamodb:* actions, got {actions!r}"
            )
        condition = None
        if attributes is not None:
            whole_item = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
            if whole_item & set(actions):
                raise ValueError(
                    f"registry grant {sid}: {sorted(whole_item & set(actions))} replace whole "
                    "items and cannot be limited to attributes"
                )
            condition = {
                "ForAllValues:StringEquals": {
                    "dynamodb:Attributes": sorted({PARTITION_KEY, *attributes})
                },
                **_return_limits(set(actions)),
            }
        grantee.add_to_policy(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": self.table_arn,
                **({"Condition": condition} if condition else {}),
            }
        )
        self._key.grant(grantee, ENCRYPT_DECRYPT, via_service="dynamodb")


_WRITES_RETURNING = {"dynamodb:UpdateItem"}
_READS_SELECTING = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"}


def _return_limits(actions: set[str]) -> dict[str, dict[str, object]]:
    """What a request limited to some attributes may return (``FINE_GRAINED_ACCESS_DOC``).

    Writes: ``ReturnValues`` always has a value (``NONE`` unless given), so ``StringEquals``;
    reads: ``Select`` likewise. Each key applies only to its actions (``dynamodb:Select`` is no
    condition of ``UpdateItem``), so a grant of both kinds tests each if it exists.
    """
    writes, reads = actions & _WRITES_RETURNING, actions & _READS_SELECTING
    limits: dict[str, object] = {}
    if writes:
        limits["dynamodb:ReturnValues"] = list(ATTRIBUTE_LIMITED_RETURN_VALUES)
    if reads:
        limits["dynamodb:Select"] = "SPECIFIC_ATTRIBUTES"
    operator = "StringEqualsIfExists" if writes and reads else "StringEquals"
    return {operator: limits} if limits else {}
