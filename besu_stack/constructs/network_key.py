"""The network's customer-managed KMS key, used by every encrypted resource of the network."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from besu_stack.constructs.iam import policy_document
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform


class NetworkKey(Construct):
    """A symmetric customer-managed KMS key with yearly rotation and an alias.

    The key policy gives the account's IAM the usual delegated control (so IAM policies scoped to
    this key's ARN work) and lets the listed AWS services use the key only on behalf of this
    account: CloudWatch Logs for the encrypted log groups (bound by encryption context to this
    region's log groups) and any ``extra_service_principals`` (e.g. SNS, EventBridge) through
    ``kms:ViaService``-free service grants limited by ``aws:SourceAccount``.

    Attributes: ``key_arn``, ``key_id``, ``alias_name``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        naming: Naming,
        platform: Platform,
        deletion_window_days: float,
        extra_service_principals: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        account = platform.account_id
        root = f"arn:{platform.partition}:iam::{account}:root"
        statements = [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsEncryptsThisRegionsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{platform.region}.amazonaws.com"},
                # No kms:Describe*: DescribeKey carries no encryption context, so under this
                # condition it could never be allowed (parliament: UNKNOWN_CONDITION_FOR_ACTION).
                "Action": [
                    "kms:Decrypt*",
                    "kms:Encrypt*",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                ],
                "Resource": "*",
                # StringLike: encryption context values are strings (an ARN-shaped one here).
                "Condition": {
                    "StringLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{platform.partition}:logs:{platform.region}:{account}:log-group:*"
                    }
                },
            },
        ]
        if extra_service_principals:
            statements.append(
                {
                    "Sid": "AwsServicesOfThisAccountUseKey",
                    "Effect": "Allow",
                    "Principal": {"Service": sorted(extra_service_principals)},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            )
        self.key = KmsKey(
            self,
            "key",
            description=f"Encrypts the data of Besu network {naming.network_name}",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=deletion_window_days,
            policy=policy_document(statements),
        )
        self.alias = KmsAlias(
            self, "alias", name=f"alias/{naming.name('key')}", target_key_id=self.key.key_id
        )
        self.key_arn: str = self.key.arn
        self.key_id: str = self.key.key_id
        self.alias_name: str = self.alias.name
