"""The health checker's decisions: a pure function of observations, previous state and time.

:func:`decide` takes what one run observed on every registered node, the state each node's
previous runs left in the registry, the number of validator slots and the thresholds, and returns
what to do with every node and the state to persist. It does no I/O and reads no clock, so every
rule is table-tested (``tests/unit/test_health_decisions.py``).

Rules (a node *fails a check* when any applies):

``unreachable``
    JSON-RPC did not answer within the timeout (or answered with an error).
``head_not_advancing``
    The node's head has not changed for ``stall_window_seconds`` while the network head has.
``behind_network_head``
    The node is more than ``max_blocks_behind`` blocks behind the highest head observed.
``too_few_peers``
    The node has fewer than ``min_peers`` peers.
``not_proposing``
    A validator whose last proposed block is more than ``max_blocks_without_proposal`` blocks
    behind the network head while other validators have proposed within that distance.

Remediation (per node, a small state machine persisted in :class:`NodeState`):

* ``failures_before_action`` (T) consecutive failing checks make a node unhealthy; one passing
  check resets the count, so a flapping node is never acted on.
* A healthy-stage (``ok``) node that becomes unhealthy gets its ECS task restarted (``restarted``).
* A restarted node that fails T more checks (counted from the restart, after the start-up grace)
  has its instance marked unhealthy so Auto Scaling replaces it (``replaced``).
* A node in remediation returns to ``ok`` after T consecutive passing checks.
* A new instance in a slot whose previous instance was in remediation starts in ``recovering``:
  it still counts as in remediation until it passes T checks.
* A remediation that cannot happen escalates: when a restart call fails (the host is no ECS
  container instance, no task runs there, or AWS refuses), the next eligible run replaces the
  instance instead; a replacement that fails is retried, and after
  ``MAX_FAILED_REMEDIATIONS`` failed calls the checker gives up on the node (``given_up``: an
  alarm's business, metric ``RemediationsGivenUp``) until it passes T checks or a new instance
  takes the slot. A given-up node no longer holds a share of the budget, so another node can
  be repaired (a failed bootstrap must not halt every repair).
* At most f = floor((n - 1) / 3) nodes may be unavailable when the checker acts on one more:
  slots without a running node, nodes in remediation, nodes still booting (in their start-up
  grace and not passing) and nodes failing below the threshold all count, because each is a
  validator the network is not getting votes from right now.
* No action within ``cooldown_seconds`` of the node's previous action.
* No action at all while the network head has not advanced for ``stall_window_seconds`` (or no
  node answers): a network-wide stall is not a node fault, and replacing nodes cannot fix it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from besu_stack.besu.bft import max_faulty

Stage = Literal["ok", "restarted", "replaced", "recovering", "given_up"]
STAGES: tuple[Stage, ...] = ("ok", "restarted", "replaced", "recovering", "given_up")
MAX_FAILED_REMEDIATIONS = 3
"""Failed remediation calls on one node before the checker gives up on it."""


class Reason(enum.StrEnum):
    """Why a node failed a check."""

    UNREACHABLE = "unreachable"
    HEAD_NOT_ADVANCING = "head_not_advancing"
    BEHIND = "behind_network_head"
    TOO_FEW_PEERS = "too_few_peers"
    NOT_PROPOSING = "not_proposing"


class Action(enum.StrEnum):
    """What the checker does with a node in one run."""

    NONE = "none"
    """Passing, not in remediation."""
    OBSERVE = "observe"
    """Failing, but fewer than T consecutive times."""
    GRACE = "grace"
    """Failing during the start-up grace of a new or restarted node: not counted."""
    WAIT = "wait"
    """In remediation; waiting for the node to recover or to fail T more checks."""
    RECOVERED = "recovered"
    """Was in remediation, passed T consecutive checks: back to ``ok``."""
    RESTART_TASK = "restart_task"
    REPLACE_INSTANCE = "replace_instance"
    DEFERRED_QUORUM = "deferred_quorum"
    """Would act, but f nodes are already in remediation (or missing)."""
    DEFERRED_COOLDOWN = "deferred_cooldown"
    """Would act, but the node's previous action is more recent than the cooldown."""
    SUPPRESSED_STALL = "suppressed_network_stalled"
    """Would act, but the whole network has stalled: no remediation, an alarm instead."""
    SUPPRESSED_DISABLED = "suppressed_remediation_disabled"
    """Would act, but remediation is turned off (observe-only)."""
    REMEDIATION_FAILED = "remediation_failed"
    """Set by the run, not by :func:`decide`: the restart or replacement call failed."""
    GIVEN_UP = "given_up"
    """Failing, but remediation failed ``MAX_FAILED_REMEDIATIONS`` times: no more attempts."""
    SKIPPED_CONCURRENT = "skipped_concurrent_update"
    """Set by the run: another run updated the node's state first, or the slot changed owner."""


REMEDIATIONS = frozenset({Action.RESTART_TASK, Action.REPLACE_INSTANCE})


@dataclass(frozen=True)
class Thresholds:
    """The rule thresholds of one run (resolved for the network's validator count)."""

    max_blocks_behind: int
    stall_window_seconds: float
    min_peers: int
    max_blocks_without_proposal: int
    failures_before_action: int
    cooldown_seconds: float
    startup_grace_seconds: float
    remediation_enabled: bool = True


@dataclass(frozen=True)
class Observation:
    """What one run read from one node over JSON-RPC."""

    slot: int
    instance_id: str
    reachable: bool
    head: int | None = None
    head_timestamp: int | None = None
    peers: int | None = None
    syncing: bool | None = None
    address: str | None = None
    """The validator address of the slot (lower case), or ``None`` for a non-validator."""
    last_proposed: Mapping[str, int | None] = field(default_factory=dict)
    """From ``<protocol>_getSignerMetrics``: each validator's last proposed block in the
    window the node reported (``None`` when it proposed none)."""
    error: str | None = None


@dataclass(frozen=True)
class NodeState:
    """What the checker remembers about one slot's node between runs."""

    instance_id: str
    first_seen: float
    last_head: int | None = None
    head_changed_at: float | None = None
    failures: int = 0
    passes: int = 0
    stage: Stage = "ok"
    stage_since: float | None = None
    last_action_at: float | None = None
    failed_remediations: int = 0
    """Consecutive remediation calls that failed on this instance."""


@dataclass(frozen=True)
class NodeDecision:
    """The outcome for one node: action, reasons, evidence and the state to persist."""

    slot: int
    instance_id: str
    action: Action
    reasons: tuple[Reason, ...]
    healthy: bool
    state: NodeState
    """The state to persist when the action (if any) succeeds."""
    state_if_action_fails: NodeState
    """The state to persist when the remediation call fails: stage unchanged (or
    ``given_up`` after ``MAX_FAILED_REMEDIATIONS``), the failure counted so that the next
    eligible run escalates a restart to a replacement."""
    evidence: Mapping[str, object]


@dataclass(frozen=True)
class NetworkDecision:
    """The network-wide view of one run."""

    validator_count: int
    max_faulty: int
    network_head: int | None
    head_advanced_at: float | None
    stalled: bool
    reachable_nodes: int
    healthy_nodes: int
    validators_online: int
    in_remediation: int
    missing_slots: int
    evidence: Mapping[str, object]


@dataclass(frozen=True)
class CheckDecision:
    """Everything one run decided."""

    network: NetworkDecision
    nodes: tuple[NodeDecision, ...]


@dataclass
class _Working:
    obs: Observation
    base: NodeState
    state: NodeState
    reasons: tuple[Reason, ...]
    in_grace: bool
    evidence: dict[str, object]
    action: Action = Action.NONE
    candidate: Action | None = None


def _base_state(obs: Observation, previous: NodeState | None, now: float) -> NodeState:
    if previous is not None and previous.instance_id == obs.instance_id:
        return previous
    carried_stage: Stage = "ok" if previous is None or previous.stage == "ok" else "recovering"
    return NodeState(
        instance_id=obs.instance_id,
        first_seen=now,
        stage=carried_stage,
        stage_since=now if carried_stage != "ok" else None,
        last_action_at=previous.last_action_at if previous is not None else None,
    )


def _track_head(obs: Observation, state: NodeState, now: float) -> NodeState:
    if not obs.reachable or obs.head is None:
        return state
    if state.last_head is None or obs.head != state.last_head:
        return dataclasses.replace(state, last_head=obs.head, head_changed_at=now)
    return state


def _merge_proposals(observations: Sequence[Observation]) -> dict[str, int | None]:
    merged: dict[str, int | None] = {}
    for obs in observations:
        if not obs.reachable:
            continue
        for address, block in obs.last_proposed.items():
            key = address.lower()
            known = merged.get(key)
            if block is not None and (known is None or block > known):
                merged[key] = block
            else:
                merged.setdefault(key, known)
    return merged


def _in_grace(state: NodeState, thresholds: Thresholds, now: float) -> bool:
    started = state.first_seen
    if state.stage != "ok" and state.stage_since is not None:
        started = max(started, state.stage_since)
    return now - started < thresholds.startup_grace_seconds


def _reasons(
    obs: Observation,
    state: NodeState,
    *,
    network_head: int | None,
    network_stalled: bool,
    proposals: Mapping[str, int | None],
    thresholds: Thresholds,
    now: float,
    evidence: dict[str, object],
) -> tuple[Reason, ...]:
    if not obs.reachable or obs.head is None:
        evidence["error"] = obs.error or "no block number in the response"
        return (Reason.UNREACHABLE,)
    reasons: list[Reason] = []
    head = obs.head
    top = network_head if network_head is not None else head
    lag = top - head
    evidence.update(head=head, network_head=top, lag=lag, peers=obs.peers, syncing=obs.syncing)
    unchanged_for = now - state.head_changed_at if state.head_changed_at is not None else 0.0
    evidence["head_unchanged_seconds"] = round(unchanged_for, 3)
    if not network_stalled and lag > 0 and unchanged_for >= thresholds.stall_window_seconds:
        reasons.append(Reason.HEAD_NOT_ADVANCING)
    if lag > thresholds.max_blocks_behind:
        reasons.append(Reason.BEHIND)
    if obs.peers is not None and obs.peers < thresholds.min_peers:
        reasons.append(Reason.TOO_FEW_PEERS)
    if obs.address is not None and proposals:
        own = obs.address.lower()
        last = proposals.get(own)
        since = top - last if last is not None else top
        evidence["blocks_since_proposal"] = since
        window = thresholds.max_blocks_without_proposal
        others_proposing = any(
            block is not None and top - block <= window
            for address, block in proposals.items()
            if address != own
        )
        if since > window and others_proposing:
            reasons.append(Reason.NOT_PROPOSING)
    return tuple(reasons)


def _count(state: NodeState, failing: bool, in_grace: bool) -> NodeState:
    if not failing:
        return dataclasses.replace(state, failures=0, passes=state.passes + 1)
    if in_grace:
        return dataclasses.replace(state, passes=0)
    return dataclasses.replace(state, failures=state.failures + 1, passes=0)


def decide(
    observations: Sequence[Observation],
    previous: Mapping[int, NodeState | None],
    validator_count: int,
    thresholds: Thresholds,
    now: float,
) -> CheckDecision:
    """Decide, for every observed node, what to do and what state to persist.

    ``previous`` maps a slot to the state the last run persisted (``None`` or absent for none);
    ``validator_count`` is the number of validator slots (n), which sets f; ``now`` is the
    run's time in seconds since the epoch.
    """
    t = thresholds.failures_before_action
    work: list[_Working] = []
    for obs in sorted(observations, key=lambda o: o.slot):
        base = _base_state(obs, previous.get(obs.slot), now)
        work.append(
            _Working(obs, base, _track_head(obs, base, now), (), in_grace=False, evidence={})
        )

    reachable = [w for w in work if w.obs.reachable and w.obs.head is not None]
    network_head = max((w.obs.head for w in reachable if w.obs.head is not None), default=None)
    head_advanced_at: float | None = None
    if network_head is not None:
        head_advanced_at = min(
            (
                w.state.head_changed_at
                for w in work
                if w.state.last_head == network_head and w.state.head_changed_at is not None
            ),
            default=now,
        )
    stalled = network_head is None or (
        head_advanced_at is not None and now - head_advanced_at >= thresholds.stall_window_seconds
    )
    proposals = _merge_proposals([w.obs for w in work])

    for w in work:
        w.reasons = _reasons(
            w.obs,
            w.state,
            network_head=network_head,
            network_stalled=stalled,
            proposals=proposals,
            thresholds=thresholds,
            now=now,
            evidence=w.evidence,
        )
        failing = bool(w.reasons)
        w.in_grace = _in_grace(w.state, thresholds, now)
        w.state = _count(w.state, failing, w.in_grace)
        stage = w.state.stage
        if not failing:
            if stage == "ok":
                w.action = Action.NONE
            elif w.state.passes >= t:
                w.action = Action.RECOVERED
                w.state = dataclasses.replace(
                    w.state, stage="ok", stage_since=None, failed_remediations=0
                )
            else:
                w.action = Action.WAIT
        elif stage == "given_up":
            w.action = Action.GIVEN_UP
        elif w.in_grace:
            w.action = Action.GRACE
        elif w.state.failures < t:
            w.action = Action.OBSERVE if stage == "ok" else Action.WAIT
        elif stage in ("ok", "recovering") and w.state.failed_remediations == 0:
            w.candidate = Action.RESTART_TASK
        else:
            # Restarted without recovering, or a restart that could not happen: replace.
            w.candidate = Action.REPLACE_INSTANCE

    f = max_faulty(validator_count) if validator_count >= 1 else 0
    missing = max(0, validator_count - len(work))
    remediating = {id(w) for w in work if w.state.stage not in ("ok", "given_up")}
    in_remediation = len(remediating) + missing
    # Also unavailable right now, though not (yet) candidates: nodes booting (in their grace,
    # not passing) and nodes failing below the threshold, outside remediation.
    failing_below = sum(
        1
        for w in work
        if w.candidate is None
        and w.reasons
        and id(w) not in remediating
        and w.state.stage != "given_up"  # given up: its share of the budget is free again
    )
    # Nodes already in remediation first (they use no new budget), then the longest failing.
    candidates = sorted(
        (w for w in work if w.candidate is not None),
        key=lambda w: (w.state.stage == "ok", -w.state.failures, w.obs.slot),
    )
    for w in candidates:
        assert w.candidate is not None
        needs_budget = w.state.stage == "ok"
        last_action = w.state.last_action_at
        if stalled:
            w.action = Action.SUPPRESSED_STALL
        elif not thresholds.remediation_enabled:
            w.action = Action.SUPPRESSED_DISABLED
        elif last_action is not None and now - last_action < thresholds.cooldown_seconds:
            w.action = Action.DEFERRED_COOLDOWN
            w.evidence["cooldown_remaining_seconds"] = round(
                thresholds.cooldown_seconds - (now - last_action), 3
            )
        elif needs_budget and in_remediation + failing_below >= f:
            w.action = Action.DEFERRED_QUORUM
        else:
            w.action = w.candidate
            if needs_budget:
                in_remediation += 1

    decisions: list[NodeDecision] = []
    healthy_nodes = 0
    validators_online = 0
    for w in work:
        before_action = w.state
        failed = before_action.failed_remediations + 1
        if_fails = dataclasses.replace(
            before_action,
            failed_remediations=failed,
            stage="given_up" if failed >= MAX_FAILED_REMEDIATIONS else before_action.stage,
            stage_since=now if failed >= MAX_FAILED_REMEDIATIONS else before_action.stage_since,
        )
        if w.action in REMEDIATIONS:
            new_stage: Stage = "restarted" if w.action is Action.RESTART_TASK else "replaced"
            w.state = dataclasses.replace(
                w.state,
                stage=new_stage,
                stage_since=now,
                last_action_at=now,
                failures=0,
                passes=0,
            )
        healthy = before_action.failures < t
        healthy_nodes += healthy
        if w.obs.reachable and w.obs.address is not None:
            validators_online += 1
        w.evidence.update(
            failures=before_action.failures,
            passes=before_action.passes,
            stage=before_action.stage,
            in_grace=w.in_grace,
        )
        decisions.append(
            NodeDecision(
                slot=w.obs.slot,
                instance_id=w.obs.instance_id,
                action=w.action,
                reasons=w.reasons,
                healthy=healthy,
                state=w.state,
                state_if_action_fails=if_fails,
                evidence=dict(w.evidence),
            )
        )

    network = NetworkDecision(
        validator_count=validator_count,
        max_faulty=f,
        network_head=network_head,
        head_advanced_at=head_advanced_at,
        stalled=stalled,
        reachable_nodes=len(reachable),
        healthy_nodes=healthy_nodes,
        validators_online=validators_online,
        in_remediation=in_remediation,
        missing_slots=missing,
        evidence={
            "network_head": network_head,
            "head_unchanged_seconds": (
                round(now - head_advanced_at, 3) if head_advanced_at is not None else None
            ),
            "stall_window_seconds": thresholds.stall_window_seconds,
            "reachable_nodes": len(reachable),
            "observed_nodes": len(work),
            "validator_count": validator_count,
            "max_faulty": f,
            "in_remediation": in_remediation,
            "missing_slots": missing,
        },
    )
    return CheckDecision(network=network, nodes=tuple(decisions))
