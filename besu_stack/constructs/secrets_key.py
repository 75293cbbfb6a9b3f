"""The KMS key of the validator secrets: only the principals granted here may decrypt a key.

The network key (``network_key.py``) gives the account root ``kms:*`` so that IAM alone decides
who uses it: right for logs, volumes and buckets, wrong for validator keys, where any principal
with a broad IAM policy (an administrator role) could read or overwrite a validator's identity.
This key's policy is the whole decision instead (a key policy must allow a request itself, "Key
policies in AWS KMS", https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html):

* the account (its IAM principals with the permission) may **administer** the key: describe,
  tag, enable and disable, schedule deletion, rotate, and change the key policy, but not
  encrypt, decrypt, generate data keys, re-encrypt or create grants (a grant would let an
  administrator decrypt without a visible policy change);
* each principal granted with :meth:`ValidatorSecretsKey.grant_decrypt` may decrypt (and, with
  ``generate=True``, generate data keys) only through Secrets Manager in this region
  (``kms:ViaService``) and only for the validator secrets (``kms:EncryptionContext:SecretARN``:
  Secrets Manager encrypts each secret version under the context ``SecretARN``, "Secret
  encryption and decryption in AWS Secrets Manager",
  https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).

The lock-out trade-off: ``kms:PutKeyPolicy`` stays with the account's administrators. Without
it nobody could ever change this policy again (Terraform could not add a principal, and KMS's
lock-out safety check refuses such a policy unless bypassed), and a key whose policy admits no
one is unrecoverable. So an administrator can still give themselves decrypt, but only through
``PutKeyPolicy``: a deliberate, logged change of this key (CloudTrail), never a side effect of a
broad IAM policy.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from besu_stack.constructs.iam import Grantable
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import DecidingKeyPolicy

DELETION_WINDOW_DAYS = 30
"""The maximum: a deleted key makes every validator key it encrypts unreadable."""


class ValidatorSecretsKey(Construct):
    """A symmetric KMS key (rotated yearly, with an alias) for the validator secrets only.

    Its policy starts with key administration for the account and grows with each
    :meth:`grant_decrypt`. Attributes: ``key_arn``, ``key_id``, ``alias_name``.
    """

    def __init__(self, scope: Construct, id: str, *, identity: NetworkIdentity) -> None:
        super().__init__(scope, id)
        self._platform = identity.platform
        self._secret_arn_pattern = identity.secrets_arn
        self._policy = DecidingKeyPolicy(identity.platform.root_arn, owner="ValidatorSecretsKey")
        self.key = KmsKey(
            self,
            "key",
            description=f"Encrypts the validator keys of Besu network {identity.network_name}",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            policy=self._policy.document(),
        )
        self.alias = KmsAlias(
            self,
            "alias",
            name=f"alias/{identity.name('validator-keys')}",
            target_key_id=self.key.key_id,
        )
        self.key_arn: str = self.key.arn
        self.key_id: str = self.key.key_id
        self.alias_name: str = self.alias.name

    def grant_decrypt(self, grantee: Grantable, *, sid: str, generate: bool = False) -> None:
        """Let ``grantee`` decrypt validator secrets, through Secrets Manager only.

        ``generate`` also allows generating their data keys, which ``PutSecretValue`` needs.
        This is the key's half of reading a secret; the secret's own policy is the other half.
        ``sid`` names the statement (letters and digits), so the policy says who it admits.
        """
        self._policy.allow(
            sid,
            grantee.principal_arn,
            ["kms:Decrypt", "kms:GenerateDataKey"] if generate else ["kms:Decrypt"],
            condition={
                "StringEquals": {
                    "kms:ViaService": self._platform.service_endpoint("secretsmanager")
                },
                # Encryption context values are strings: StringLike, not ArnLike.
                "StringLike": {"kms:EncryptionContext:SecretARN": self._secret_arn_pattern},
            },
        )
        self.key.policy = self._policy.document()
