"""The key the health checker signs its internal RPC tokens with: an asymmetric KMS key.

Besu authenticates every call on the internal port 8547 with a JWT (``RS256`` by default,
verified with a public key file; ``besu_stack/besu/internal_rpc.py``). The signing key is an
``RSA_2048`` / ``SIGN_VERIFY`` KMS key, chosen over a private key held in Secrets Manager:

* the private key is generated inside KMS and never leaves it ("Asymmetric keys in AWS KMS"),
  so there is no secret to generate, store, rotate or keep out of Terraform state, plan output
  or logs; the checker sends the signing input to ``kms:Sign`` and gets a signature back;
* the checker needs no crypto library (its package stays boto3 and ``websocket-client``);
  ``RSASSA_PKCS1_V1_5_SHA_256`` is exactly JWS ``RS256`` (RFC 7518, section 3.3);
* the public key is public data: each host reads it with ``kms:GetPublicKey`` at boot (the host
  bootstrap writes it as PEM next to the genesis file), which keeps the task definition fully
  known at plan time. A Terraform data source (``aws_kms_public_key``) would leave the container
  definitions unknown until the key exists, on every first plan.

The key policy is the whole decision, as for the validator secrets' key (a key policy must allow
a request itself, "Key policies in AWS KMS",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html):

* the account may **administer** the key (``kms.KEY_ADMINISTRATION_ACTIONS``: describe, tag,
  disable, schedule deletion, change the policy) but not sign with it, and no IAM policy can
  change that;
* each role granted with :meth:`RpcTokenKey.grant_sign` may ``kms:Sign``, only with
  ``RSASSA_PKCS1_V1_5_SHA_256`` and only a raw message (``kms:SigningAlgorithm``,
  ``kms:MessageType``, "AWS KMS condition keys",
  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html): KMS hashes what
  it signs, so a grantee cannot have an arbitrary digest signed;
* each role granted with :meth:`RpcTokenKey.grant_public_key_read` may ``kms:GetPublicKey``.

Key rotation does not apply to asymmetric keys; replacing the key means new hosts (an instance
refresh): a host reads the public key once, at boot. The lock-out trade-off is that of
``secrets_key.py``: ``kms:PutKeyPolicy`` stays with the account's administrators, so whoever may
change this policy may also grant themselves ``kms:Sign`` (a deliberate, CloudTrail-logged
change, never a side effect of a broad IAM policy).
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from besu_stack.besu.internal_rpc import KMS_SIGNING_ALGORITHM
from besu_stack.constructs.iam import Grantable
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import DecidingKeyPolicy

KEY_SPEC = "RSA_2048"
KEY_USAGE = "SIGN_VERIFY"
MESSAGE_TYPE = "RAW"
"""The only message type a grantee may sign: KMS hashes the message itself."""


class RpcTokenKey(Construct):
    """An ``RSA_2048`` signing key in KMS (with an alias) for the internal RPC tokens.

    Its policy starts with key administration for the account and grows with each grant.
    Attributes: ``key_arn``, ``key_id``, ``alias_name`` (a literal ``alias/<network>-rpc-token``,
    known at synth time, so the host bootstrap can name the key).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        deletion_window_days: float,
    ) -> None:
        super().__init__(scope, id)
        self._policy = DecidingKeyPolicy(identity.platform.root_arn, owner="RpcTokenKey")
        self.key = KmsKey(
            self,
            "key",
            description=(
                f"Signs the health checker's internal RPC tokens of Besu network "
                f"{identity.network_name}"
            ),
            customer_master_key_spec=KEY_SPEC,
            key_usage=KEY_USAGE,
            deletion_window_in_days=deletion_window_days,
            policy=self._policy.document(),
        )
        self.alias_name: str = f"alias/{identity.name('rpc-token')}"
        self.alias = KmsAlias(self, "alias", name=self.alias_name, target_key_id=self.key.key_id)
        self.key_arn: str = self.key.arn
        self.key_id: str = self.key.key_id

    def grant_sign(self, grantee: Grantable, *, sid: str = "HealthCheckerSignsRpcTokens") -> None:
        """Let ``grantee`` sign raw messages with ``RSASSA_PKCS1_V1_5_SHA_256`` (JWS RS256).

        Written in the key's policy, which names the grantee: this key's policy does not
        delegate to IAM, so no identity statement is needed, and none would suffice.
        """
        self._policy.allow(
            sid,
            grantee.principal_arn,
            ["kms:Sign"],
            condition={
                "StringEquals": {
                    "kms:SigningAlgorithm": KMS_SIGNING_ALGORITHM,
                    "kms:MessageType": MESSAGE_TYPE,
                }
            },
        )
        self.key.policy = self._policy.document()

    def grant_public_key_read(
        self, grantee: Grantable, *, sid: str = "HostsReadThePublicKey"
    ) -> None:
        """Let ``grantee`` read the public key (``kms:GetPublicKey``), which Besu verifies with."""
        self._policy.allow(sid, grantee.principal_arn, ["kms:GetPublicKey"])
        self.key.policy = self._policy.document()
