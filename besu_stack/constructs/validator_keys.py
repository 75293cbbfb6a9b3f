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
from besu_stack.constructs.iam import Statement, policy_document
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform
from besu_stack.constructs.python_function import PythonFunction
from besu_stack.constructs.registry import ValidatorRegistry
from besu_stack.constructs.secrets_key import ValidatorSecretsKey
from besu_stack.constructs.state_bucket import SecureBucket
from besu_stack.lambda_kernel import slots

GENESIS_OBJECT_KEY = "genesis.json"
STATIC_NODES_OBJECT_KEY = "static-nodes.json"
SECRET_RECOVERY_WINDOW_DAYS = 30
"""A deleted validator key can be restored for 30 days (the maximum): a key is an identity."""


def secret_name(naming: Naming, slot: int) -> str:
    """Secrets Manager name of a slot's node key (the key Lambda derives the same name)."""
    return slots.secret_name(naming.network_name, slot)


class ValidatorKeys(Construct):
    """One secret per validator slot, filled by a key-generation Lambda that Terraform invokes.

    * ``validator_count`` secrets named ``<network>/validator-<slot>/key``, encrypted with a KMS
      key of their own (:class:`ValidatorSecretsKey`: only the key Lambda and the principals
      given :meth:`grant_decrypt` may decrypt, and only through Secrets Manager), never rotated (a validator key is an identity), recoverable for 30
      days after deletion, with a resource policy that refuses reading or writing the value to
      every principal but the key Lambda and ``reader_role_arns``.
    * An artifact bucket (KMS-encrypted, versioned, private, TLS-only) for ``genesis.json`` and
      ``static-nodes.json``.
    * The key-generation Lambda and an ``aws_lambda_invocation`` of it, re-run whenever the
      validator count changes. For each slot whose secret has no value it generates a key,
      stores it, and records the slot's public data in the registry; then it writes genesis and
      static-nodes (once: the genesis of a running chain is never regenerated). It never
      overwrites a key; keys put into the secrets beforehand are used as they are (bring your
      own keys). Its result, which Terraform keeps in state, holds public data only.

    Attributes: ``secret_arns``, ``secret_names``, ``secrets_key`` (the
    :class:`ValidatorSecretsKey`), ``artifact_bucket_name``,
    ``artifact_bucket_arn``, ``genesis_object_key``, ``static_nodes_object_key``,
    ``function`` (the :class:`PythonFunction`), ``invocation_result``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        naming: Naming,
        platform: Platform,
        validator_count: int,
        protocol: Protocol,
        chain_id: float,
        genesis_options_json: str,
        private_zone_domain: str,
        registry: ValidatorRegistry,
        kms_key_arn: str,
        log_retention_days: float,
        subnet_ids: Sequence[str],
        security_group_id: str,
        reader_role_arns: Sequence[str] = (),
        adopt_secrets: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.secrets_key = ValidatorSecretsKey(
            self, "secrets_key", naming=naming, platform=platform
        )
        # Adopted secrets (bring your own keys) exist before the first apply and are read, not
        # managed: Terraform never writes their value, and the key Lambda uses the key they
        # hold as it is (it never overwrites a key). Terraform still writes their policy.
        self.secrets: list[SecretsmanagerSecret | DataAwsSecretsmanagerSecret] = [
            DataAwsSecretsmanagerSecret(
                self, f"adopted_slot_{slot}", name=secret_name(naming, slot)
            )
            if adopt_secrets
            else SecretsmanagerSecret(
                self,
                f"slot_{slot}",
                name=secret_name(naming, slot),
                description=f"Besu node key of validator slot {slot} of network {naming.network_name}",
                kms_key_id=self.secrets_key.key_arn,
                recovery_window_in_days=SECRET_RECOVERY_WINDOW_DAYS,
                tags={"besu:slot": str(slot)},
            )
            for slot in range(validator_count)
        ]
        self.secret_arns: list[str] = [s.arn for s in self.secrets]
        self.secret_names: list[str] = [
            secret_name(naming, slot) for slot in range(validator_count)
        ]

        self.artifacts = SecureBucket(
            self,
            "artifacts",
            bucket_name=f"{naming.name('artifacts')}-{platform.account_id}-{platform.region}",
            kms_key_arn=kms_key_arn,
            noncurrent_days=365,
        )
        self.artifact_bucket_name: str = self.artifacts.bucket_name
        self.artifact_bucket_arn: str = self.artifacts.bucket_arn
        self.genesis_object_key = GENESIS_OBJECT_KEY
        self.static_nodes_object_key = STATIC_NODES_OBJECT_KEY

        bucket_arn = self.artifacts.bucket_arn
        via = [
            f"{service}.{platform.region}.amazonaws.com"
            # The secrets have their own key (secrets_key), which admits this function itself.
            for service in ("s3", "dynamodb", "lambda")
        ]
        statements: list[Statement] = [
            {
                "Sid": "FillSlotSecrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                ],
                "Resource": self.secret_arns,
            },
            {
                "Sid": "RecordSlotPublicData",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                "Resource": registry.table_arn,
            },
            {
                "Sid": "WriteGenesisAndStaticNodes",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [
                    f"{bucket_arn}/{GENESIS_OBJECT_KEY}",
                    f"{bucket_arn}/{STATIC_NODES_OBJECT_KEY}",
                ],
            },
            {
                # Without ListBucket a missing object reads as AccessDenied, not NoSuchKey.
                "Sid": "SeeWhetherGenesisExists",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
            },
            {
                "Sid": "UseNetworkKeyThroughTheseServicesOnly",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": via}},
            },
        ]
        self.function = PythonFunction(
            self,
            "keygen",
            function_name=naming.name("keygen"),
            source="keygen",
            description="Generates validator keys into empty slot secrets; writes genesis once",
            platform=platform,
            statements=statements,
            environment={
                "SECRET_NAME_PREFIX": naming.network_name,
                "KMS_KEY_ID": kms_key_arn,
                "SECRET_KMS_KEY_ID": self.secrets_key.key_arn,
                "REGISTRY_TABLE_NAME": registry.table_name,
                "ARTIFACT_BUCKET_NAME": self.artifact_bucket_name,
                "PRIVATE_ZONE_DOMAIN": private_zone_domain,
                "CONSENSUS_PROTOCOL": protocol,
                "CHAIN_ID": Token.as_string(chain_id),
                "GENESIS_OPTIONS_JSON": genesis_options_json,
            },
            kms_key_arn=kms_key_arn,
            log_retention_days=log_retention_days,
            subnet_ids=subnet_ids,
            security_group_ids=[security_group_id],
            timeout_seconds=300,
            reserved_concurrency=1,
        )

        # The key Lambda stores values (PutSecretValue generates a data key) and reads them back.
        self.secrets_key.grant_decrypt(
            "KeyLambdaFillsSlotSecrets", self.function.role_arn, generate=True
        )
        allowed = sorted({self.function.role_arn, *reader_role_arns})
        self.secret_policies: list[SecretsmanagerSecretPolicy] = []
        """The initial secret policies (hosts must start after them: see NodeLifecycle)."""
        for slot, secret in enumerate(self.secrets):
            policy = SecretsmanagerSecretPolicy(
                self,
                f"slot_{slot}_policy",
                secret_arn=secret.arn,
                block_public_policy=True,
                # The initial policy: nobody but the key Lambda (and readers) touches the value.
                # From the first claim on, the launch hook owns the policy (it opens the secret
                # to the slot's current instance only), so Terraform must not put this back.
                lifecycle=TerraformResourceLifecycle(ignore_changes=["policy"]),
                policy=policy_document(
                    [
                        {
                            "Sid": "OnlyTheKeyLambdaAndTheSlotsNodeTouchTheKey",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": [
                                "secretsmanager:GetSecretValue",
                                "secretsmanager:PutSecretValue",
                            ],
                            "Resource": "*",
                            "Condition": {"StringNotEquals": {"aws:PrincipalArn": allowed}},
                        }
                    ]
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

    def grant_decrypt(self, role_arn: str) -> None:
        """Let the hosts' role decrypt the slot secrets through Secrets Manager.

        The key's half only: which host reads which secret is each secret's resource policy,
        written by the launch hook for the slot's current instance.
        """
        self.secrets_key.grant_decrypt("SlotHostsDecryptThroughSecretsManager", role_arn)

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
