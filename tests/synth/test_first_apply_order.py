"""First apply: the Auto Scaling group (so every host) comes after what a launch needs.

Terraform creates a resource only after everything in its ``depends_on`` (and its references).
A host launched earlier loses its lifecycle events (no rule, target or permission yet: it waits
out the hook's timeout), boots before the key Lambda wrote the genesis and the registry, gets
the hook's grant on its slot secret overwritten by Terraform's initial policy (the policy's
``ignore_changes`` does not apply on create), or cannot read the RPC token key's public key. This guards the synthesized ordering; the
plan-level check is the lead's Terraform harness.
"""

from __future__ import annotations

import pytest

from tests.conftest import StackJson, resources

pytestmark = pytest.mark.synth


def _addresses(stack: StackJson, kind: str, path_part: str = "") -> set[str]:
    return {
        f"{kind}.{logical_id}"
        for logical_id, r in resources(stack, kind).items()
        if path_part in r["//"]["metadata"]["path"]
    }


def test_the_group_depends_on_everything_a_launch_needs(default_stack: StackJson) -> None:
    (group,) = resources(default_stack, "aws_autoscaling_group").values()
    depends = set(group.get("depends_on", []))
    needed = (
        _addresses(default_stack, "aws_cloudwatch_event_rule", "/node_lifecycle/")
        | _addresses(default_stack, "aws_cloudwatch_event_target", "/node_lifecycle/")
        | _addresses(default_stack, "aws_lambda_permission", "/node_lifecycle/")
        | _addresses(default_stack, "aws_lambda_invocation")
        | _addresses(default_stack, "aws_secretsmanager_secret_policy")
        # The host bootstrap reads the RPC token key's public key by its alias.
        | _addresses(default_stack, "aws_kms_key", "/rpc_token_key/")
        | _addresses(default_stack, "aws_kms_alias", "/rpc_token_key/")
    )
    assert len(_addresses(default_stack, "aws_kms_alias", "/rpc_token_key/")) == 1
    assert len(_addresses(default_stack, "aws_secretsmanager_secret_policy")) == 4
    assert len(_addresses(default_stack, "aws_cloudwatch_event_rule", "/node_lifecycle/")) >= 2
    assert sorted(needed - depends) == []
