"""Data access: the DynamoDB registry, ECS, Auto Scaling and CloudWatch, via boto3.

Each class wraps boto3 clients (typed ``Any``: boto3 ships no type information) and turns the
error codes the logic branches on into return values or :class:`RemediationError`; other errors
propagate unchanged.

Registry items the checker reads (written by the lifecycle functions):

================  ====  ===============================================================
attribute         type  meaning
================  ====  ===============================================================
``slot``          N     partition key: the validator slot
``status``        S     only ``in_use`` items are checked
``owner_instance_id``  S  the EC2 instance owning the slot
``private_ip``    S     where the node answers (optional; else ``dns_name``)
``dns_name``      S     used when ``private_ip`` is absent; sent as the ``Host`` header
``enode``         S     enode URL with the slot's stable DNS name: its host is used when
                        neither ``private_ip`` nor ``dns_name`` is present (the lifecycle
                        functions write only this), and as the ``Host`` header
``admin_rpc_port``  N   the node's admin WebSocket JSON-RPC port (else ``ADMIN_RPC_PORT``)
``address``       S     the slot's validator address (participation rule)
``health``        M     written by the checker only: see :func:`state_to_item`
================  ====  ===============================================================

``health`` is replaced with a conditional update that requires ``health.revision`` to be the
one read, so two overlapping runs cannot both act on a node. The update names no attribute but
``health`` (and the key): the checker's role may touch nothing else
(``dynamodb:Attributes``, ``besu_stack/constructs/health_check.py``), so it can neither change
which instance owns a slot nor where a slot's key is. A slot re-claimed between a run's read
and its write may thus get a state about the previous instance: every state carries its
``instance_id``, a state about another instance counts only as the slot's history
(``decisions._base_state``), and a remediation acts on the instance the state is about, never
on the slot's new owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from besu_stack.lambda_kernel.aws import CallGuard, aws_client, worst_case_call_seconds
from besu_stack.lambda_kernel.aws import error_code as _error_code
from besu_stack.lambda_kernel.slots import IN_USE

from .decisions import STAGES, NodeState
from .errors import RemediationError
from .rpc import endpoint_hosts

STATUS_IN_USE = IN_USE
METRICS_PER_CALL = 150
"""Data per ``PutMetricData`` call (the API's limit is 1000; 150 keeps requests small)."""

CHECKER_MAX_ATTEMPTS = 1
"""The checker's clients try each call once (the kernel's default is 3 attempts).

Why: with 3 attempts one call can cost ``worst_case_call_seconds()`` = 25 s, and a run makes at
least a scan, one write per node and a metrics put inside a 50 s timeout that cannot grow past the
one-minute schedule. With one attempt a call costs at most 4 s (connect 1 s + read 3 s, no
backoff), so the RPC observation, one whole remediation and the metrics fit
(``tests/lambdas/test_health_time_budget.py``). The retry is the next scheduled run a minute
later: a failed call is contained to its node (its state unchanged) and checked again then.
"""
CHECKER_RETRIES = {"mode": "standard", "total_max_attempts": CHECKER_MAX_ATTEMPTS}
CHECKER_CALL_SECONDS = worst_case_call_seconds(CHECKER_MAX_ATTEMPTS)
"""The longest one AWS call of the checker can take."""


@dataclass(frozen=True)
class RegistryItem:
    """One validator slot as the checker sees it."""

    slot: int
    status: str
    instance_id: str | None
    host: str | None
    port: int | None
    address: str | None
    health: NodeState | None
    health_revision: int | None
    server_name: str | None = None
    """The node's DNS name (``dns_name`` or the enode's host), sent as the ``Host`` header."""


def _plain(value: Mapping[str, Any]) -> object:
    if "S" in value:
        return str(value["S"])
    if "N" in value:
        text = str(value["N"])
        return float(text) if any(c in text for c in ".eE") else int(text)
    if "M" in value:
        return {k: _plain(v) for k, v in value["M"].items()}
    if "BOOL" in value:
        return bool(value["BOOL"])
    return None


def state_to_item(state: NodeState, revision: int) -> dict[str, Any]:
    """The ``health`` map attribute holding a node's state (``None`` fields left out)."""
    fields: dict[str, Any] = {
        "revision": {"N": str(revision)},
        "instance_id": {"S": state.instance_id},
        "stage": {"S": state.stage},
        "first_seen": {"N": repr(float(state.first_seen))},
        "failures": {"N": str(state.failures)},
        "passes": {"N": str(state.passes)},
        "failed_remediations": {"N": str(state.failed_remediations)},
    }
    optional: dict[str, int | float | None] = {
        "last_head": state.last_head,
        "head_changed_at": state.head_changed_at,
        "stage_since": state.stage_since,
        "last_action_at": state.last_action_at,
    }
    for name, value in optional.items():
        if value is not None:
            fields[name] = {"N": str(value) if isinstance(value, int) else repr(float(value))}
    return {"M": fields}


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def state_from_item(health: Mapping[str, object]) -> NodeState | None:
    """The state in a ``health`` map (as plain values); ``None`` when it is unusable."""
    instance_id = health.get("instance_id")
    stage = health.get("stage")
    first_seen = _opt_float(health.get("first_seen"))
    if not isinstance(instance_id, str) or stage not in STAGES or first_seen is None:
        return None
    last_head = health.get("last_head")
    failures = health.get("failures")
    passes = health.get("passes")
    failed = health.get("failed_remediations")
    return NodeState(
        instance_id=instance_id,
        first_seen=first_seen,
        last_head=last_head if isinstance(last_head, int) else None,
        head_changed_at=_opt_float(health.get("head_changed_at")),
        failures=failures if isinstance(failures, int) else 0,
        passes=passes if isinstance(passes, int) else 0,
        stage=stage,
        stage_since=_opt_float(health.get("stage_since")),
        last_action_at=_opt_float(health.get("last_action_at")),
        failed_remediations=failed if isinstance(failed, int) else 0,
    )


class Registry:
    """The key/node registry table (partition key ``slot``, a number)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def items(self) -> list[RegistryItem]:
        """Every slot item (strongly consistent scan; a registry holds at most ~100 items)."""
        found: list[RegistryItem] = []
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table, ConsistentRead=True
        ):
            for raw in page.get("Items", []):
                item = {name: _plain(value) for name, value in raw.items()}
                slot = item.get("slot")
                if not isinstance(slot, int):
                    continue
                health = item.get("health")
                health_map = health if isinstance(health, dict) else None
                revision = health_map.get("revision") if health_map else None
                host, server_name = endpoint_hosts(
                    item.get("private_ip"), item.get("dns_name"), item.get("enode")
                )
                port = item.get("admin_rpc_port")
                found.append(
                    RegistryItem(
                        slot=slot,
                        status=str(item.get("status", "")),
                        instance_id=_text(item.get("owner_instance_id")),
                        host=host,
                        port=port if isinstance(port, int) else None,
                        address=_text(item.get("address")),
                        health=state_from_item(health_map) if health_map else None,
                        health_revision=revision if isinstance(revision, int) else None,
                        server_name=server_name,
                    )
                )
        return sorted(found, key=lambda i: i.slot)

    def save_health(
        self, slot: int, instance_id: str, state: NodeState, expected_revision: int | None
    ) -> int | None:
        """Write a slot's ``health`` if nobody else did since it was read; the new revision.

        ``state`` is about ``instance_id`` (it carries it). Returns ``None`` when the condition
        failed: another run wrote first.
        """
        if state.instance_id != instance_id:
            raise ValueError(
                f"slot {slot}: a state about {state.instance_id} saved for {instance_id}"
            )
        revision = (expected_revision or 0) + 1
        values: dict[str, Any] = {":health": state_to_item(state, revision)}
        if expected_revision is None:
            guard = "attribute_not_exists(health.revision)"
        else:
            guard = "health.revision = :revision"
            values[":revision"] = {"N": str(expected_revision)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"slot": {"N": str(slot)}},
                UpdateExpression="SET health = :health",
                ConditionExpression=guard,
                ExpressionAttributeValues=values,
                ReturnValues="NONE",
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return revision


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class Fleet:
    """The two remediations: restart a node's ECS task, mark its instance unhealthy."""

    def __init__(
        self, ecs: Any, autoscaling: Any, cluster: str, service: str, group_name: str
    ) -> None:
        self._ecs = ecs
        self._autoscaling = autoscaling
        self._cluster = cluster
        self._service = service
        self._group = group_name

    def _container_instance(self, instance_id: str) -> str:
        arns: list[str] = []
        for page in self._ecs.get_paginator("list_container_instances").paginate(
            cluster=self._cluster
        ):
            arns.extend(page.get("containerInstanceArns", []))
        for start in range(0, len(arns), 100):
            described = self._ecs.describe_container_instances(
                cluster=self._cluster, containerInstances=arns[start : start + 100]
            )
            for container in described.get("containerInstances", []):
                if container.get("ec2InstanceId") == instance_id:
                    return str(container["containerInstanceArn"])
        raise RemediationError(
            f"instance {instance_id} is not a container instance of cluster {self._cluster}"
        )

    def restart_task(self, instance_id: str, reason: str) -> list[str]:
        """Stop the Besu service's running task(s) on an instance; the service starts anew."""
        container = self._container_instance(instance_id)
        task_arns: list[str] = []
        for page in self._ecs.get_paginator("list_tasks").paginate(
            cluster=self._cluster, containerInstance=container, desiredStatus="RUNNING"
        ):
            task_arns.extend(page.get("taskArns", []))
        stopped: list[str] = []
        group = f"service:{self._service}"
        for start in range(0, len(task_arns), 100):
            described = self._ecs.describe_tasks(
                cluster=self._cluster, tasks=task_arns[start : start + 100]
            )
            for task in described.get("tasks", []):
                if task.get("group") != group:
                    continue
                self._ecs.stop_task(
                    cluster=self._cluster, task=task["taskArn"], reason=reason[:255]
                )
                stopped.append(str(task["taskArn"]))
        if not stopped:
            raise RemediationError(
                f"no running task of service {self._service} on instance {instance_id}"
            )
        return stopped

    def replace_instance(self, instance_id: str) -> None:
        """Mark an instance of the node group unhealthy so Auto Scaling replaces it."""
        described = self._autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
        groups = {
            str(i.get("AutoScalingGroupName")) for i in described.get("AutoScalingInstances", [])
        }
        if groups != {self._group}:
            raise RemediationError(
                f"instance {instance_id} is not in Auto Scaling group {self._group} "
                f"(found in: {', '.join(sorted(groups)) or 'none'})"
            )
        self._autoscaling.set_instance_health(
            InstanceId=instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False
        )


@dataclass(frozen=True)
class Metric:
    """One CloudWatch datum."""

    name: str
    value: float
    dimensions: Mapping[str, str]
    unit: str = "None"


class MetricsPublisher:
    """``PutMetricData`` into one namespace, in batches."""

    def __init__(self, client: Any, namespace: str) -> None:
        self._client = client
        self._namespace = namespace

    def publish(self, metrics: Sequence[Metric], timestamp: float) -> None:
        """Publish the metrics, all with the run's timestamp."""
        data = list(_metric_data(metrics, timestamp))
        for start in range(0, len(data), METRICS_PER_CALL):
            self._client.put_metric_data(
                Namespace=self._namespace, MetricData=data[start : start + METRICS_PER_CALL]
            )


def _metric_data(metrics: Iterable[Metric], timestamp: float) -> Iterable[dict[str, Any]]:
    for metric in metrics:
        yield {
            "MetricName": metric.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(metric.dimensions.items())],
            "Timestamp": timestamp,
            "Value": float(metric.value),
            "Unit": metric.unit,
        }


@dataclass(frozen=True)
class Stores:
    """The AWS side of one invocation."""

    registry: Registry
    fleet: Fleet
    metrics: MetricsPublisher
    guard: CallGuard | None = None
    """Checks the run's time budget before every AWS call (``None``: no checks)."""

    @classmethod
    def from_boto3(
        cls,
        table_name: str,
        cluster: str,
        service: str,
        group_name: str,
        namespace: str,
        guard: CallGuard | None = None,
    ) -> Stores:
        """Build the stores on boto3 clients (region and endpoint from the environment).

        Every client tries each call once (:data:`CHECKER_MAX_ATTEMPTS`) and is wrapped by one
        :class:`CallGuard` (``guard``, or a new one costing :data:`CHECKER_CALL_SECONDS` a call),
        so :func:`~.logic.run_check` stops before the function timeout.
        """
        guard = guard or CallGuard(CHECKER_CALL_SECONDS)
        return cls(
            registry=Registry(
                guard.wrap(aws_client("dynamodb", retries=CHECKER_RETRIES)), table_name
            ),
            fleet=Fleet(
                guard.wrap(aws_client("ecs", retries=CHECKER_RETRIES)),
                guard.wrap(aws_client("autoscaling", retries=CHECKER_RETRIES)),
                cluster,
                service,
                group_name,
            ),
            metrics=MetricsPublisher(
                guard.wrap(aws_client("cloudwatch", retries=CHECKER_RETRIES)), namespace
            ),
            guard=guard,
        )
