"""The reconciler's stuck-slot report, and the lifecycle configuration and event parsing."""

from __future__ import annotations

import importlib
import sys

import pytest

from lambda_src.lifecycle.config import LifecycleConfig
from lambda_src.lifecycle.errors import ConfigError, InvalidEventError
from lambda_src.lifecycle.events import LAUNCH_TRANSITION, parse_lifecycle_action
from lambda_src.lifecycle.launch import handle_launch
from lambda_src.lifecycle.reconcile import reconcile

from .lifecycle_fixtures import ACCOUNT, World, lifecycle_env, lifecycle_event, world

__all__ = ["world"]


class Crash(BaseException):
    pass


def crash_after_claim(step: str) -> None:
    if step == "after_claim":
        raise Crash(step)


@pytest.mark.moto
def test_reports_expired_lease_and_idle_slots_without_releasing(world: World) -> None:
    w = world
    instance_id = w.launch("eu-west-1a")
    with pytest.raises(Crash):
        handle_launch(
            w.config, w.stores, w.log, lifecycle_event(instance_id), fault=crash_after_claim
        )
    first = reconcile(w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1")
    assert first["stuck"] == []
    assert all(r.status_since is not None for r in w.records())  # stamped on first sight

    first_seen = max(r.status_since or 0 for r in w.records())
    later = first_seen + 3600  # past the 900 s lease and the 1800 s idle threshold
    report = reconcile(
        w.config, w.stores, w.log, account=ACCOUNT, region="eu-west-1", now=lambda: later
    )
    assert report["released_slots"] == []  # the owner still exists: it may hold the key
    reasons = {item["slot"]: item["reason"] for item in report["stuck"]}
    claimed = next(r.slot for r in w.records() if r.owner_instance_id == instance_id)
    assert reasons.pop(claimed) == "launch lease expired"
    assert set(reasons.values()) == {"available too long"}
    assert report["counts"]["SlotsStuck"] == 4.0
    warnings = [r for r in w.log_records() if r["message"] == "slot stuck"]
    assert len(warnings) == 4
    assert w.record(claimed).owner_instance_id == instance_id


@pytest.mark.moto
def test_handlers_build_from_the_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in lifecycle_env("alias/data", world.zone_id).items():
        monkeypatch.setenv(name, value)
    for module in ("launch_handler", "termination_handler", "reconcile_handler"):
        sys.modules.pop(f"lambda_src.lifecycle.{module}", None)
        loaded = importlib.import_module(f"lambda_src.lifecycle.{module}")
        assert loaded.CONFIG.network_name == "testnet"
    reconcile_handler = sys.modules["lambda_src.lifecycle.reconcile_handler"]
    result = reconcile_handler.handler(
        {"account": ACCOUNT, "region": "eu-west-1", "resources": []}, None
    )
    assert result["counts"]["SlotsAvailable"] == 4.0


def env(**overrides: str) -> dict[str, str]:
    values = lifecycle_env("alias/data", "Z123")
    values.update(overrides)
    return values


def test_config_defaults() -> None:
    config = LifecycleConfig.from_env(env())
    assert config.volume_device == "/dev/xvdf"
    assert config.dns_ttl_seconds == 30
    assert config.snapshot_on_termination is True
    assert config.ecs_cluster_name is None
    assert config.host(3) == "validator-3.testnet.internal"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NETWORK_NAME", ""),
        ("REGISTRY_TABLE_NAME", " "),
        ("INSTANCE_ROLE_ARN", "testnet-validator"),
        ("KEY_LAMBDA_ROLE_ARN", "testnet-keygen"),
        ("SECRETS_KEY_ARN", "alias/testnet-validator-keys"),
        ("SECRET_NAME_PREFIX", ""),
        ("PRIVATE_ZONE_DOMAIN", "not a domain"),
        ("DATA_VOLUME_SIZE_GIB", "0"),
        ("DATA_VOLUME_IOPS", "100"),
        ("DATA_VOLUME_THROUGHPUT_MIBPS", "fast"),
        ("DATA_VOLUME_DEVICE", "/dev/sda1"),
        ("SNAPSHOT_ON_TERMINATION", "yes"),
        ("DNS_TTL_SECONDS", "soon"),
    ],
)
def test_config_errors_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        LifecycleConfig.from_env(env(**{name: value}))


def test_event_parsing() -> None:
    event = lifecycle_event("i-0123456789abcdef0")
    action = parse_lifecycle_action(event, LAUNCH_TRANSITION)
    assert action.instance_arn == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"
    with pytest.raises(InvalidEventError, match="EC2_INSTANCE_LAUNCHING"):
        parse_lifecycle_action(
            lifecycle_event("i-0123456789abcdef0", "terminate"), LAUNCH_TRANSITION
        )
    broken = lifecycle_event("i-0123456789abcdef0")
    broken["detail"]["EC2InstanceId"] = "../etc"
    with pytest.raises(InvalidEventError, match="EC2InstanceId"):
        parse_lifecycle_action(broken, LAUNCH_TRANSITION)
    with pytest.raises(InvalidEventError):
        parse_lifecycle_action({"detail": "x"}, LAUNCH_TRANSITION)


def test_the_reconciler_waits_for_a_claim_age_and_a_second_look(world: World) -> None:
    """EC2's API is eventually consistent: one DescribeInstances that misses the owner is not
    proof it is gone (finding 6 of issue 12). A slot is freed only when its claim is old enough
    and a second run, RECONCILE_CONFIRM_SECONDS later, still finds the owner gone."""
    from dataclasses import replace

    w = world
    config = replace(w.config, min_claim_age_seconds=300, reconcile_confirm_seconds=240)
    instance = w.launch("eu-west-1a")
    w.expect_completion(instance, "CONTINUE")
    claimed_at = 10_000
    outcome = handle_launch(
        config, w.stores, w.log, lifecycle_event(instance), now=lambda: float(claimed_at)
    )
    slot = outcome["slot"]
    w.terminate(instance)

    def run(at: int) -> list[int]:
        report = reconcile(
            config, w.stores, w.log, account=ACCOUNT, region="eu-west-1", now=lambda: float(at)
        )
        return list(report["released_slots"])

    assert run(claimed_at + 100) == []  # claimed too recently
    assert w.record(slot).gone_since is None
    assert run(claimed_at + 400) == []  # first sighting of the owner gone
    assert w.record(slot).gone_since == claimed_at + 400
    assert run(claimed_at + 500) == []  # too soon for the second look
    assert run(claimed_at + 700) == [slot]
    assert w.record(slot).status == "available"
