"""The network's customer-managed KMS key, used by every encrypted resource of the network."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from besu_stack.constructs.iam import Grantable, policy_document
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import KeyGrants


class NetworkKey(Construct):
    """A symmetric customer-managed KMS key with yearly rotation and an alias.

    The key policy gives the account's IAM the usual delegated control (so IAM policies scoped to
    this key's ARN work) and lets the listed AWS services use the key only on behalf of this
    account: CloudWatch Logs for the encrypted log groups (bound by encryption context to this
    region's log groups) and any ``extra_service_principals`` (e.g. SNS, EventBridge) through
    ``kms:ViaService``-free service grants limited by ``aws:SourceAccount``.

    Other constructs encrypt with it and grant its use (:meth:`grant`, :meth:`grant_decrypt`,
    :meth:`grant_encrypt_decrypt`) only through the service that encrypts for them.

    Attributes: ``key_arn``, ``key_id``, ``alias_name``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        deletion_window_days: float,
        extra_service_principals: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        platform = identity.platform
        account = platform.account_id
        statements = [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": platform.root_arn},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsEncryptsThisRegionsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": platform.service_endpoint("logs")},
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
                    "StringLike": {"kms:EncryptionContext:aws:logs:arn": identity.log_groups_arn()}
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
            description=f"Encrypts the data of Besu network {identity.network_name}",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=deletion_window_days,
            policy=policy_document(statements),
        )
        self.alias = KmsAlias(
            self, "alias", name=f"alias/{identity.name('key')}", target_key_id=self.key.key_id
        )
        self.key_arn: str = self.key.arn
        self.key_id: str = self.key.key_id
        self.alias_name: str = self.alias.name
        self._grants = KeyGrants(self.key_arn, platform)

    def grant(self, grantee: Grantable, actions: Sequence[str], *, via_service: str) -> None:
        """Let ``grantee`` use the key for ``actions`` through ``via_service`` (e.g. ``ec2``)."""
        self._grants.grant(grantee, actions, via_service=via_service)

    def grant_decrypt(self, grantee: Grantable, *, via_service: str) -> None:
        """Let ``grantee`` read what ``via_service`` encrypted with the key for it."""
        self._grants.grant_decrypt(grantee, via_service=via_service)

    def grant_encrypt_decrypt(self, grantee: Grantable, *, via_service: str) -> None:
        """Let ``grantee`` read and write through ``via_service`` with the key."""
        self._grants.grant_encrypt_decrypt(grantee, via_service=via_service)
