"""Every state a slot secret goes through, evaluated for every principal (issue 13, item 1).

The lifecycle code runs against moto with the role ARNs of the synthesized network (its
functions' environment), from Terraform's initial policy through a launch's grant, a
termination's revoke, a replacement's grant, a reconciler's revoke and a launch's undo. After
each step the policy the code left on the secret is read back and evaluated, together with the
synthesized identity policies and the secrets key's policy (``tests/support/slot_secrets.py``,
``tests/support/iam_eval.py``), for: the key Lambda, the owning instance, the previous owner,
another slot's instance, an instance that never owned the slot, the health checker, the three
lifecycle functions, and an account administrator whose identity policy allows everything.

Wherever a policy exists, nobody but the key Lambda reads, overwrites (``PutSecretValue``, or
``UpdateSecret`` with a value under the secret's own key), replaces the key with a value under
a KMS key of their own (``UpdateSecret`` with ``KmsKeyId``), moves ``AWSCURRENT`` or
replicates it; Terraform's description-only ``UpdateSecret`` stays allowed to the
administrator. Where none exists (after a revoke) the administrator's replacement with their
own KMS key and a label move succeed (no policy is there to refuse them: the residual risk), and
the synthesized alert rules match the CloudTrail event of each.

The policies the hooks write name no secret (``Resource: *``), so evaluating them for the
synthesized network's slot-1 secret ARN is what AWS would do with them there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from lambda_src.lifecycle.launch import handle_launch
from lambda_src.lifecycle.reconcile import reconcile
from lambda_src.lifecycle.termination import handle_termination
from tests.conftest import StackJson
from tests.support.event_patterns import alerts, cloudtrail_event, role_session, rule_patterns
from tests.support.slot_secrets import (
    FILLED,
    OWN_KEY_ARN,
    OWN_KEY_SPELLINGS,
    SECRET_ARN,
    SlotSecrets,
    function_environment,
)

from .lifecycle_fixtures import ACCOUNT, AZS, World, build_world, lifecycle_event, secret_name

pytestmark = [pytest.mark.moto, pytest.mark.synth]

FUNCTIONS = ("launch", "termination", "reconciler")
SERVICES = ("health checker", "launch hook", "termination hook", "reconciler", "admin")


@pytest.fixture(scope="module")
def secrets(default_stack: StackJson) -> SlotSecrets:
    return SlotSecrets(default_stack)


@pytest.fixture(scope="module")
def value_alerts(default_stack: StackJson) -> list[Any]:
    """The alert rules on a slot secret's value changes and deletions."""
    return [
        *rule_patterns(default_stack, "secret_value"),
        *rule_patterns(default_stack, "secret_deletion"),
    ]


@pytest.fixture
def synthesized_world(aws: str, default_stack: StackJson) -> Iterator[World]:
    """A moto world whose lifecycle configuration names the synthesized network's roles."""
    envs = [
        function_environment(default_stack, f"/node_lifecycle/{name}/function")
        for name in FUNCTIONS
    ]
    names = ("INSTANCE_ROLE_ARN", "KEY_LAMBDA_ROLE_ARN", "SECRETS_KEY_ARN")
    roles = {name: envs[0][name] for name in names}
    assert all({name: env[name] for name in names} == roles for env in envs)
    # The hooks derive each slot's secret name as the key Lambda does.
    keygen = function_environment(default_stack, "/validator_keys/keygen/function")
    assert all(env["SECRET_NAME_PREFIX"] == keygen["SECRET_NAME_PREFIX"] for env in envs)
    world = build_world(roles)
    yield world
    world.stubber.deactivate()


def _arn(instance_id: str) -> str:
    return f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{instance_id}"


@dataclass(frozen=True)
class State:
    """A slot secret's resource policy after one step, and whom it should admit."""

    step: str
    policy: str | None
    owner: str | None


def _assert_closed(
    secrets: SlotSecrets, state: State, instances: list[str], value_alerts: list[Any]
) -> None:
    """Only the key Lambda reads and overwrites; of the hosts, only the owner reads. Where a
    policy exists nobody else replaces or moves the key, and nobody at all deletes it without
    a recovery window; where none does, doing so alerts."""
    step, policy = state.step, state.policy
    assert secrets.can("key lambda", "read", policy), step
    assert secrets.can("key lambda", "overwrite", policy), step
    for who in SERVICES:
        for verb in ("read", "overwrite", "update", "replicate"):
            assert not secrets.can(who, verb, policy), (step, who, verb)
    for instance in instances:
        reads = secrets.can("host", "read", policy, _arn(instance))
        assert reads == (instance == state.owner), (step, instance)
        for verb in ("overwrite", "update", "move", "replicate"):
            assert not secrets.can("host", verb, policy, _arn(instance)), (step, instance, verb)
        assert not secrets.can_replace_with_own_key("host", policy), (step, instance)
    assert not secrets.can("host", "read", policy), step  # role credentials of no instance
    # Terraform, applying as an administrator, may still change a description.
    assert secrets.may_update_metadata("admin", policy, None), step
    assert secrets.may_update_metadata("admin", policy, secrets.key_arn), step
    forced = {"secretsmanager:ForceDeleteWithoutRecovery": "true"}
    if policy is not None:
        # The policy holds by itself: Secrets Manager already refuses the administrator.
        for verb in ("read", "overwrite", "move", "replicate"):
            assert not secrets.secrets_manager_allows("admin", verb, policy), (step, verb)
        for who in secrets.roles:
            assert not secrets.secrets_manager_allows(who, "delete", policy, context=forced), (
                step,
                who,
            )
        for spelling in OWN_KEY_SPELLINGS:
            for filled in FILLED:
                assert not secrets.can_replace_with_own_key("admin", policy, spelling, filled), (
                    step,
                    spelling,
                    filled,
                )
    else:
        # No policy: identity policies decide in Secrets Manager, where the administrator's
        # "*" is enough; the secrets key's policy is what refuses it (secret_policy.py)...
        assert secrets.secrets_manager_allows("admin", "read", policy), step
        for verb in ("read", "overwrite", "update", "replicate"):
            assert not secrets.kms_allows("admin", verb), (step, verb)
        # ...except where the secrets key takes no part: a value under a KMS key of the
        # administrator's own, or a label move. That replaces the key (never reveals it) and
        # is seen: the alert rules match the CloudTrail event of each.
        assert secrets.can_replace_with_own_key("admin", policy), step
        assert secrets.can("admin", "move", policy), step
        # So does a deletion without a recovery window (the key is then gone for good).
        assert secrets.secrets_manager_allows("admin", "delete", policy, context=forced), step
        admin = role_session(secrets.arn("admin"))
        for call, parameters in (
            ("UpdateSecret", {"kmsKeyId": OWN_KEY_ARN}),
            ("UpdateSecretVersionStage", {"versionStage": "AWSCURRENT"}),
            ("DeleteSecret", {"forceDeleteWithoutRecovery": True}),
        ):
            event = cloudtrail_event(call, SECRET_ARN, admin, parameters)
            assert alerts(value_alerts, event), (step, call)


def test_a_slot_secret_is_closed_to_all_but_the_key_lambda_and_its_owner_in_every_state(
    synthesized_world: World, secrets: SlotSecrets, value_alerts: list[Any]
) -> None:
    w = synthesized_world
    config = w.config

    def policy(slot: int) -> str | None:
        answer = w.secretsmanager.get_resource_policy(SecretId=secret_name(slot))
        text = answer.get("ResourcePolicy")
        return str(text) if text else None

    def launch(instance: str, **kwargs: Any) -> dict[str, Any]:
        return handle_launch(config, w.stores, w.log, lifecycle_event(instance), **kwargs)

    # Terraform writes the initial policy before any host starts.
    for slot in range(4):
        w.secretsmanager.put_resource_policy(
            SecretId=secret_name(slot), ResourcePolicy=secrets.initial_policy
        )
    states = [State("Terraform's initial policy", policy(1), None)]

    neighbour = w.launch(AZS[1])  # takes slot 0: another slot's instance from now on
    w.expect_completion(neighbour, "CONTINUE")
    assert launch(neighbour)["slot"] == 0

    first = w.launch(AZS[0])
    w.expect_completion(first, "CONTINUE")
    slot = launch(first)["slot"]
    assert slot == 1
    states.append(State("after a launch hook's grant", policy(slot), first))

    w.expect_completion(first, "CONTINUE", "terminate")
    handle_termination(config, w.stores, w.log, lifecycle_event(first, "terminate"))
    w.terminate(first)
    states.append(State("after the termination hook's revoke", policy(slot), None))

    replacement = w.launch(AZS[0])
    w.expect_completion(replacement, "CONTINUE")
    assert launch(replacement)["slot"] == slot
    states.append(State("after a replacement's grant", policy(slot), replacement))

    # A late duplicate of the first owner's termination event withdraws nothing of the newer owner.
    w.expect_completion(first, "CONTINUE", "terminate")
    handle_termination(config, w.stores, w.log, lifecycle_event(first, "terminate"))
    states.append(
        State("after a late termination event of the old owner", policy(slot), replacement)
    )

    w.terminate(replacement)  # vanishes without its termination hook
    reconcile(config, w.stores, w.log, account=ACCOUNT, region="eu-west-1")
    assert w.record(slot).owner_instance_id is None
    states.append(State("after the reconciler's revoke", policy(slot), None))

    def fail_after_grant(step: str) -> None:
        if step == "after_secret_access":
            raise RuntimeError("injected")

    abandoned = w.launch(AZS[0])
    w.expect_completion(abandoned, "ABANDON")
    assert launch(abandoned, fault=fail_after_grant)["result"] == "ABANDON"
    states.append(State("after a launch's undo", policy(slot), None))

    instances = [neighbour, first, replacement, abandoned]
    assert [s.policy is None for s in states] == [False, False, True, False, False, True, True]
    for state in states:
        _assert_closed(secrets, state, instances, value_alerts)
    # Slot 0 was never touched by slot 1's events: its owner still reads it, and only it.
    neighbours = replace(states[0], step="slot 0 throughout", policy=policy(0), owner=neighbour)
    _assert_closed(secrets, neighbours, instances, value_alerts)
