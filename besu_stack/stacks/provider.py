"""The AWS provider configuration shared by the stacks: region and default tags."""

from __future__ import annotations

from collections.abc import Mapping

from cdktf import Fn, TerraformStack, Token
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags

MANAGED_BY = "besu-stack"


def configure_aws_provider(
    stack: TerraformStack, *, region: str, network_name: str, extra_tags: Mapping[str, str] | str
) -> AwsProvider:
    """An AWS provider for ``region`` whose default tags mark every resource with the network.

    ``extra_tags`` (usually the ``tags`` variable) are merged first, so ``Network`` and
    ``ManagedBy`` cannot be overridden by accident.
    """
    tags = Token.as_string_map(
        Fn.merge([extra_tags, {"Network": network_name, "ManagedBy": MANAGED_BY}])
    )
    return AwsProvider(
        stack,
        "aws",
        region=region,
        default_tags=[AwsProviderDefaultTags(tags=tags)],
    )
