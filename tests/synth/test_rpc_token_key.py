"""Who can sign the health checker's RPC tokens: the synthesized key policy, evaluated.

The key policy is the whole decision for a KMS key ("Key policies in AWS KMS",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html): a principal it does not
name directly may act only where it names the account and an identity policy allows it too.
Principals: the health checker, a validator host, the key Lambda, the lifecycle hooks, and an
account administrator whose identity policy allows everything. Evaluated with
``tests/support/iam_eval.py`` (a regression guard pinned to the documented rules, not AWS).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from besu_stack.constructs.kms import KEY_ADMINISTRATION_ACTIONS
from tests.conftest import StackJson, resources
from tests.support.iam_eval import (
    ACCOUNT,
    ADMIN,
    ALLOW_EVERYTHING,
    REGION,
    Policies,
    Request,
    is_allowed,
    resolve,
    role_policies,
)

pytestmark = pytest.mark.synth

RS256 = {"kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256", "kms:MessageType": "RAW"}


def _key(stack: StackJson) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical, r)
        for logical, r in resources(stack, "aws_kms_key").items()
        if r["//"]["metadata"]["path"].endswith("/rpc_token_key/key")
    ]
    return found


class World:
    def __init__(self, stack: StackJson) -> None:
        logical, key = _key(stack)
        self.key = key
        self.key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical}"
        self.key_policy = resolve(stack, key["policy"])
        self.roles = {
            "health checker": role_policies(stack, "/health_check/health/role"),
            "host": role_policies(stack, "/fleet/instance_role"),
            "key lambda": role_policies(stack, "/validator_keys/keygen/role"),
            "launch hook": role_policies(stack, "/node_lifecycle/launch/role"),
            "termination hook": role_policies(stack, "/node_lifecycle/termination/role"),
            "admin": (ADMIN, [json.dumps(ALLOW_EVERYTHING)]),
        }

    def may(self, who: str, action: str, **context: str) -> bool:
        arn, identity = self.roles[who]
        request = Request(arn, action, self.key_arn, context)
        return is_allowed(request, Policies(identity=identity, key_policy=self.key_policy))


@pytest.fixture(scope="module")
def world(default_stack: StackJson) -> World:
    return World(default_stack)


def test_the_key_is_an_rsa_signing_key(world: World) -> None:
    """RSA_2048 / SIGN_VERIFY offers RSASSA_PKCS1_V1_5_SHA_256, which is JWS RS256."""
    assert world.key["customer_master_key_spec"] == "RSA_2048"
    assert world.key["key_usage"] == "SIGN_VERIFY"
    assert not world.key.get("enable_key_rotation")  # not supported for asymmetric keys


def test_only_the_health_checker_signs_and_only_rs256_over_a_raw_message(world: World) -> None:
    assert world.may("health checker", "kms:Sign", **RS256)
    assert not world.may("health checker", "kms:Sign", **{**RS256, "kms:MessageType": "DIGEST"})
    other_algorithm = {**RS256, "kms:SigningAlgorithm": "RSASSA_PSS_SHA_256"}
    assert not world.may("health checker", "kms:Sign", **other_algorithm)
    for who in ("host", "key lambda", "launch hook", "termination hook", "admin"):
        assert not world.may(who, "kms:Sign", **RS256), who


def test_the_hosts_read_the_public_key_and_nothing_else(world: World) -> None:
    assert world.may("host", "kms:GetPublicKey")
    for action in ("kms:Sign", "kms:DescribeKey", "kms:PutKeyPolicy"):
        assert not world.may("host", action, **RS256), action
    for who in ("key lambda", "launch hook", "termination hook"):
        assert not world.may(who, "kms:GetPublicKey"), who


def test_the_account_administers_the_key_but_cannot_sign_with_it(world: World) -> None:
    """The lock-out trade-off of secrets_key.py: PutKeyPolicy stays with the administrators
    (a deliberate, logged change is the only way to a signature); CreateGrant does not."""
    assert world.may("admin", "kms:ScheduleKeyDeletion")
    assert world.may("admin", "kms:PutKeyPolicy")
    assert not world.may("admin", "kms:CreateGrant")
    assert not any(a in ("kms:Sign", "kms:*") for a in KEY_ADMINISTRATION_ACTIONS)


def test_the_checker_names_the_key_it_may_sign_with(default_stack: StackJson, world: World) -> None:
    (function,) = [
        f
        for f in resources(default_stack, "aws_lambda_function").values()
        if f["function_name"].endswith("-health")
    ]
    logical, _ = _key(default_stack)
    variables = function["environment"]["variables"]
    assert variables["RPC_TOKEN_KEY_ARN"] == "${aws_kms_key." + logical + ".arn}"


def test_the_hosts_name_the_key_by_its_alias(default_stack: StackJson) -> None:
    import base64

    (alias,) = [
        a
        for a in resources(default_stack, "aws_kms_alias").values()
        if a["//"]["metadata"]["path"].endswith("/rpc_token_key/alias")
    ]
    (template,) = resources(default_stack, "aws_launch_template").values()
    script = base64.b64decode(template["user_data"]).decode()
    assert f"RPC_TOKEN_KEY={alias['name']}\n" in script
    assert alias["name"] == "alias/besu-rpc-token"
