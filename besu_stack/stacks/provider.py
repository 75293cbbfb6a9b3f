"""The AWS provider configuration shared by the stacks: region and default tags."""

from __future__ import annotations

from collections.abc import Mapping

from cdktf import Fn, TerraformStack, Token
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags

from besu_stack.versions import AWS_PROVIDER_VERSION

MANAGED_BY = "besu-stack"


def constrain_versions(stack: TerraformStack) -> None:
    """Replace cdktf's exact provider pin with :data:`AWS_PROVIDER_VERSION` on ``stack``.

    Root stacks carry no ``required_version``: checkov's terraform_json parser (3.3.30) fails
    on a string in the ``terraform`` block and would then check nothing. The registry module
    states it (:mod:`besu_stack.modules`); a root stack's S3 backend needs >= 1.10 anyway.
    """
    stack.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_VERSION)


def configure_aws_provider(
    stack: TerraformStack, *, region: str, network_name: str, extra_tags: Mapping[str, str] | str
) -> AwsProvider:
    """An AWS provider for ``region`` whose default tags mark every resource with the network.

    ``extra_tags`` (usually the ``tags`` variable) are merged first, so ``Network`` and
    ``ManagedBy`` cannot be overridden by accident.
    """
    constrain_versions(stack)
    tags = Token.as_string_map(
        Fn.merge([extra_tags, {"Network": network_name, "ManagedBy": MANAGED_BY}])
    )
    return AwsProvider(
        stack,
        "aws",
        region=region,
        default_tags=[AwsProviderDefaultTags(tags=tags)],
    )
