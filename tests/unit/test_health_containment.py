"""One node's AWS errors stay with that node, and a failed restart escalates (issue 12, finding 2).

A host whose bootstrap failed is no ECS container instance: ``restart_task`` cannot happen.
Before, the stage stayed ``ok`` and the next run chose RESTART again, spending the f budget
forever; other ``ClientError``s escaped after the stage was saved, so later nodes of the run
were not saved at all.
"""

from __future__ import annotations

import io
from typing import Any

from botocore.exceptions import ClientError

from besu_stack.lambda_log import JsonLogger
from lambda_src.health.config import HealthConfig, ThresholdSettings
from lambda_src.health.decisions import NodeState, Observation
from lambda_src.health.errors import RemediationError
from lambda_src.health.logic import run_check
from lambda_src.health.store import RegistryItem


class FakeRegistry:
    def __init__(self, n: int) -> None:
        self.states: dict[int, NodeState | None] = dict.fromkeys(range(n))
        self.revisions: dict[int, int | None] = dict.fromkeys(range(n))
        self.broken: set[int] = set()

    def items(self) -> list[RegistryItem]:
        return [
            RegistryItem(
                slot=s,
                status="in_use",
                instance_id=f"i-{s:017x}",
                host=f"10.0.0.{s + 10}",
                port=8547,
                address=f"0x{s:040x}",
                health=self.states[s],
                health_revision=self.revisions[s],
            )
            for s in sorted(self.states)
        ]

    def save_health(
        self, slot: int, instance_id: str, state: NodeState, revision: int | None
    ) -> int | None:
        if slot in self.broken:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")
        self.states[slot] = state
        self.revisions[slot] = (revision or 0) + 1
        return self.revisions[slot]


class FakeFleet:
    def __init__(self) -> None:
        self.restarts: list[str] = []
        self.replacements: list[str] = []

    def restart_task(self, instance_id: str, reason: str) -> list[str]:
        raise RemediationError(f"{instance_id} is not an ECS container instance")

    def replace_instance(self, instance_id: str) -> None:
        self.replacements.append(instance_id)


class FakeMetrics:
    def publish(self, metrics: Any, now: float) -> None:
        pass


class FakeStores:
    def __init__(self, n: int) -> None:
        self.registry = FakeRegistry(n)
        self.fleet = FakeFleet()
        self.metrics = FakeMetrics()


CONFIG = HealthConfig(
    registry_table_name="t",
    network_name="n",
    ecs_cluster_name="c",
    ecs_service_name="s",
    autoscaling_group_name="g",
    protocol="qbft",
    rpc_token_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
    thresholds=ThresholdSettings(
        block_period_seconds=2,
        failures_before_action=2,
        cooldown_seconds=0,
        startup_grace_seconds=0,
    ),
)


def observe(dead: set[int], head: int) -> Any:
    def run(endpoints: Any) -> list[Observation]:
        return [
            Observation(e.slot, e.instance_id, reachable=False, error="refused")
            if e.slot in dead
            else Observation(
                e.slot,
                e.instance_id,
                reachable=True,
                head=head,
                peers=3,
                syncing=False,
                address=e.address,
                last_proposed={},
            )
            for e in endpoints
        ]

    return run


def test_a_failed_restart_escalates_and_an_aws_error_stays_with_its_node() -> None:
    stores = FakeStores(4)
    log = JsonLogger("test", io.StringIO())
    decisions = []
    for run in range(4):
        if run == 2:
            stores.registry.broken = {1}  # DynamoDB fails on another node's save
        result = run_check(
            CONFIG,
            stores,
            observe({0}, 100 + run * 10),
            log,
            1_000.0 + run * 60,  # type: ignore[arg-type]
        )
        decisions.append({n["slot"]: n["decision"] for n in result["nodes"]})
    assert [d[0] for d in decisions] == [
        "observe",
        "remediation_failed",  # the restart cannot happen
        "replace_instance",  # escalated on the next run instead of restarting again
        "wait",
    ]
    assert stores.fleet.replacements == ["i-00000000000000000"]
    assert decisions[2][1] == "skipped_aws_error"
    assert decisions[2][3] == "none"  # the run went on past the broken node
