"""The S3 bucket that holds Terraform state, with its access-log bucket and KMS key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_logging import S3BucketLoggingA
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from besu_stack.constructs.iam import Grantable, Statement, policy_document
from besu_stack.constructs.kms import DECRYPT, ENCRYPT_DECRYPT, EncryptionKey, KeyGrants
from besu_stack.constructs.platform import Platform


class SecureBucket(Construct):
    """A private, versioned S3 bucket that refuses plain-HTTP requests.

    Encrypted with ``encryption_key`` (SSE-KMS with bucket keys) when given; otherwise with SSE-S3,
    which is what S3 server access logging requires of its target bucket. Public access is
    blocked, ACLs are disabled (bucket owner enforced), noncurrent versions expire after
    ``noncurrent_days`` (and current objects after ``expiration_days`` when given; by default
    they are kept) and, when ``log_bucket`` is given, access logs go there.
    ``extra_statements`` receives the bucket ARN and returns statements added to the bucket
    policy (e.g. for a log delivery service); by default the policy only refuses plain HTTP.

    Principals get objects with :meth:`grant_read`, :meth:`grant_write` and :meth:`grant_list`,
    which also grant the key's use through S3.

    Attributes: ``bucket`` (the ``S3Bucket``), ``bucket_name``, ``bucket_arn``, ``policy`` (the
    ``S3BucketPolicy``, for ``depends_on`` of writers that check it).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket_name: str,
        encryption_key: EncryptionKey | None,
        noncurrent_days: float,
        log_bucket: SecureBucket | None = None,
        log_prefix: str = "",
        access_log_sources: Sequence[str] = (),
        account_id: str = "",
        force_destroy: bool = False,
        expiration_days: float | None = None,
        extra_statements: Callable[[str], Sequence[Statement]] | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._key = encryption_key
        kms_key_arn = encryption_key.key_arn if encryption_key is not None else None
        self.bucket = S3Bucket(self, "bucket", bucket=bucket_name, force_destroy=force_destroy)
        self.bucket_name: str = self.bucket.bucket
        self.bucket_arn: str = self.bucket.arn
        bucket_id = self.bucket.id

        S3BucketPublicAccessBlock(
            self,
            "public_access_block",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=bucket_id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=bucket_id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        by_default = (
            S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
            )
            if kms_key_arn
            else S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="AES256"
            )
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket_id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=by_default,
                    bucket_key_enabled=bool(kms_key_arn),
                )
            ],
        )
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=bucket_id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=noncurrent_days
                        )
                    ],
                    expiration=[
                        S3BucketLifecycleConfigurationRuleExpiration(
                            expired_object_delete_marker=True
                        )
                        if expiration_days is None
                        else S3BucketLifecycleConfigurationRuleExpiration(days=expiration_days)
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=7
                        )
                    ],
                )
            ],
        )
        statements: list[dict[str, Any]] = [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [self.bucket.arn, f"{self.bucket.arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
        if access_log_sources:
            statements.append(
                {
                    "Sid": "S3ServerAccessLogDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{self.bucket.arn}/*",
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": list(access_log_sources)},
                        "StringEquals": {"aws:SourceAccount": account_id},
                    },
                }
            )
        if extra_statements is not None:
            statements.extend(dict(s) for s in extra_statements(self.bucket.arn))
        self.policy = S3BucketPolicy(
            self, "policy", bucket=bucket_id, policy=policy_document(statements)
        )
        if log_bucket is not None:
            S3BucketLoggingA(
                self,
                "logging",
                bucket=bucket_id,
                target_bucket=log_bucket.bucket.id,
                target_prefix=log_prefix,
            )

    def grant_read(self, grantee: Grantable, object_keys: Sequence[str], *, sid: str) -> None:
        """Let ``grantee`` read the objects ``object_keys`` (and decrypt them through S3)."""
        self._grant_objects(grantee, ["s3:GetObject"], object_keys, sid)
        if self._key is not None:
            self._key.grant(grantee, DECRYPT, via_service="s3")

    def grant_write(self, grantee: Grantable, object_keys: Sequence[str], *, sid: str) -> None:
        """Let ``grantee`` read and write the objects ``object_keys`` (encrypting through S3)."""
        self._grant_objects(grantee, ["s3:GetObject", "s3:PutObject"], object_keys, sid)
        if self._key is not None:
            self._key.grant(grantee, ENCRYPT_DECRYPT, via_service="s3")

    def grant_list(self, grantee: Grantable, *, sid: str) -> None:
        """Let ``grantee`` list the bucket.

        Without it a missing object reads as AccessDenied, not NoSuchKey ("GetObject", Amazon S3
        API Reference, Permissions).
        """
        grantee.add_to_policy(
            {"Sid": sid, "Effect": "Allow", "Action": "s3:ListBucket", "Resource": self.bucket_arn}
        )

    def _grant_objects(
        self, grantee: Grantable, actions: Sequence[str], object_keys: Sequence[str], sid: str
    ) -> None:
        if not object_keys:
            raise ValueError(f"bucket grant {sid}: name at least one object key")
        grantee.add_to_policy(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": [f"{self.bucket_arn}/{key}" for key in object_keys],
            }
        )


class StateBucket(Construct):
    """Terraform state storage: a KMS-encrypted, versioned bucket plus its access-log bucket.

    The state bucket keeps noncurrent state versions for ``noncurrent_days`` (so a bad apply can
    be rolled back), uses S3 native locking (``use_lockfile``; no DynamoDB table needed) and logs
    every access to a second bucket in the same account.

    Attributes: ``bucket_name``, ``bucket_arn``, ``kms_key_arn``, ``key_grants`` (grants of the
    key through S3), ``log_bucket_name``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket_name: str,
        platform: Platform,
        noncurrent_days: float,
        kms_deletion_window_days: float,
    ) -> None:
        super().__init__(scope, id)
        self.key = KmsKey(
            self,
            "key",
            description=f"Encrypts Terraform state in {bucket_name}",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=kms_deletion_window_days,
            policy=policy_document(
                [
                    {
                        "Sid": "AccountAdministersKeyThroughIam",
                        "Effect": "Allow",
                        "Principal": {"AWS": platform.root_arn},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ]
            ),
        )
        KmsAlias(self, "alias", name=f"alias/{bucket_name}", target_key_id=self.key.key_id)
        self.key_grants = KeyGrants(self.key.arn, platform)
        self.logs = SecureBucket(
            self,
            "access_logs",
            bucket_name=f"{bucket_name}-logs",
            encryption_key=None,
            noncurrent_days=noncurrent_days,
            access_log_sources=[platform.arn("s3", bucket_name, regional=False, in_account=False)],
            account_id=platform.account_id,
        )
        self.state = SecureBucket(
            self,
            "state",
            bucket_name=bucket_name,
            encryption_key=self.key_grants,
            noncurrent_days=noncurrent_days,
            log_bucket=self.logs,
            log_prefix="state-access/",
        )
        self.bucket_name: str = self.state.bucket_name
        self.bucket_arn: str = self.state.bucket_arn
        self.kms_key_arn: str = self.key.arn
        self.log_bucket_name: str = self.logs.bucket_name
