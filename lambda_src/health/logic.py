"""One health-check run: the testable core of the ``health`` function.

1. Read the registry: every slot (n = the number of slot items) and the ``in_use`` ones to check.
2. Query every checked node over JSON-RPC, concurrently, with short timeouts.
3. :func:`~.decisions.decide` what to do with each node (pure).
4. For each node, persist its new state with a conditional update *before* acting, so an
   overlapping run cannot act on the same node twice; then restart its task or mark its instance
   unhealthy. When the action fails (a :class:`RemediationError` or any AWS error), the state
   is written back without the stage change and with the failure counted, so the next run
   escalates (a restart that cannot happen becomes a replacement; see ``decisions``). An AWS
   error on one node is contained to that node: the run goes on with the others.
5. Log every decision with its evidence and publish per-node and network metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from besu_stack.lambda_log import JsonLogger

from .config import HealthConfig
from .decisions import (
    REMEDIATIONS,
    Action,
    CheckDecision,
    NodeDecision,
    NodeState,
    Observation,
    decide,
)
from .errors import RemediationError
from .rpc import NodeEndpoint
from .store import STATUS_IN_USE, Metric, RegistryItem, Stores

Observer = Callable[[Sequence[NodeEndpoint]], list[Observation]]

NODE_METRICS = ("BlockHeight", "BlocksBehind", "PeerCount", "Healthy", "Reachable")


def endpoints(items: Sequence[RegistryItem], default_port: int) -> list[NodeEndpoint]:
    """The nodes to check: ``in_use`` items with an owning instance."""
    return [
        NodeEndpoint(
            slot=item.slot,
            instance_id=item.instance_id,
            host=item.host,
            port=item.port or default_port,
            address=item.address.lower() if item.address else None,
            server_name=item.server_name,
        )
        for item in items
        if item.status == STATUS_IN_USE and item.instance_id
    ]


def _node_metrics(config: HealthConfig, obs: Observation, node: NodeDecision) -> list[Metric]:
    dims = {"Network": config.network_name, "Slot": str(node.slot)}
    metrics = [
        Metric("Healthy", 1.0 if node.healthy else 0.0, dims),
        Metric("Reachable", 1.0 if obs.reachable else 0.0, dims),
    ]
    evidence = node.evidence
    if obs.reachable and obs.head is not None:
        metrics.append(Metric("BlockHeight", obs.head, dims))
        lag = evidence.get("lag")
        if isinstance(lag, int):
            metrics.append(Metric("BlocksBehind", lag, dims))
    if obs.peers is not None:
        metrics.append(Metric("PeerCount", obs.peers, dims))
    since = evidence.get("blocks_since_proposal")
    if isinstance(since, int):
        metrics.append(Metric("BlocksSinceProposal", since, dims))
    return metrics


def _network_metrics(
    config: HealthConfig, decision: CheckDecision, executed: dict[Action, int]
) -> list[Metric]:
    net = decision.network
    dims = {"Network": config.network_name}
    metrics = [
        Metric("NetworkStalled", 1.0 if net.stalled else 0.0, dims),
        Metric("HealthyNodes", net.healthy_nodes, dims),
        Metric("ReachableNodes", net.reachable_nodes, dims),
        Metric("ValidatorsOnline", net.validators_online, dims),
        Metric("NodesInRemediation", net.in_remediation, dims),
        Metric("MissingSlots", net.missing_slots, dims),
        Metric("Remediations", sum(executed.get(a, 0) for a in REMEDIATIONS), dims),
        Metric("RemediationsGivenUp", executed.get(Action.GIVEN_UP, 0), dims),
    ]
    if net.network_head is not None:
        metrics.append(Metric("NetworkBlockHeight", net.network_head, dims))
    for action in Action:
        metrics.append(
            Metric(
                "Decisions",
                executed.get(action, 0),
                {"Network": config.network_name, "Decision": action.value},
            )
        )
    return metrics


def _act(
    config: HealthConfig, stores: Stores, log: JsonLogger, node: NodeDecision
) -> tuple[bool, dict[str, Any]]:
    reason = f"besu-stack health check: {', '.join(node.reasons)}"
    try:
        if node.action is Action.RESTART_TASK:
            tasks = stores.fleet.restart_task(node.instance_id, reason)
            return True, {"stopped_tasks": tasks}
        stores.fleet.replace_instance(node.instance_id)
        return True, {"autoscaling_group": config.autoscaling_group_name}
    except (RemediationError, ClientError, BotoCoreError) as exc:
        log.error(
            "remediation failed",
            slot=node.slot,
            instance_id=node.instance_id,
            decision=node.action.value,
            error=type(exc).__name__,
            detail=str(exc),
        )
        return False, {"remediation_error": str(exc)}


def run_check(
    config: HealthConfig, stores: Stores, observe: Observer, log: JsonLogger, now: float
) -> dict[str, Any]:
    """Check every registered node once; act within the quorum limits; return a summary."""
    items = stores.registry.items()
    by_slot = {item.slot: item for item in items}
    nodes = endpoints(items, config.default_admin_rpc_port)
    observations = observe(nodes)
    previous: dict[int, NodeState | None] = {item.slot: item.health for item in items}
    thresholds = config.thresholds.resolve(len(items))
    decision = decide(observations, previous, len(items), thresholds, now)
    obs_by_slot = {obs.slot: obs for obs in observations}

    executed: dict[Action, int] = {}
    metrics: list[Metric] = []
    results: list[dict[str, Any]] = []
    for node in decision.nodes:
        item = by_slot[node.slot]
        action = node.action
        outcome: dict[str, Any] = {}
        state = node.state
        try:
            revision = stores.registry.save_health(
                node.slot, node.instance_id, state, item.health_revision
            )
        except (ClientError, BotoCoreError) as exc:
            # Contained: this node is checked again next run; the others go on now.
            log.error(
                "node state not saved; node skipped this run",
                slot=node.slot,
                instance_id=node.instance_id,
                error=type(exc).__name__,
            )
            executed[Action.SKIPPED_CONCURRENT] = executed.get(Action.SKIPPED_CONCURRENT, 0) + 1
            results.append({"slot": node.slot, "decision": "skipped_aws_error"})
            continue
        if revision is None:
            log.warning(
                "state changed concurrently; node skipped this run",
                slot=node.slot,
                instance_id=node.instance_id,
                decision=action.value,
            )
            action = Action.SKIPPED_CONCURRENT
            outcome["skipped"] = "concurrent update or slot re-claimed"
        elif action in REMEDIATIONS:
            done, outcome = _act(config, stores, log, node)
            if not done:
                try:
                    stores.registry.save_health(
                        node.slot, node.instance_id, node.state_if_action_fails, revision
                    )
                except (ClientError, BotoCoreError) as exc:
                    log.error(
                        "failed remediation not recorded",
                        slot=node.slot,
                        error=type(exc).__name__,
                    )
                action = Action.REMEDIATION_FAILED
        executed[action] = executed.get(action, 0) + 1
        level = log.warning if node.reasons or action is not Action.NONE else log.info
        level(
            "node decision",
            slot=node.slot,
            instance_id=node.instance_id,
            decision=action.value,
            healthy=node.healthy,
            reasons=[r.value for r in node.reasons],
            evidence={**node.evidence, **outcome},
        )
        metrics.extend(_node_metrics(config, obs_by_slot[node.slot], node))
        results.append(
            {
                "slot": node.slot,
                "decision": action.value,
                "healthy": node.healthy,
                "reasons": [r.value for r in node.reasons],
                **outcome,
            }
        )

    net = decision.network
    if net.stalled:
        log.error("network stalled: no remediation this run", **net.evidence)
    else:
        log.info("network checked", **net.evidence)
    metrics.extend(_network_metrics(config, decision, executed))
    stores.metrics.publish(metrics, now)
    return {
        "network_head": net.network_head,
        "network_stalled": net.stalled,
        "validator_count": net.validator_count,
        "healthy_nodes": net.healthy_nodes,
        "in_remediation": net.in_remediation,
        "nodes": results,
    }
