"""Terraform and the hooks share a slot secret's policy: Terraform never puts its own back.

Terraform writes the initial policy (``aws_secretsmanager_secret_policy`` with
``ignore_changes = ["policy"]``); from the first claim on the launch hook replaces it, and a
revoke deletes it. The AWS provider itself (5.100.0 from the mirror) judges what a later plan
makes of that: if it read a deleted policy as a resource gone from the account, it would plan to
create the initial policy again, and an apply would close the secret under a running node that
a launch had opened it to in between. Applied into moto, whose ``GetResourcePolicy`` answers a
secret without a policy with its ARN and name only, as Secrets Manager does.

The same run records (moto's request recorder) the ``UpdateSecret`` the provider sends when a
slot secret's description changes, and evaluates that request as an administrator's against
every policy the secret goes through: the key guard refuses ``UpdateSecret`` naming a KMS key
other than the secrets key (``besu_stack/lambda_kernel/secret_policy.py``), and the request
Terraform actually sends must not be one of those. Its destroy's ``DeleteSecret`` is recorded
too: the guard refuses a deletion without a recovery window to everyone, and the provider's
must not be one.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from besu_stack.constructs.validator_keys import SECRET_RECOVERY_WINDOW_DAYS
from besu_stack.lambda_kernel import secret_policy
from besu_stack.rehearsal.moto_server import MotoServer, write_provider_override
from besu_stack.rehearsal.terraform import Terraform
from tests.conftest import StackJson
from tests.support.iam_eval import ALLOW_EVERYTHING, Policies, Request, is_allowed
from tests.support.slot_secrets import by_path

pytestmark = pytest.mark.terraform

NAME = "policy-lifecycle/validator-0/key"
ACCOUNT = "123456789012"
KEY_LAMBDA = f"arn:aws:iam::{ACCOUNT}:role/policy-lifecycle-keygen"
HOSTS = f"arn:aws:iam::{ACCOUNT}:role/policy-lifecycle-instance"
OWNER = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Administrator"


def _configuration(stack: StackJson, description: str) -> dict[str, Any]:
    """One slot secret under a KMS key of its own, as the synthesized ones are, and its policy
    resource, with the synthesized policy resource's lifecycle and public-policy settings."""
    synthesized = by_path(stack, "aws_secretsmanager_secret_policy", "/slot_0_policy")
    assert synthesized["lifecycle"] == {"ignore_changes": ["policy"]}
    secret = by_path(stack, "aws_secretsmanager_secret", "/slot_0")
    assert secret["kms_key_id"].startswith("${aws_kms_key.") and secret["kms_key_id"].endswith(
        ".arn}"
    )
    assert secret["recovery_window_in_days"] == SECRET_RECOVERY_WINDOW_DAYS
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}},
        "provider": {"aws": {"region": "eu-west-1"}},
        "resource": {
            "aws_kms_key": {"secrets": {"deletion_window_in_days": 7}},
            "aws_secretsmanager_secret": {
                "slot": {
                    "name": NAME,
                    "description": description,
                    "kms_key_id": "${aws_kms_key.secrets.arn}",
                    "recovery_window_in_days": secret["recovery_window_in_days"],
                },
            },
            "aws_secretsmanager_secret_policy": {
                "slot": {
                    "secret_arn": "${aws_secretsmanager_secret.slot.arn}",
                    "block_public_policy": synthesized["block_public_policy"],
                    "policy": secret_policy.initial_policy(
                        KEY_LAMBDA, "${aws_kms_key.secrets.arn}"
                    ),
                    "lifecycle": synthesized["lifecycle"],
                }
            },
        },
    }


@pytest.fixture
def recording_moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server of this test's own whose request recorder writes under ``tmp_path``."""
    monkeypatch.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path / "moto-recording.jsonl"))
    with MotoServer() as server:
        yield server


def _recorder(moto: MotoServer, action: str) -> str:
    method = "GET" if action == "download-recording" else "POST"
    request = urllib.request.Request(f"{moto.endpoint}/moto-api/recorder/{action}", method=method)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.read().decode())


def _recorded_calls(moto: MotoServer, target: str) -> list[dict[str, Any]]:
    """The JSON bodies of the recorded requests to ``target`` (an ``X-Amz-Target``)."""
    calls = []
    for line in _recorder(moto, "download-recording").splitlines():
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        if headers.get("x-amz-target") != target:
            continue
        body = entry["body"]
        calls.append(json.loads(base64.b64decode(body) if entry["body_encoded"] else body))
    return calls


def _admin_may(request_body: dict[str, Any], policy: str | None) -> bool:
    """Whether Secrets Manager lets an administrator (identity policy "*") send this
    ``UpdateSecret``, given the secret's policy: its condition keys from the request as the
    Service Authorization Reference names them (``secretsmanager:KmsKeyId`` the key as given,
    ``secretsmanager:KmsKeyArn`` its ARN; an ARN here, so the same value)."""
    context = {"secretsmanager:Description": request_body["Description"]}
    if "KmsKeyId" in request_body:
        assert request_body["KmsKeyId"].startswith("arn:aws:kms:"), request_body
        context["secretsmanager:KmsKeyId"] = request_body["KmsKeyId"]
        context["secretsmanager:KmsKeyArn"] = request_body["KmsKeyId"]
    request = Request(ADMIN, "secretsmanager:UpdateSecret", "*", context)
    return is_allowed(
        request, Policies(identity=[ALLOW_EVERYTHING], resource=[policy] if policy else [])
    )


def _admin_may_delete(request_body: dict[str, Any], policy: str) -> bool:
    """Whether Secrets Manager lets an administrator send this ``DeleteSecret``, given the
    secret's policy (condition keys as the Service Authorization Reference names them)."""
    context = {
        "secretsmanager:ForceDeleteWithoutRecovery": str(
            bool(request_body.get("ForceDeleteWithoutRecovery", False))
        ).lower()
    }
    if "RecoveryWindowInDays" in request_body:
        context["secretsmanager:RecoveryWindowInDays"] = str(request_body["RecoveryWindowInDays"])
    request = Request(ADMIN, "secretsmanager:DeleteSecret", "*", context)
    return is_allowed(request, Policies(identity=[ALLOW_EVERYTHING], resource=[policy]))


def _policy_action(tf: Terraform) -> list[str]:
    tf.plan()
    changes = tf.show_plan().get("resource_changes", [])
    (policy,) = [c for c in changes if c["type"] == "aws_secretsmanager_secret_policy"]
    assert all(c["change"]["actions"] == ["no-op"] for c in changes if c is not policy)
    return list(policy["change"]["actions"])


def test_a_plan_leaves_the_hooks_policy_and_its_absence_alone(
    recording_moto: MotoServer,
    terraform_binary: Path,
    tmp_path: Path,
    default_stack: StackJson,
    copy_module: Callable[..., Terraform],
) -> None:
    moto = recording_moto
    source = tmp_path / "source"
    source.mkdir()
    config = json.dumps(_configuration(default_stack, "Besu node key"), indent=2)
    (source / "main.tf.json").write_text(config)
    tf = copy_module(source, "policy-lifecycle", env=moto.isolated_environment())
    write_provider_override(tf.workdir)
    tf.init()
    tf.plan()
    tf.apply()
    secrets = moto.client("secretsmanager")
    try:
        assert _policy_action(tf) == ["no-op"]
        initial = str(secrets.get_resource_policy(SecretId=NAME)["ResourcePolicy"])
        key_arn = str(secrets.describe_secret(SecretId=NAME)["KmsKeyId"])
        assert key_arn.startswith("arn:aws:kms:")

        # The launch hook opens the secret to its owner...
        owned = secret_policy.owner_policy(HOSTS, KEY_LAMBDA, OWNER, key_arn)
        secrets.put_resource_policy(SecretId=NAME, ResourcePolicy=owned, BlockPublicPolicy=True)
        assert _policy_action(tf) == ["no-op"]

        # ...Terraform changes the secret's description, as an administrator would apply it:
        # the request the provider sends passes the key guard of every policy.
        changed = json.dumps(_configuration(default_stack, "Besu node key, renamed"), indent=2)
        (tf.workdir / "main.tf.json").write_text(changed)
        _recorder(moto, "start-recording")
        tf.plan()
        tf.apply()
        _recorder(moto, "stop-recording")
        (update,) = _recorded_calls(moto, "secretsmanager.UpdateSecret")
        assert update["Description"] == "Besu node key, renamed"
        assert "SecretString" not in update and "SecretBinary" not in update
        # The provider names the configured kms_key_id with every description change
        # (resourceSecretUpdate, internal/service/secretsmanager/secret.go).
        assert update["KmsKeyId"] == key_arn
        for policy in (initial, owned, None):
            assert _admin_may(update, policy)
        # ...and the same request naming another key would not pass a policy.
        foreign = {**update, "KmsKeyId": key_arn.rsplit("/", 1)[0] + "/not-the-secrets-key"}
        assert not _admin_may(foreign, initial)
        assert not _admin_may(foreign, owned)
        assert _policy_action(tf) == ["no-op"]

        # ...a revoke deletes the policy: a refresh keeps the resource in state, and a plan
        # puts nothing back.
        secrets.delete_resource_policy(SecretId=NAME)
        assert "ResourcePolicy" not in secrets.get_resource_policy(SecretId=NAME)
        tf.run("apply", "-refresh-only", "-auto-approve", "-input=false")
        state = tf.show_state()["values"]["root_module"]["resources"]
        assert "aws_secretsmanager_secret_policy.slot" in [r["address"] for r in state]
        assert _policy_action(tf) == ["no-op"]

        # Terraform's destroy schedules the secret's deletion: the guard refuses only a
        # deletion without recovery, which the provider does not send.
        _recorder(moto, "start-recording")
        tf.destroy()
        _recorder(moto, "stop-recording")
        (delete,) = _recorded_calls(moto, "secretsmanager.DeleteSecret")
        assert delete.get("ForceDeleteWithoutRecovery") in (None, False), delete
        assert delete["RecoveryWindowInDays"] == SECRET_RECOVERY_WINDOW_DAYS
        for policy in (initial, owned):
            assert _admin_may_delete(delete, policy)
            assert not _admin_may_delete({**delete, "ForceDeleteWithoutRecovery": True}, policy)
    finally:
        tf.destroy()
