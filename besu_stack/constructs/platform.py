"""The account, partition and region the stack is deployed into, read at plan time."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion
from constructs import Construct


class Platform(Construct):
    """Data sources for the current account id, partition, region and DNS suffix.

    Nothing here needs credentials at synth time; Terraform reads them at plan time.
    Attributes: ``account_id``, ``partition``, ``region``, ``dns_suffix``.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        identity = DataAwsCallerIdentity(self, "caller")
        partition = DataAwsPartition(self, "partition")
        region = DataAwsRegion(self, "region")
        self.account_id: str = identity.account_id
        self.partition: str = partition.partition
        self.dns_suffix: str = partition.dns_suffix
        # ``id`` is the region name in provider 5.x and 6.x alike; ``region`` exists only in 6.x
        # and ``name`` is deprecated there (terraform-provider-aws
        # internal/service/meta/region_data_source.go, both lines).
        self.region: str = region.id

    def arn(
        self, service: str, resource: str, *, regional: bool = True, in_account: bool = True
    ) -> str:
        """The ARN of ``resource`` of ``service``: in this account and region unless told not.

        ``regional=False`` for global services (IAM, Route 53, S3); ``in_account=False`` for
        resources whose ARN names no account (S3 buckets, EBS snapshots, SSM documents owned by
        AWS). The one place ARNs are formatted, so no construct writes ``arn:`` by hand.
        """
        region = self.region if regional else ""
        account = self.account_id if in_account else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    @property
    def root_arn(self) -> str:
        """The account's root principal: a policy naming it delegates to the account's IAM."""
        return self.arn("iam", "root", regional=False)

    def managed_policy_arn(self, name: str) -> str:
        """The ARN of the AWS-managed IAM policy ``name`` (its ARN's account is ``aws``)."""
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    def service_endpoint(self, service: str) -> str:
        """``<service>.<region>.amazonaws.com`` for a service in this region.

        The value of ``kms:ViaService``, and the regional principal of services such as
        CloudWatch Logs.
        """
        return f"{service}.{self.region}.amazonaws.com"
