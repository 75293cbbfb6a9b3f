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

from besu_stack.constructs.kms import (
    ADMINISTRATION_SID,
    KEY_ADMINISTRATION_ACTIONS,
    DecidingKeyPolicy,
)
from besu_stack.constructs.validator_keys import SECRET_RECOVERY_WINDOW_DAYS
from tests.conftest import StackJson, resources
from tests.support.iam_eval import (
    ACCOUNT,
    REGION,
    Policies,
    Request,
    evaluate,
    is_allowed,
    resolve,
    role_policies,
)
from tests.support.slot_secrets import (
    FILLED,
    OWN_KEY_ARN,
    OWN_KEY_SPELLINGS,
    SECRET_ARN,
    VERBS,
    SlotSecrets,
)

pytestmark = pytest.mark.synth

OWNER = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0000000000000000a"
OTHER = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0000000000000000b"


class World:
    """The policies of one synthesized network, for slot 1's secret, before and after a claim."""

    def __init__(self, stack: StackJson) -> None:
        self.secrets = SlotSecrets(stack)
        self.roles = self.secrets.roles
        self.key_arn = self.secrets.key_arn
        self.hook_secret_policy = self._hook_policy()

    def _hook_policy(self) -> str:
        """The policy the launch hook writes when it opens slot 1 to ``OWNER``."""
        from lambda_src.lifecycle.store import SecretAccess

        written: dict[str, str] = {}

        class Client:
            def put_resource_policy(self, **kwargs: Any) -> None:
                written["policy"] = kwargs["ResourcePolicy"]

            def get_resource_policy(self, **kwargs: Any) -> dict[str, str]:
                # The hook reads the current owner first (its undo withdraws only its grant).
                return {"ResourcePolicy": written["policy"]} if "policy" in written else {}

        host, key_lambda = self.secrets.arn("host"), self.secrets.arn("key lambda")
        SecretAccess(Client(), host, key_lambda, self.secrets.key_arn).grant(
            "besu/validator-1/key", OWNER
        )
        return written["policy"]

    def can(self, who: str, verb: str, instance: str | None = None, claimed: bool = True) -> bool:
        """Whether ``who`` can ``read`` or ``overwrite`` slot 1's key (both halves)."""
        policy = self.hook_secret_policy if claimed else self.secrets.initial_policy
        return self.secrets.can(who, verb, policy, instance)

    def can_use_key_directly(self, who: str) -> bool:
        return self.secrets.can_use_key_directly(who)

    def _allowed(self, who: str, action: str, resource: str, context: dict[str, str]) -> bool:
        arn, identity = self.roles[who]
        return is_allowed(
            Request(arn, action, resource, context),
            Policies(identity=identity, key_policy=self.secrets.key_policy),
        )


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
    for who in ("health checker", "launch hook", "termination hook", "reconciler"):
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


def test_an_administrator_cannot_replace_a_key_with_a_kms_key_of_their_own(
    world: World,
) -> None:
    """UpdateSecret with a value and a KmsKeyId of the administrator's own key: KMS allows
    that key, so the secret's policy must refuse it, whichever way the request names the key
    and whichever of the two condition keys AWS fills (secret_policy.py)."""
    for policy in (world.secrets.initial_policy, world.hook_secret_policy):
        for spelling in OWN_KEY_SPELLINGS:
            for filled in FILLED:
                assert not world.secrets.can_replace_with_own_key("admin", policy, spelling, filled)


def test_an_administrator_cannot_write_a_value_through_update_secret_either(world: World) -> None:
    """Without a KmsKeyId, UpdateSecret encrypts the new version with the secret's own key,
    whose policy refuses the administrator kms:GenerateDataKey."""
    assert not world.secrets.kms_allows("admin", "update")
    for claimed in (False, True):
        assert not world.can("admin", "update", claimed=claimed)


def test_terraform_updates_of_a_slot_secret_stay_allowed_to_the_administrator(
    world: World,
) -> None:
    """Terraform applies as an administrator; its UpdateSecret of a description names the
    configured key ARN, or no key (test_secret_policy_lifecycle.py records the request)."""
    key = world.secrets.key_arn
    for policy in (world.secrets.initial_policy, world.hook_secret_policy):
        assert world.secrets.may_update_metadata("admin", policy, None)
        for filled in FILLED:
            assert world.secrets.may_update_metadata("admin", policy, key, filled)
            assert not world.secrets.may_update_metadata("admin", policy, OWN_KEY_ARN, filled)


def test_the_secrets_key_named_other_than_by_its_arn_is_refused(world: World) -> None:
    """Fail-closed: the KmsKeyId guard compares the request's spelling with the ARN, so even
    the secrets key named by alias or id is refused where AWS fills secretsmanager:KmsKeyId."""
    alias = "alias/besu-validator-keys"
    policy = world.hook_secret_policy
    assert not world.secrets.may_update_metadata("admin", policy, alias, ("KmsKeyId",))


def test_only_the_key_lambda_moves_a_version_label_or_replicates_a_key(world: World) -> None:
    """Pointing AWSCURRENT at another version needs no KMS key at all: only the policy refuses
    it. The key Lambda is not refused (it has no identity grant for either call today)."""
    key_lambda = world.secrets.arn("key lambda")
    for policy in (world.secrets.initial_policy, world.hook_secret_policy):
        for verb in ("move", "replicate"):
            action = VERBS[verb][0]
            denied, _ = evaluate(
                policy, Request(key_lambda, action, SECRET_ARN), resource_policy=True
            )
            assert not denied, verb
            for who in ("admin", "host", "health checker", "launch hook"):
                assert not world.secrets.secrets_manager_allows(who, verb, policy), (who, verb)
    # Replicating also takes kms:Decrypt on the secrets key, refused the administrator anyway.
    assert not world.secrets.kms_allows("admin", "replicate")


def test_nobody_deletes_a_slot_secret_without_a_recovery_window(world: World) -> None:
    """A force-deleted key is a validator identity gone for good: every policy refuses it to
    everyone, while the scheduled deletion Terraform's destroy sends stays allowed to the
    administrator who applies (test_secret_policy_lifecycle.py records that request)."""
    forced = {"secretsmanager:ForceDeleteWithoutRecovery": "true"}
    scheduled = {"secretsmanager:RecoveryWindowInDays": str(SECRET_RECOVERY_WINDOW_DAYS)}
    for policy in (world.secrets.initial_policy, world.hook_secret_policy):
        for who in world.roles:
            assert not world.secrets.secrets_manager_allows(
                who, "delete", policy, context=forced
            ), who
        assert world.secrets.secrets_manager_allows("admin", "delete", policy, context=scheduled)


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


# --- who may open or close a slot secret (issue 13, item 7) -----------------------------------


def test_only_the_launch_hook_may_write_a_slot_secret_policy(world: World) -> None:
    """Secrets Manager has no condition key on a policy's content: whoever may put a policy may
    open the secret to anyone. So only the launch hook may, and only with BlockPublicPolicy."""
    put = "secretsmanager:PutResourcePolicy"
    launch_arn, launch_identity = world.roles["launch hook"]

    def launch_may_put(block_public: str) -> bool:
        request = Request(
            launch_arn,
            put,
            SECRET_ARN,
            {"secretsmanager:BlockPublicPolicy": block_public},
        )
        return is_allowed(request, Policies(identity=launch_identity))

    assert launch_may_put("true")
    assert not launch_may_put("false")
    for who in ("termination hook", "reconciler", "key lambda", "host", "health checker"):
        assert not world.secrets.may_call(who, put), who


def test_the_lifecycle_functions_may_only_delete_a_slot_secret_policy_to_revoke(
    world: World,
) -> None:
    """A revoke deletes the policy; deleting can only fall back to the closed state."""
    delete = "secretsmanager:DeleteResourcePolicy"
    for who in ("launch hook", "termination hook", "reconciler"):
        assert world.secrets.may_call(who, delete), who
        assert world.secrets.may_call(who, "secretsmanager:GetResourcePolicy"), who
    for who in ("key lambda", "host", "health checker"):
        assert not world.secrets.may_call(who, delete), who


def test_no_role_but_the_key_lambdas_reads_a_slot_secret_by_its_own_policy(
    default_stack: StackJson,
) -> None:
    """The premise of revoking by deletion: with no resource policy, identity policies decide in
    Secrets Manager, so no role of the stack but the key Lambda's may read or write a slot key
    by its own policy (the DLM role's only attachment, AWS's DLM service-role policy, names no
    Secrets Manager action)."""
    key_lambda, _ = role_policies(default_stack, "/validator_keys/keygen/role")
    for logical in resources(default_stack, "aws_iam_role"):
        arn = resolve(default_stack, "${aws_iam_role." + logical + ".arn}")
        policies = [
            resolve(default_stack, p["policy"])
            for p in resources(default_stack, "aws_iam_role_policy").values()
            if p["role"] == "${aws_iam_role." + logical + ".id}"
        ]
        for action in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"):
            allowed = is_allowed(Request(arn, action, SECRET_ARN), Policies(identity=policies))
            assert allowed == (arn == key_lambda), (logical, action)


# --- the policy both deciding keys share (besu_stack/constructs/kms.py) ------------------------


def test_a_deciding_key_policy_names_each_grantee_once_under_a_valid_sid() -> None:
    """Each grant is one statement whose Sid says whom it admits: a Sid that is not letters and
    digits, or one used twice (a grant that would shadow another), is refused by name."""
    policy = DecidingKeyPolicy("arn:aws:iam::123456789012:root", owner="TestKey")
    policy.allow("HostsRead", "arn:aws:iam::123456789012:role/hosts", ["kms:GetPublicKey"])
    with pytest.raises(ValueError, match=r"TestKey grant: sid 'HostsRead' is already used"):
        policy.allow("HostsRead", "arn:aws:iam::123456789012:role/other", ["kms:Decrypt"])
    with pytest.raises(ValueError, match="is already used"):
        policy.allow(ADMINISTRATION_SID, "arn:aws:iam::123456789012:role/hosts", ["kms:Decrypt"])
    for bad in ("Hosts-Read", "", "Hösts"):
        with pytest.raises(ValueError, match="must be letters and digits"):
            policy.allow(bad, "arn:aws:iam::123456789012:role/hosts", ["kms:Decrypt"])
    statements = json.loads(policy.document())["Statement"]
    assert [s["Sid"] for s in statements] == ["AccountAdministersButCannotUseTheKey", "HostsRead"]
    assert "Condition" not in statements[1]
