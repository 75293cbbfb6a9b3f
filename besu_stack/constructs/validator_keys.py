"""Validator keys generated inside AWS during the one apply, and the network's genesis files."""

from __future__ import annotations

import json
from collections.abc import Sequence

from cdktf import Fn, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.data_aws_secretsmanager_secret import DataAwsSecretsmanagerSecret
from cdktf_cdktf_provider_aws.lambda_invocation import LambdaInvocation
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret
from cdktf_cdktf_provider_aws.secretsmanager_secret_policy import SecretsmanagerSecretPolicy
from constructs import Construct

from besu_stack.besu.extra_data import Protocol
from besu_stack.constructs.iam import Grantable
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey
from besu_stack.constructs.python_function import PythonFunction
from besu_stack.constructs.registry import ValidatorRegistry
from besu_stack.constructs.secrets_key import ValidatorSecretsKey
from besu_stack.constructs.state_bucket import SecureBucket
from besu_stack.lambda_kernel import secret_policy

GENESIS_OBJECT_KEY = "genesis.json"
STATIC_NODES_OBJECT_KEY = "static-nodes.json"
SECRET_RECOVERY_WINDOW_DAYS = 30
"""A deleted validator key can be restored for 30 days (the maximum): a key is an identity."""


class ValidatorKeys(Construct):
    """One secret per validator slot, filled by a key-generation Lambda that Terraform invokes.

    * ``validator_count`` secrets named ``<network>/validator-<slot>/key``, encrypted with a KMS
      key of their own (:class:`ValidatorSecretsKey`: only the key Lambda and the principals
      given :meth:`grant_read` may decrypt, and only through Secrets Manager), never rotated (a
      validator key is an identity), recoverable for 30 days after deletion, with an initial
      resource policy that refuses reading or writing the value to every principal but the key
      Lambda; from the first claim on, the launch hook owns that policy
      (:meth:`grant_open_access`) and the lifecycle functions withdraw it by deleting it
      (:meth:`grant_revoke_access`).
    * An artifact bucket (KMS-encrypted, versioned, private, TLS-only) for ``genesis.json`` and
      ``static-nodes.json`` (``artifacts``: grant reading them with its ``grant_read``).
    * The key-generation Lambda and an ``aws_lambda_invocation`` of it, re-run whenever the
      validator count changes. For each slot whose secret has no value it generates a key,
      stores it, and records the slot's public data in the registry; then it writes genesis and
      static-nodes (once: the genesis of a running chain is never regenerated). It never
      overwrites a key; keys put into the secrets beforehand are used as they are (bring your
      own keys). Its result, which Terraform keeps in state, holds public data only.

    Attributes: ``secret_arns``, ``secret_names``, ``secrets_key`` (the
    :class:`ValidatorSecretsKey`), ``artifacts`` (the :class:`SecureBucket`),
    ``artifact_bucket_name``, ``artifact_bucket_arn``, ``genesis_object_key``,
    ``static_nodes_object_key``, ``network_files`` (both keys), ``function`` (the
    :class:`PythonFunction`), ``invocation_result``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        key: EncryptionKey,
        validator_count: int,
        protocol: Protocol,
        chain_id: float,
        genesis_options_json: str,
        private_zone_domain: str,
        registry: ValidatorRegistry,
        log_retention_days: float,
        subnet_ids: Sequence[str],
        security_group_id: str,
        adopt_secrets: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self._identity = identity
        platform = identity.platform
        self.secrets_key = ValidatorSecretsKey(self, "secrets_key", identity=identity)
        # Adopted secrets (bring your own keys) exist before the first apply and are read, not
        # managed: Terraform never writes their value, and the key Lambda uses the key they
        # hold as it is (it never overwrites a key). Terraform still writes their policy.
        self.secrets: list[SecretsmanagerSecret | DataAwsSecretsmanagerSecret] = [
            DataAwsSecretsmanagerSecret(
                self, f"adopted_slot_{slot}", name=identity.secret_name(slot)
            )
            if adopt_secrets
            else SecretsmanagerSecret(
                self,
                f"slot_{slot}",
                name=identity.secret_name(slot),
                description=f"Besu node key of validator slot {slot} of network {identity.network_name}",
                kms_key_id=self.secrets_key.key_arn,
                recovery_window_in_days=SECRET_RECOVERY_WINDOW_DAYS,
                tags={"besu:slot": str(slot)},
            )
            for slot in range(validator_count)
        ]
        self.secret_arns: list[str] = [s.arn for s in self.secrets]
        self.secret_names: list[str] = [
            identity.secret_name(slot) for slot in range(validator_count)
        ]

        self.artifacts = SecureBucket(
            self,
            "artifacts",
            bucket_name=f"{identity.name('artifacts')}-{platform.account_id}-{platform.region}",
            encryption_key=key,
            noncurrent_days=365,
        )
        self.artifact_bucket_name: str = self.artifacts.bucket_name
        self.artifact_bucket_arn: str = self.artifacts.bucket_arn
        self.genesis_object_key = GENESIS_OBJECT_KEY
        self.static_nodes_object_key = STATIC_NODES_OBJECT_KEY
        self.network_files = (GENESIS_OBJECT_KEY, STATIC_NODES_OBJECT_KEY)

        self.function = PythonFunction(
            self,
            "keygen",
            identity=identity,
            function_name=identity.name("keygen"),
            source="keygen",
            description="Generates validator keys into empty slot secrets; writes genesis once",
            environment={
                "SECRET_NAME_PREFIX": identity.network_name,
                "KMS_KEY_ID": key.key_arn,
                "SECRET_KMS_KEY_ID": self.secrets_key.key_arn,
                "REGISTRY_TABLE_NAME": registry.table_name,
                "ARTIFACT_BUCKET_NAME": self.artifact_bucket_name,
                "PRIVATE_ZONE_DOMAIN": private_zone_domain,
                "CONSENSUS_PROTOCOL": protocol,
                "CHAIN_ID": Token.as_string(chain_id),
                "GENESIS_OPTIONS_JSON": genesis_options_json,
            },
            key=key,
            log_retention_days=log_retention_days,
            subnet_ids=subnet_ids,
            security_group_ids=[security_group_id],
            timeout_seconds=300,
            reserved_concurrency=1,
        )
        self._grant_key_lambda(registry)
        self.secret_policies: list[SecretsmanagerSecretPolicy] = []
        """The initial secret policies (hosts must start after them: see NodeLifecycle)."""
        for slot, secret in enumerate(self.secrets):
            policy = SecretsmanagerSecretPolicy(
                self,
                f"slot_{slot}_policy",
                secret_arn=secret.arn,
                block_public_policy=True,
                # The initial policy: nobody but the key Lambda touches the value. From the
                # first claim on, the launch hook owns the policy (it opens the secret to the
                # slot's current instance only), so Terraform must not put this back.
                lifecycle=TerraformResourceLifecycle(ignore_changes=["policy"]),
                # The key guard every policy the launch hook writes keeps too.
                policy=secret_policy.initial_policy(
                    self.function.role_arn, self.secrets_key.key_arn
                ),
            )
            self.secret_policies.append(policy)

        self.invocation = LambdaInvocation(
            self,
            "generate",
            function_name=self.function.function_name,
            input=json.dumps({"validator_count": validator_count}, sort_keys=True),
            # Runs on create and again whenever the validator count changes.
            triggers={"validator_count": str(validator_count)},
            depends_on=[*self.secrets, registry.table, self.artifacts.policy],
        )
        self.invocation_result: str = self.invocation.result

    def _grant_key_lambda(self, registry: ValidatorRegistry) -> None:
        """What the key Lambda does.

        Fill the slot secrets, record their public data, write the network files.
        """
        role = self.function.role
        role.add_to_policy(
            {
                "Sid": "FillSlotSecrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                ],
                "Resource": self.secret_arns,
            }
        )
        # It stores values (PutSecretValue generates a data key) and reads them back.
        self.secrets_key.grant_decrypt(role, sid="KeyLambdaFillsSlotSecrets", generate=True)
        registry.grant(role, ["dynamodb:GetItem", "dynamodb:PutItem"], sid="RecordSlotPublicData")
        self.artifacts.grant_write(role, self.network_files, sid="WriteGenesisAndStaticNodes")
        self.artifacts.grant_list(role, sid="SeeWhetherGenesisExists")

    @property
    def key_lambda_role_arn(self) -> str:
        """The key Lambda's role: the one principal besides a slot's host a slot policy admits."""
        return self.function.role_arn

    def grant_read(
        self, grantee: Grantable, *, sid: str = "SlotHostsDecryptThroughSecretsManager"
    ) -> None:
        """Let ``grantee`` (the hosts' role) decrypt a slot secret through Secrets Manager.

        The key's half only: which host reads which secret is each secret's resource policy,
        written by the launch hook for the slot's current instance, so this grants no
        ``GetSecretValue`` itself.
        """
        self.secrets_key.grant_decrypt(grantee, sid=sid)

    def grant_revoke_access(self, grantee: Grantable) -> None:
        """Let ``grantee`` (a lifecycle function) read and delete the slot secrets' policies.

        Deleting is how access is withdrawn: a secret without a policy is closed to everyone
        but the key Lambda (:mod:`besu_stack.lambda_kernel.secret_policy`), so a role that may
        only delete can withdraw access and never grant it.
        """
        grantee.add_to_policy(
            {
                "Sid": "RevokeSlotSecretAccess",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DeleteResourcePolicy",
                    "secretsmanager:GetResourcePolicy",
                ],
                "Resource": self._identity.secrets_arn,
            }
        )

    def grant_open_access(self, grantee: Grantable) -> None:
        """Let ``grantee`` (the launch hook) write the slot secrets' resource policies.

        Secrets Manager has no condition key on a policy's content, so whoever may write a
        policy may open the secret to anyone: only the launch hook gets this, and
        ``BlockPublicPolicy`` must be on for every write, so no policy it writes can open a
        secret outside the account.
        """
        secrets = self._identity.secrets_arn
        grantee.add_to_policy(
            {
                "Sid": "OpenSlotSecretsToTheirInstance",
                "Effect": "Allow",
                "Action": "secretsmanager:PutResourcePolicy",
                "Resource": secrets,
            }
        )
        grantee.add_to_policy(
            {
                "Sid": "OnlyNonPublicSecretPolicies",
                "Effect": "Deny",
                "Action": "secretsmanager:PutResourcePolicy",
                "Resource": secrets,
                "Condition": {"Bool": {"secretsmanager:BlockPublicPolicy": "false"}},
            }
        )

    def validator_addresses_expression(self) -> str:
        """A Terraform expression: the validator addresses from the Lambda's result, by slot."""
        return Token.as_string(
            f"${{[for s in jsondecode({self._result_ref()}).slots : s.address]}}"
        )

    def _result_ref(self) -> str:
        return (
            f"{self.invocation.terraform_resource_type}.{self.invocation.friendly_unique_id}.result"
        )


def genesis_options_json(
    block_period_seconds: float,
    request_timeout_seconds: float,
    epoch_length: float,
    evm_fork: str = "london",
) -> str:
    """The key Lambda's ``GENESIS_OPTIONS_JSON`` built by Terraform from plan-time variables.

    ``evm_fork`` (``london``, ``shanghai`` or ``cancun``, validated by the ``genesis_evm_fork``
    variable) sets ``shanghai_time``/``cancun_time`` to 0 (active from genesis) or null.
    """
    # Terraform literals in strings: cdktf renders a bare 0 inside an expression as undefined.
    shanghai = Fn.conditional(
        Fn.contains(["shanghai", "cancun"], evm_fork), Token.as_number("0"), Token.null_value()
    )
    cancun = Fn.conditional(
        Fn.contains(["cancun"], evm_fork), Token.as_number("0"), Token.null_value()
    )
    return Token.as_string(
        Fn.jsonencode(
            {
                "block_period_seconds": block_period_seconds,
                "request_timeout_seconds": request_timeout_seconds,
                "epoch_length": epoch_length,
                "shanghai_time": shanghai,
                "cancun_time": cancun,
            }
        )
    )
