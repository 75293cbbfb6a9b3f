"""Terraform and the hooks share a slot secret's policy: Terraform never puts its own back.

Terraform writes the initial policy (``aws_secretsmanager_secret_policy`` with
``ignore_changes = ["policy"]``); from the first claim on the launch hook replaces it, and a
revoke deletes it. The AWS provider itself (5.100.0 from the mirror) judges what a later plan
makes of that: if it read a deleted policy as a resource gone from the account, it would plan to
create the initial policy again, and an apply would close the secret under a running node that
a launch had opened it to in between. Applied into moto, whose ``GetResourcePolicy`` answers a
secret without a policy with its ARN and name only, as Secrets Manager does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from besu_stack.lambda_kernel import secret_policy
from besu_stack.rehearsal.moto_server import MotoServer, write_provider_override
from besu_stack.rehearsal.terraform import Terraform
from tests.conftest import StackJson
from tests.support.slot_secrets import by_path

pytestmark = pytest.mark.terraform

NAME = "policy-lifecycle/validator-0/key"
ACCOUNT = "123456789012"
KEY_LAMBDA = f"arn:aws:iam::{ACCOUNT}:role/policy-lifecycle-keygen"
HOSTS = f"arn:aws:iam::{ACCOUNT}:role/policy-lifecycle-instance"
OWNER = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"


def _configuration(stack: StackJson) -> dict[str, Any]:
    """One slot secret and its policy resource, with the synthesized policy resource's
    lifecycle and public-policy settings."""
    synthesized = by_path(stack, "aws_secretsmanager_secret_policy", "/slot_0_policy")
    assert synthesized["lifecycle"] == {"ignore_changes": ["policy"]}
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}},
        "provider": {"aws": {"region": "eu-west-1"}},
        "resource": {
            "aws_secretsmanager_secret": {
                "slot": {"name": NAME, "recovery_window_in_days": 0},
            },
            "aws_secretsmanager_secret_policy": {
                "slot": {
                    "secret_arn": "${aws_secretsmanager_secret.slot.arn}",
                    "block_public_policy": synthesized["block_public_policy"],
                    "policy": secret_policy.initial_policy(KEY_LAMBDA),
                    "lifecycle": synthesized["lifecycle"],
                }
            },
        },
    }


def _policy_action(tf: Terraform) -> list[str]:
    tf.plan()
    changes = tf.show_plan().get("resource_changes", [])
    (policy,) = [c for c in changes if c["type"] == "aws_secretsmanager_secret_policy"]
    assert all(c["change"]["actions"] == ["no-op"] for c in changes if c is not policy)
    return list(policy["change"]["actions"])


def test_a_plan_leaves_the_hooks_policy_and_its_absence_alone(
    moto: MotoServer,
    terraform_binary: Path,
    tmp_path: Path,
    default_stack: StackJson,
    copy_module: Callable[..., Terraform],
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "main.tf.json").write_text(json.dumps(_configuration(default_stack), indent=2))
    tf = copy_module(source, "policy-lifecycle", env=moto.isolated_environment())
    write_provider_override(tf.workdir)
    tf.init()
    tf.plan()
    tf.apply()
    secrets = moto.client("secretsmanager")
    try:
        assert _policy_action(tf) == ["no-op"]

        # The launch hook opens the secret to its owner...
        secrets.put_resource_policy(
            SecretId=NAME,
            ResourcePolicy=secret_policy.owner_policy(HOSTS, KEY_LAMBDA, OWNER),
            BlockPublicPolicy=True,
        )
        assert _policy_action(tf) == ["no-op"]

        # ...a revoke deletes the policy: a refresh keeps the resource in state, and a plan
        # puts nothing back.
        secrets.delete_resource_policy(SecretId=NAME)
        assert "ResourcePolicy" not in secrets.get_resource_policy(SecretId=NAME)
        tf.run("apply", "-refresh-only", "-auto-approve", "-input=false")
        state = tf.show_state()["values"]["root_module"]["resources"]
        assert "aws_secretsmanager_secret_policy.slot" in [r["address"] for r in state]
        assert _policy_action(tf) == ["no-op"]
    finally:
        tf.destroy()
