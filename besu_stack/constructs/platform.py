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

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """The ARN of ``resource`` of ``service`` in this account (and region, if regional).

        The one place constructs build ARNs of resources they know by name at synth time, so no
        construct formats ``arn:`` strings by hand.
        """
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"
