"""The health checker's decision function, as a table of observation sequences → decisions.

Each case is a timeline per slot, one character per run (runs are 60 s apart):

``.`` healthy  ``D`` unreachable  ``S`` head stuck at the first run's head  ``B`` 50 blocks
behind  ``P`` one peer  ``Q`` validator not proposing  ``n`` healthy on a new instance

The network head advances 30 blocks per run unless the case freezes it. Expected decisions are
compared run by run for the slots a case names (``-`` is "none", see ``CODES``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from lambda_src.health.decisions import (
    Action,
    CheckDecision,
    NodeState,
    Observation,
    Reason,
    Thresholds,
    decide,
)
from lambda_src.health.rpc import BesuRpcClient, NodeEndpoint, endpoint_hosts, enode_host

BASE = Thresholds(
    max_blocks_behind=10,
    stall_window_seconds=120,
    min_peers=2,
    max_blocks_without_proposal=12,
    failures_before_action=3,
    cooldown_seconds=0,
    startup_grace_seconds=0,
)
INTERVAL = 60.0

CODES = {
    "-": Action.NONE,
    "o": Action.OBSERVE,
    "g": Action.GRACE,
    "w": Action.WAIT,
    "v": Action.RECOVERED,
    "R": Action.RESTART_TASK,
    "X": Action.REPLACE_INSTANCE,
    "q": Action.DEFERRED_QUORUM,
    "c": Action.DEFERRED_COOLDOWN,
    "s": Action.SUPPRESSED_STALL,
    "d": Action.SUPPRESSED_DISABLED,
    "G": Action.GIVEN_UP,
}


def address(slot: int) -> str:
    return f"0x{slot:040x}"


def observations(
    timelines: Mapping[int, str], run: int, frozen: bool, validators: int
) -> list[Observation]:
    top = 100 if frozen else 100 + 30 * run
    quiet = {slot for slot, timeline in timelines.items() if timeline[run] == "Q"}
    last = {address(s): 90 if s in quiet else max(0, top - 1 - s) for s in timelines}
    result: list[Observation] = []
    for slot, timeline in timelines.items():
        code = timeline[run]
        instance = f"i-{slot}-new" if code == "n" else f"i-{slot}"
        if code == "D":
            result.append(Observation(slot, instance, reachable=False, error="timed out"))
            continue
        head = {"S": 100, "B": top - 50}.get(code, top)
        peers = 1 if code == "P" else validators - 1
        result.append(
            Observation(
                slot,
                instance,
                reachable=True,
                head=head,
                head_timestamp=1_700_000_000 + head * 2,
                peers=peers,
                syncing=False,
                address=address(slot),
                last_proposed=last,
            )
        )
    return result


def simulate(
    timelines: Mapping[int, str],
    thresholds: Thresholds,
    *,
    validators: int | None = None,
    frozen: bool = False,
    initial: Mapping[int, NodeState] | None = None,
) -> list[CheckDecision]:
    n = validators if validators is not None else len(timelines)
    runs = len(next(iter(timelines.values())))
    states: dict[int, NodeState | None] = dict(initial or {})
    decisions: list[CheckDecision] = []
    for run in range(runs):
        decision = decide(
            observations(timelines, run, frozen, n), states, n, thresholds, run * INTERVAL
        )
        decisions.append(decision)
        states = {node.slot: node.state for node in decision.nodes}
    return decisions


def actions(decisions: list[CheckDecision], slot: int) -> str:
    by_action = {action: code for code, action in CODES.items()}
    return "".join(
        by_action[node.action] for d in decisions for node in d.nodes if node.slot == slot
    )


@dataclass(frozen=True)
class Case:
    timelines: dict[int, str]
    expected: dict[int, str]
    thresholds: Thresholds = BASE
    validators: int | None = None
    frozen: bool = False
    reasons: dict[int, Reason] = field(default_factory=dict)
    stalled_from: int | None = None


def healthy(n: int, runs: int) -> dict[int, str]:
    return {slot: "." * runs for slot in range(n)}


CASES = {
    "all healthy": Case(healthy(4, 5), {0: "-----", 3: "-----"}),
    "unreachable: restart after T, replace after T more": Case(
        {**healthy(4, 7), 0: "DDDDDDD"},
        {0: "ooRwwXw", 1: "-------"},
        reasons={0: Reason.UNREACHABLE},
    ),
    "head not advancing while the network advances": Case(
        {**healthy(4, 5), 0: "SSSSS"},
        {0: "--ooR"},
        thresholds=dataclasses.replace(BASE, max_blocks_behind=1000),
        reasons={0: Reason.HEAD_NOT_ADVANCING},
    ),
    "more than K blocks behind": Case(
        {**healthy(4, 4), 0: "BBBB"}, {0: "ooRw"}, reasons={0: Reason.BEHIND}
    ),
    "fewer than P peers": Case(
        {**healthy(4, 4), 0: "PPPP"}, {0: "ooRw"}, reasons={0: Reason.TOO_FEW_PEERS}
    ),
    "validator not proposing while others do": Case(
        {**healthy(4, 5), 0: "QQQQQ"}, {0: "-ooRw"}, reasons={0: Reason.NOT_PROPOSING}
    ),
    "flapping never reaches T": Case({**healthy(4, 8), 0: "DD.DD.DD"}, {0: "oo-oo-oo"}),
    "recovers after T passing checks": Case({**healthy(4, 8), 0: "DDD....."}, {0: "ooRwwv--"}),
    "f limit n=4: one remediation at a time": Case(
        {**healthy(4, 4), 0: "DDDD", 1: "DDDD"}, {0: "ooRw", 1: "ooqq"}
    ),
    "f limit n=7: two remediations at a time": Case(
        {**healthy(7, 3), 0: "DDD", 1: "DDD", 2: "DDD"}, {0: "ooR", 1: "ooR", 2: "ooq"}
    ),
    "f limit counts remediation from earlier runs": Case(
        {**healthy(4, 6), 1: "DDD...", 0: "...DDD"},
        {1: "ooRwwv", 0: "---ooR"},
    ),
    "a node failing below the threshold counts toward f": Case(
        {**healthy(4, 3), 1: "DDD", 0: "..D"},
        {1: "ooq", 0: "--o"},
    ),
    "f limit counts slots without a node": Case(
        {0: "DDD", 1: "...", 2: "..."}, {0: "ooq"}, validators=4
    ),
    "f = 0 below four validators": Case({**healthy(3, 3), 0: "DDD"}, {0: "ooq"}),
    "cooldown between actions on a node": Case(
        {**healthy(4, 14), 0: "D" * 14},
        {0: "ooRwwcccccccXw"},
        thresholds=dataclasses.replace(BASE, cooldown_seconds=600),
    ),
    "network-wide stall: no remediation": Case(
        {**healthy(4, 5), 0: "DDDDD"}, {0: "oosss", 1: "-----"}, frozen=True, stalled_from=2
    ),
    "no node reachable is a stall": Case(
        {slot: "DDD" for slot in range(4)}, {0: "oos", 3: "oos"}, stalled_from=0
    ),
    "start-up grace": Case(
        {**healthy(4, 6), 0: "DDDDDD"},
        {0: "gggooR"},
        thresholds=dataclasses.replace(BASE, startup_grace_seconds=150),
    ),
    "remediation disabled": Case(
        {**healthy(4, 3), 0: "DDD"},
        {0: "ood"},
        thresholds=dataclasses.replace(BASE, remediation_enabled=False),
    ),
    "replacement instance recovers before leaving remediation": Case(
        {**healthy(4, 9), 0: "DDDDDDnnn"}, {0: "ooRwwXwwv"}
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decisions(case: Case) -> None:
    decisions = simulate(
        case.timelines, case.thresholds, validators=case.validators, frozen=case.frozen
    )
    for slot, expected in case.expected.items():
        assert actions(decisions, slot) == expected, f"slot {slot}"
    for slot, reason in case.reasons.items():
        failing = [n for d in decisions for n in d.nodes if n.slot == slot and n.reasons]
        assert failing
        assert all(n.reasons == (reason,) for n in failing)
    stalled = [d.network.stalled for d in decisions]
    if case.stalled_from is None:
        assert not any(stalled)
    else:
        assert stalled == [run >= case.stalled_from for run in range(len(decisions))]


def test_remediation_state_and_evidence() -> None:
    decisions = simulate({**healthy(4, 3), 0: "DDD"}, BASE)
    node = decisions[-1].nodes[0]
    assert node.action is Action.RESTART_TASK
    assert not node.healthy
    assert node.state.stage == "restarted"
    assert node.state.last_action_at == 120.0
    assert node.state.failures == 0
    assert node.state_if_action_fails.stage == "ok"
    assert node.state_if_action_fails.failures == 3
    assert node.evidence["error"] == "timed out"
    assert decisions[-1].network.in_remediation == 1
    assert decisions[-1].network.max_faulty == 1


def test_replacement_instance_counts_as_in_remediation() -> None:
    decisions = simulate({**healthy(4, 7), 0: "DDDDDDn"}, BASE)
    last = decisions[-1]
    assert last.nodes[0].state.stage == "recovering"
    assert last.nodes[0].state.instance_id == "i-0-new"
    assert last.network.in_remediation == 1


def test_stalled_network_does_not_blame_stuck_heads() -> None:
    decisions = simulate(healthy(4, 5), BASE, frozen=True)
    assert decisions[-1].network.stalled
    assert all(not node.reasons for node in decisions[-1].nodes)
    assert decisions[-1].network.evidence["head_unchanged_seconds"] == 240.0


def test_lagging_node_catching_up_does_not_hide_a_stall() -> None:
    # The top of the chain is stuck while slot 0 syncs towards it: still a stall.
    states: dict[int, NodeState | None] = {}
    heads = [[50, 100, 100, 100], [80, 100, 100, 100], [99, 100, 100, 100]]
    decision = None
    for run, row in enumerate(heads):
        obs = [
            Observation(s, f"i-{s}", reachable=True, head=h, peers=3, syncing=s == 0)
            for s, h in enumerate(row)
        ]
        decision = decide(obs, states, 4, BASE, run * INTERVAL)
        states = {n.slot: n.state for n in decision.nodes}
    assert decision is not None
    assert decision.network.stalled


NODE_ID = "ab" * 64


@pytest.mark.parametrize(
    ("enode", "host"),
    [
        (
            f"enode://{NODE_ID}@validator-2.besu.besu.internal:30303",
            "validator-2.besu.besu.internal",
        ),
        (
            f"enode://{NODE_ID}@Validator-3.Besu.Internal:30303?discport=0",
            "validator-3.besu.internal",
        ),
        (f"enode://{NODE_ID}@10.0.1.7:30303", "10.0.1.7"),
        (f"enode://{NODE_ID}@[fd00::7]:30303", "fd00::7"),
        ("http://validator-2.besu.besu.internal:30303", None),  # not an enode URL
        ("enode://validator-2.besu.besu.internal:30303", None),  # no node id
        (f"enode://{NODE_ID}@[fd00::7:30303", None),  # malformed
        ("", None),
        (None, None),
        (7, None),
    ],
)
def test_enode_host(enode: object, host: str | None) -> None:
    assert enode_host(enode) == host


ENODE = f"enode://{NODE_ID}@validator-2.besu.besu.internal:30303"
NAME = "validator-2.besu.besu.internal"


@pytest.mark.parametrize(
    ("private_ip", "dns_name", "enode", "expected"),
    [
        ("10.0.1.7", "node.example", ENODE, ("10.0.1.7", "node.example")),
        ("10.0.1.7", None, ENODE, ("10.0.1.7", NAME)),
        (None, "node.example", ENODE, ("node.example", "node.example")),
        (None, None, ENODE, (NAME, NAME)),  # lifecycle items: enode only
        ("", "  ", ENODE, (NAME, NAME)),  # blank values are absent
        ("10.0.1.7", None, None, ("10.0.1.7", None)),
        (None, None, "not-an-enode", (None, None)),
        (None, None, None, (None, None)),
    ],
)
def test_endpoint_host_fallback(
    private_ip: object, dns_name: object, enode: object, expected: tuple[str | None, str | None]
) -> None:
    assert endpoint_hosts(private_ip, dns_name, enode) == expected


def test_endpoint_url_and_host_header() -> None:
    by_ip = NodeEndpoint(2, "i-2", "10.0.1.7", 8547, None, server_name=NAME)
    assert by_ip.url == "ws://10.0.1.7:8547/"
    assert by_ip.host_header == f"{NAME}:8547"
    v6 = NodeEndpoint(2, "i-2", "fd00::7", 8547, None)
    assert v6.url == "ws://[fd00::7]:8547/"
    assert v6.host_header == "[fd00::7]:8547"


class ScriptedConnection:
    """A stand-in for a websocket-client connection that replies from a script."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.sent: list[str] = []
        self.closed = False

    def send(self, payload: str) -> None:
        self.sent.append(payload)

    def recv(self) -> str:
        return self.replies.pop(0)

    def close(self, timeout: float = 3) -> None:
        self.closed = True


def scripted_client(
    connection: ScriptedConnection, calls: list[dict[str, object]]
) -> BesuRpcClient:
    def connect(url: str, **options: object) -> ScriptedConnection:
        calls.append({"url": url, **options})
        return connection

    return BesuRpcClient("qbft_getSignerMetrics", 0.5, connect=connect)


def batch_reply(ids: list[int]) -> str:
    results: dict[int, object] = {
        0: {"number": "0x64", "timestamp": "0x6553f100"},
        1: "0x3",
        2: False,
        3: [{"address": "0xAA", "proposedBlockCount": "0x2", "lastProposedBlockNumber": "0x63"}],
    }
    return json.dumps([{"jsonrpc": "2.0", "id": i, "result": results[i]} for i in ids])


def test_rpc_client_sends_one_batch_and_matches_ids() -> None:
    notification = json.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": {}})
    connection = ScriptedConnection([notification, batch_reply([3, 1, 0, 2])])
    calls: list[dict[str, object]] = []
    client = scripted_client(connection, calls)
    node = NodeEndpoint(2, "i-2", "10.0.1.7", 8547, "0xaa", server_name=NAME)

    obs = client.observe(node)

    assert calls == [
        {
            "url": "ws://10.0.1.7:8547/",
            "timeout": 0.5,
            "host": f"{NAME}:8547",
            "suppress_origin": True,
        }
    ]
    (sent,) = connection.sent
    assert [call["method"] for call in json.loads(sent)] == [
        "eth_getBlockByNumber",
        "net_peerCount",
        "eth_syncing",
        "qbft_getSignerMetrics",
    ]
    assert connection.closed
    assert obs.reachable and obs.head == 100 and obs.peers == 3 and obs.syncing is False
    assert obs.last_proposed == {"0xaa": 99}


def test_rpc_client_error_object_and_closed_connection_are_unreachable() -> None:
    error = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "bad"}})
    node = NodeEndpoint(2, "i-2", "10.0.1.7", 8547, None)
    for replies, expected in [([error], "JSON-RPC error 'bad'"), ([""], "closed without")]:
        connection = ScriptedConnection(replies)
        obs = scripted_client(connection, []).observe(node)
        assert not obs.reachable
        assert obs.error is not None and expected in obs.error
        assert connection.closed


def _run_with_failed_remediations(
    timelines: Mapping[int, str], thresholds: Thresholds, failing_slots: set[int]
) -> list[CheckDecision]:
    """Like :func:`simulate`, but every remediation call on ``failing_slots`` fails (the run
    persists ``state_if_action_fails``, as ``health.logic.run_check`` does)."""
    n = len(timelines)
    runs = len(next(iter(timelines.values())))
    states: dict[int, NodeState | None] = {}
    decisions: list[CheckDecision] = []
    for run in range(runs):
        decision = decide(
            observations(timelines, run, False, n), states, n, thresholds, run * INTERVAL
        )
        decisions.append(decision)
        states = {
            node.slot: (
                node.state_if_action_fails
                if node.slot in failing_slots
                and node.action in (Action.RESTART_TASK, Action.REPLACE_INSTANCE)
                else node.state
            )
            for node in decision.nodes
        }
    return decisions


def test_a_restart_that_cannot_happen_escalates_to_a_replacement() -> None:
    """Finding 2 of issue 12: a failed restart never escalated and blocked every repair."""
    decisions = _run_with_failed_remediations({**healthy(4, 5), 0: "DDDDD"}, BASE, {0})
    assert actions(decisions, 0) == "ooRXX"


def test_a_given_up_node_frees_its_budget_for_another() -> None:
    """After MAX_FAILED_REMEDIATIONS failed calls the node is given up and out of remediation;
    a second dead node is then repaired instead of being deferred forever."""
    from lambda_src.health.decisions import MAX_FAILED_REMEDIATIONS

    runs = 3 + MAX_FAILED_REMEDIATIONS + 3
    timelines = {**healthy(4, runs), 0: "D" * runs, 1: "." * (runs - 3) + "DDD"}
    decisions = _run_with_failed_remediations(timelines, BASE, {0})
    zero = actions(decisions, 0)
    assert zero.startswith("ooRXX")
    assert decisions[-1].nodes[0].state.stage == "given_up"
    assert decisions[-1].nodes[1].action is Action.RESTART_TASK


def test_a_booting_failing_node_counts_toward_what_the_network_can_lose() -> None:
    grace = dataclasses.replace(BASE, startup_grace_seconds=150)
    # Node 1 is seen late (a new instance in its grace) and fails; node 0 reaches T.
    states: dict[int, NodeState | None] = {}
    decision = None
    for run in range(6):
        obs = observations({**healthy(4, 6), 0: "...DDD"}, run, False, 4)
        now = run * INTERVAL
        if run == 5:
            obs = [o if o.slot != 1 else Observation(1, "i-1-new", reachable=False) for o in obs]
        decision = decide(obs, states, 4, grace, now)
        states = {node.slot: node.state for node in decision.nodes}
    assert decision is not None
    by_slot = {node.slot: node for node in decision.nodes}
    assert by_slot[1].action is Action.GRACE
    assert by_slot[0].action is Action.DEFERRED_QUORUM
