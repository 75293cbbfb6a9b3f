"""The key↔node registry: one DynamoDB item per validator slot."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from constructs import Construct

from besu_stack.constructs.naming import Naming


class ValidatorRegistry(Construct):
    """A DynamoDB table keyed by ``slot`` (a number), one item per validator slot.

    The key-generation Lambda writes each slot's public data (address, public key, enode); the
    fleet's lifecycle Lambdas add the runtime attributes (status, owning instance, AZ, volume,
    lease, version). Encrypted with the network's KMS key, point-in-time recovery on, deletion
    protection on (the registry is the map from keys to nodes: losing it strands the network).

    Attributes: ``table_name``, ``table_arn``.
    """

    def __init__(self, scope: Construct, id: str, *, naming: Naming, kms_key_arn: str) -> None:
        super().__init__(scope, id)
        self.table = DynamodbTable(
            self,
            "table",
            name=naming.name("registry"),
            billing_mode="PAY_PER_REQUEST",
            hash_key="slot",
            attribute=[DynamodbTableAttribute(name="slot", type="N")],
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(
                enabled=True, kms_key_arn=kms_key_arn
            ),
            deletion_protection_enabled=True,
        )
        self.table_name: str = self.table.name
        self.table_arn: str = self.table.arn
