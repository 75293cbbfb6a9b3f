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

Time budget (issue 12): every AWS call is checked against the run's :class:`Budget` (set by the
handler from the Lambda context), which keeps the metrics publication in reserve. The RPC
observation's worst case is required before observing; a remediating node needs its whole
sequence (save, act, save the failure) before it starts, so a node is never saved as remediated
without its remediation being attempted. When the budget cannot pay for the next node the run
stops: the remaining nodes are *deferred* (their state unchanged, checked again by the next
scheduled run), the metrics are still published, and the summary says how many were deferred.
An out-of-time error inside a call is contained like an AWS error on that node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from besu_stack.lambda_kernel.aws import Budget, OutOfTimeError
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
from .rpc_token import SIGN_CALLS
from .store import (
    CHECKER_CALL_SECONDS,
    METRICS_PER_CALL,
    STATUS_IN_USE,
    Metric,
    RegistryItem,
    Stores,
)

Observer = Callable[[Sequence[NodeEndpoint]], list[Observation]]

NODE_METRICS = ("BlockHeight", "BlocksBehind", "PeerCount", "Healthy", "Reachable")

_CALL_ERRORS = (ClientError, BotoCoreError, OutOfTimeError)
"""What one node's AWS calls may raise; contained to that node."""

SCAN_CALLS = 1
"""The registry scan: one page (a registry holds at most ~100 small items, under 1 MB)."""
REMEDIATION_CALLS = {Action.RESTART_TASK: 5, Action.REPLACE_INSTANCE: 2}
"""AWS calls of each remediation (``store.Fleet``; measured against moto in
``tests/lambdas/test_health_time_budget.py``): a restart lists and describes the container
instances, lists and describes the tasks and stops the Besu task; a replacement describes the
instance's group and sets its health."""
RPC_STEPS_PER_NODE = 4
"""RPC timeouts one node's observation can take (``rpc.BesuRpcClient._batch``): the receive
loop ends by ``2 x timeout`` after the start or after connect (socket connect, WebSocket handshake)
and send, each bounded by the timeout, whichever is later, plus the receive under way (one
timeout) and the close (at most one timeout). Not bounded by the socket timeout, and so not
counted: a DNS lookup of the node's name and a handshake answer trickled byte by byte."""
DEFERRED_OUT_OF_TIME = "deferred_out_of_time"
"""A node's decision in the summary when the run had no time left for it."""
_NODE_METRICS_MAX = 6
_NETWORK_METRICS_MAX = 10 + len(Action)


def observation_seconds(config: HealthConfig, node_count: int) -> float:
    """The worst case of ``rpc.observe_all``: the token, then waves of ``check_concurrency``.

    The token is one ``kms:Sign``; each wave is :data:`RPC_STEPS_PER_NODE` RPC timeouts.
    """
    if node_count == 0:
        return 0.0
    waves = math.ceil(node_count / max(1, config.check_concurrency))
    return (
        SIGN_CALLS * CHECKER_CALL_SECONDS + waves * RPC_STEPS_PER_NODE * config.rpc_timeout_seconds
    )


def node_calls(action: Action) -> int:
    """AWS calls one node's decision needs.

    Its state save, and for a remediation the action and the save of the failure state.
    """
    if action in REMEDIATION_CALLS:
        return 1 + REMEDIATION_CALLS[action] + 1
    return 1


def metrics_reserve_seconds(node_count: int) -> float:
    """What publishing the metrics of ``node_count`` nodes can cost (kept in reserve)."""
    data = node_count * _NODE_METRICS_MAX + _NETWORK_METRICS_MAX
    return math.ceil(data / METRICS_PER_CALL) * CHECKER_CALL_SECONDS


def run_worst_case_seconds(config: HealthConfig, node_count: int) -> float:
    """What a run must be able to pay to act on at least one node.

    The scan, the observation, one whole remediation (the longest) and the metrics.
    """
    return (
        SCAN_CALLS * CHECKER_CALL_SECONDS
        + observation_seconds(config, node_count)
        + max(node_calls(a) for a in REMEDIATION_CALLS) * CHECKER_CALL_SECONDS
        + metrics_reserve_seconds(node_count)
    )


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
    config: HealthConfig, decision: CheckDecision, executed: dict[Action, int], deferred: int
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
        Metric("NodesDeferred", deferred, dims),
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
    except (RemediationError, *_CALL_ERRORS) as exc:
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
    config: HealthConfig,
    stores: Stores,
    observe: Observer,
    log: JsonLogger,
    now: float,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Check every registered node once; act within the quorum limits; return a summary.

    ``budget`` (default: unlimited) is what remains of the invocation; its reserve is raised to
    pay for the metrics. Nodes the budget cannot pay for are deferred to the next run.
    """
    budget = budget or Budget.unlimited()
    guard = getattr(stores, "guard", None)
    if guard is not None:
        guard.budget = budget
    try:
        return _run(config, stores, observe, log, now, budget)
    finally:
        if guard is not None:
            guard.budget = None


def _publish(stores: Stores, metrics: list[Metric], now: float) -> None:
    guard = getattr(stores, "guard", None)
    if guard is not None:
        guard.budget = None  # the reserve pays for the metrics
    stores.metrics.publish(metrics, now)


def _run(
    config: HealthConfig,
    stores: Stores,
    observe: Observer,
    log: JsonLogger,
    now: float,
    budget: Budget,
) -> dict[str, Any]:
    items = stores.registry.items()
    by_slot = {item.slot: item for item in items}
    nodes = endpoints(items, config.default_admin_rpc_port)
    budget.reserve_seconds = max(budget.reserve_seconds, metrics_reserve_seconds(len(items)))
    try:
        budget.require(observation_seconds(config, len(nodes)), "observing the nodes")
    except OutOfTimeError as exc:
        log.error(
            "out of time before observing: every node deferred to the next run",
            nodes_deferred=len(nodes),
            detail=str(exc),
        )
        dims = {"Network": config.network_name}
        _publish(stores, [Metric("NodesDeferred", len(nodes), dims)], now)
        return {"nodes_deferred": len(nodes), "nodes": []}
    observations = observe(nodes)
    previous: dict[int, NodeState | None] = {item.slot: item.health for item in items}
    thresholds = config.thresholds.resolve(len(items))
    decision = decide(observations, previous, len(items), thresholds, now)
    obs_by_slot = {obs.slot: obs for obs in observations}

    executed: dict[Action, int] = {}
    metrics: list[Metric] = []
    results: list[dict[str, Any]] = []
    deferred: list[NodeDecision] = []
    # Remediations first (stable sort): when time runs short a repair the quorum rules allowed
    # is not crowded out by routine saves, which the next run makes up for.
    ordered = sorted(decision.nodes, key=lambda n: n.action not in REMEDIATIONS)
    for index, node in enumerate(ordered):
        try:
            budget.require(
                node_calls(node.action) * CHECKER_CALL_SECONDS, f"slot {node.slot} {node.action}"
            )
        except OutOfTimeError as exc:
            deferred = ordered[index:]
            log.warning(
                "out of time: nodes deferred to the next run, their state unchanged",
                nodes_deferred=len(deferred),
                slots=[d.slot for d in deferred],
                detail=str(exc),
            )
            break
        item = by_slot[node.slot]
        action = node.action
        outcome: dict[str, Any] = {}
        state = node.state
        try:
            revision = stores.registry.save_health(
                node.slot, node.instance_id, state, item.health_revision
            )
        except _CALL_ERRORS as exc:
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
                except _CALL_ERRORS as exc:
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
    for node in deferred:
        # What was observed is still published; the decision waits for the next run.
        metrics.extend(_node_metrics(config, obs_by_slot[node.slot], node))
        results.append({"slot": node.slot, "decision": DEFERRED_OUT_OF_TIME})
    results.sort(key=lambda r: int(r["slot"]))

    net = decision.network
    if net.stalled:
        log.error("network stalled: no remediation this run", **net.evidence)
    else:
        log.info("network checked", **net.evidence)
    metrics.extend(_network_metrics(config, decision, executed, len(deferred)))
    _publish(stores, metrics, now)
    return {
        "network_head": net.network_head,
        "network_stalled": net.stalled,
        "validator_count": net.validator_count,
        "healthy_nodes": net.healthy_nodes,
        "in_remediation": net.in_remediation,
        "nodes_deferred": len(deferred),
        "nodes": results,
    }
