"""Who can read a validator key: the synthesized policies evaluated for a list of principals.

Reading a secret takes both halves: Secrets Manager must allow ``GetSecretValue`` (the caller's
identity policy and the secret's resource policy, which the launch hook writes after the first
claim), and KMS must allow Secrets Manager's ``kms:Decrypt`` on the caller's behalf
(``kms:ViaService`` and the ``SecretARN`` encryption context, "Secret encryption and decryption
in AWS Secrets Manager"). Overwriting takes ``PutSecretValue`` and ``kms:GenerateDataKey``.

Principals: the key Lambda, the slot's owning instance, another slot's instance, the health
checker, and an account administrator whose identity policy allows everything but who has no
grant of its own. Evaluated with ``tests/support/iam_eval.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from besu_stack.constructs.secrets_key import KEY_ADMINISTRATION_ACTIONS
from tests.conftest import StackJson, resources
from tests.support.iam_eval import ACCOUNT, REGION, Policies, Request, is_allowed, resolve

pytestmark = pytest.mark.synth

SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:besu/validator-1/key-AbCdEf"
OWNER = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0000000000000000a"
OTHER = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0000000000000000b"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Administrator"
ALLOW_EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _by_path(stack: StackJson, kind: str, suffix: str) -> dict[str, Any]:
    (found,) = [
        r for r in resources(stack, kind).values() if r["//"]["metadata"]["path"].endswith(suffix)
    ]
    return found


def _role(stack: StackJson, suffix: str) -> tuple[str, list[str]]:
    """(ARN, resolved inline policies) of the role at ``suffix``."""
    logical = next(
        name
        for name, r in resources(stack, "aws_iam_role").items()
        if r["//"]["metadata"]["path"].endswith(suffix)
    )
    arn = resolve(stack, "${aws_iam_role." + logical + ".arn}")
    policies = [
        resolve(stack, p["policy"])
        for p in resources(stack, "aws_iam_role_policy").values()
        if p["role"] == "${aws_iam_role." + logical + ".id}"
    ]
    return arn, policies


class World:
    """The policies of one synthesized network, for one slot secret."""

    def __init__(self, stack: StackJson) -> None:
        self.key_policy = resolve(
            stack, _by_path(stack, "aws_kms_key", "/validator_keys/secrets_key/key")["policy"]
        )
        self.key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/validator_keys_secrets_key"
        self.initial_secret_policy = resolve(
            stack,
            _by_path(stack, "aws_secretsmanager_secret_policy", "/slot_1_policy")["policy"],
        )
        self.roles = {
            "key lambda": _role(stack, "/validator_keys/keygen/role"),
            "host": _role(stack, "/fleet/instance_role"),
            "health checker": _role(stack, "/health_check/health/role"),
            "launch hook": _role(stack, "/node_lifecycle/launch/role"),
            "termination hook": _role(stack, "/node_lifecycle/termination/role"),
            "admin": (ADMIN, [json.dumps(ALLOW_EVERYTHING)]),
        }
        self.hook_secret_policy = self._hook_policy(self.roles["host"][0])

    @staticmethod
    def _hook_policy(host_role: str) -> str:
        """The policy the launch hook writes when it opens slot 1 to ``OWNER``."""
        from lambda_src.lifecycle.store import SecretAccess

        written: dict[str, str] = {}

        class Client:
            def put_resource_policy(self, **kwargs: Any) -> None:
                written["policy"] = kwargs["ResourcePolicy"]

            def get_resource_policy(self, **kwargs: Any) -> dict[str, str]:
                # The hook reads the current owner first (its undo withdraws only its grant).
                return {"ResourcePolicy": written["policy"]} if "policy" in written else {}

        SecretAccess(Client(), host_role).grant("besu/validator-1/key", OWNER)
        return written["policy"]

    def _allowed(self, who: str, action: str, resource: str, context: dict[str, str]) -> bool:
        arn, identity = self.roles[who]
        secret_policy = self.hook_secret_policy if self.claimed else self.initial_secret_policy
        request = Request(arn, action, resource, context)
        if action.startswith("kms:"):
            return is_allowed(request, Policies(identity=identity, key_policy=self.key_policy))
        return is_allowed(request, Policies(identity=identity, resource=[secret_policy]))

    def can(self, who: str, verb: str, instance: str | None = None, claimed: bool = True) -> bool:
        """Whether ``who`` can ``read`` or ``overwrite`` slot 1's key (both halves)."""
        self.claimed = claimed
        context = {"ec2:SourceInstanceARN": instance} if instance else {}
        api, kms = {
            "read": ("secretsmanager:GetSecretValue", "kms:Decrypt"),
            "overwrite": ("secretsmanager:PutSecretValue", "kms:GenerateDataKey"),
        }[verb]
        kms_context = {
            **context,
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
            "kms:EncryptionContext:SecretARN": SECRET,
        }
        return self._allowed(who, api, SECRET, context) and self._allowed(
            who, kms, self.key_arn, kms_context
        )

    def can_use_key_directly(self, who: str) -> bool:
        return self._allowed(who, "kms:Decrypt", self.key_arn, {})


@pytest.fixture(scope="module")
def world(default_stack: StackJson) -> World:
    return World(default_stack)


def test_the_key_lambda_reads_and_writes_slot_keys(world: World) -> None:
    assert world.can("key lambda", "read", claimed=False)
    assert world.can("key lambda", "overwrite", claimed=False)
    assert world.can("key lambda", "read", claimed=True)


def test_only_the_owning_instance_reads_its_slot_key(world: World) -> None:
    assert world.can("host", "read", instance=OWNER)
    assert not world.can("host", "read", instance=OTHER)
    assert not world.can("host", "overwrite", instance=OWNER)


def test_before_the_first_claim_no_host_reads_a_key(world: World) -> None:
    assert not world.can("host", "read", instance=OWNER, claimed=False)


def test_the_health_checker_and_the_hooks_cannot_read_a_key(world: World) -> None:
    for who in ("health checker", "launch hook", "termination hook"):
        for claimed in (False, True):
            assert not world.can(who, "read", claimed=claimed), who
            assert not world.can(who, "overwrite", claimed=claimed), who


def test_an_account_administrator_without_a_grant_cannot_read_or_overwrite_a_key(
    world: World,
) -> None:
    """The admin's identity policy allows everything; the key's policy gives the account only
    key administration, so Secrets Manager cannot decrypt or generate a data key for it."""
    for claimed in (False, True):
        assert not world.can("admin", "read", claimed=claimed)
        assert not world.can("admin", "overwrite", claimed=claimed)
    assert not world.can_use_key_directly("admin")


def test_no_principal_uses_the_key_outside_secrets_manager(world: World) -> None:
    for who in world.roles:
        assert not world.can_use_key_directly(who), who


def test_the_account_administers_the_key_but_cannot_use_or_grant_it(world: World) -> None:
    """The lock-out trade-off (secrets_key.py): administration, PutKeyPolicy included, stays
    with the account; using the key and CreateGrant do not."""
    assert "kms:PutKeyPolicy" in KEY_ADMINISTRATION_ACTIONS
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"):
        assert not any(a == action or a == "kms:*" for a in KEY_ADMINISTRATION_ACTIONS)
    assert "kms:CreateGrant" not in KEY_ADMINISTRATION_ACTIONS
    admin_may = world._allowed("admin", "kms:ScheduleKeyDeletion", world.key_arn, {})
    assert admin_may
    assert not world._allowed("admin", "kms:CreateGrant", world.key_arn, {})
