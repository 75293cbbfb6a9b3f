"""The state-bootstrap stack: creates the S3 bucket that later holds the network's state."""

from __future__ import annotations

from cdktf import (
    Fn,
    LocalBackend,
    TerraformLocal,
    TerraformOutput,
    TerraformStack,
    TerraformVariable,
    TerraformVariableValidationConfig,
)
from constructs import Construct

from besu_stack.constructs.platform import Platform
from besu_stack.constructs.state_bucket import StateBucket
from besu_stack.settings import Settings
from besu_stack.stacks.provider import configure_aws_provider


class StateBootstrapStack(TerraformStack):
    """Creates the Terraform state bucket (and its log bucket and KMS key) for a network.

    Apply it once per account and region with local state, then set ``state_backend = "s3"``
    with the bucket it outputs. Its own state stays local by design (it is the bootstrap); keep
    the ``terraform.<stack>.tfstate`` file or migrate it into the bucket it created.
    """

    def __init__(self, scope: Construct, id: str, *, settings: Settings) -> None:
        super().__init__(scope, id)
        region = TerraformVariable(
            self,
            "region",
            type="string",
            default=settings.state.region or "eu-west-1",
            description="AWS region of the state bucket.",
            validation=[
                TerraformVariableValidationConfig(
                    condition='${can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.region))}',
                    error_message="region must be an AWS region name such as eu-west-1.",
                )
            ],
        )
        bucket_name = TerraformVariable(
            self,
            "bucket_name",
            type="string",
            default=settings.state.bucket,
            description="Name of the state bucket. Empty: <network>-tfstate-<account id>-<region>, unique per account and region.",
            validation=[
                TerraformVariableValidationConfig(
                    condition='${var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,56}[a-z0-9]$", var.bucket_name))}',
                    error_message="bucket_name must be empty or a valid S3 bucket name of 3-58 characters (the access-log bucket appends -logs): lowercase letters, digits, dots and hyphens).",
                )
            ],
        )
        retention = TerraformVariable(
            self,
            "noncurrent_version_retention_days",
            type="number",
            default=90,
            description="Days a replaced state version is kept (for rolling back a bad apply).",
            validation=[
                TerraformVariableValidationConfig(
                    condition="${var.noncurrent_version_retention_days >= 1}",
                    error_message="noncurrent_version_retention_days must be at least 1.",
                )
            ],
        )
        tags = TerraformVariable(
            self,
            "tags",
            type="map(string)",
            default={},
            description="Extra tags for every resource.",
        )
        configure_aws_provider(
            self,
            region=region.string_value,
            network_name=settings.network_name,
            extra_tags=tags.value,
        )
        LocalBackend(self, path=f"terraform.{id}.tfstate")
        platform = Platform(self, "platform")
        derived = f"{settings.network_name}-tfstate-{platform.account_id}-{platform.region}"
        # coalesce() skips the empty string, so an unset variable falls back to the derived name.
        # A local keeps the expression out of the JSON policy documents that embed the name.
        name = TerraformLocal(
            self, "bucket_name_or_derived", Fn.coalesce([bucket_name.string_value, derived])
        ).as_string
        self.state_bucket = StateBucket(
            self,
            "state_bucket",
            bucket_name=name,
            platform=platform,
            noncurrent_days=retention.number_value,
            kms_deletion_window_days=30,
        )
        TerraformOutput(
            self,
            "state_bucket_name",
            value=self.state_bucket.bucket_name,
            description="Name of the state bucket: put it in state_bucket of the settings file.",
        )
        TerraformOutput(
            self,
            "state_kms_key_arn",
            value=self.state_bucket.kms_key_arn,
            description="KMS key that encrypts the state objects (state_kms_key_id).",
        )
        TerraformOutput(
            self,
            "state_access_log_bucket_name",
            value=self.state_bucket.log_bucket_name,
            description="Bucket receiving the state bucket's access logs.",
        )
