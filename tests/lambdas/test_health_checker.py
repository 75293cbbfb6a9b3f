"""The health checker end to end: fake Besu nodes on 127.0.0.1, AWS on the moto server."""

from __future__ import annotations

import importlib
import io
import json
import sys
from types import ModuleType
from typing import Any

import pytest

from besu_stack.lambda_log import JsonLogger
from lambda_src.health.config import HealthConfig
from lambda_src.health.errors import ConfigError
from lambda_src.health.logic import run_check
from lambda_src.health.rpc import BesuRpcClient
from lambda_src.health.store import Stores

from .health_fixtures import (
    FakeNetwork,
    HealthAws,
    besu_network,
    dns_name,
    enode,
    health_env,
    make_health_aws,
    make_rpc_token_key,
)

pytestmark = pytest.mark.moto
__all__ = ["besu_network"]  # fixture, used by name


class Checker:
    def __init__(self, env: dict[str, str]) -> None:
        self.config = HealthConfig.from_env(env)
        self.stores = Stores.from_boto3(
            self.config.registry_table_name,
            self.config.ecs_cluster_name,
            self.config.ecs_service_name,
            self.config.autoscaling_group_name,
            self.config.metric_namespace,
        )
        self.rpc = BesuRpcClient(
            self.config.signer_metrics_method,
            self.config.rpc_timeout_seconds,
            self.config.check_concurrency,
        )
        self.stream = io.StringIO()
        self.now = 1_700_000_000.0

    def run(self) -> dict[str, Any]:
        log = JsonLogger("health", stream=self.stream)
        result = run_check(self.config, self.stores, self.rpc.observe_all, log, self.now)
        self.now += 60
        return result

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


def decisions(result: dict[str, Any]) -> dict[int, str]:
    return {node["slot"]: node["decision"] for node in result["nodes"]}


def reasons(result: dict[str, Any]) -> dict[int, list[str]]:
    return {node["slot"]: node["reasons"] for node in result["nodes"]}


@pytest.fixture
def fleet(aws: str, besu_network: FakeNetwork) -> tuple[HealthAws, FakeNetwork]:
    """Eight nodes: two healthy, then one of each fault (n = 8, f = 2)."""
    net = besu_network
    net.add()  # 0 healthy
    net.add()  # 1 healthy
    net.add(advancing=False)  # 2 stalled head
    net.add(peers=0)  # 3 no peers
    net.add(lag=50)  # 4 behind
    net.add(proposes=False)  # 5 not signing
    net.add()  # 6 unreachable: registered on a closed port below
    net.add(delay=1.0)  # 7 slow: answers after the timeout
    net.nodes[4].head = net.head - 50
    side = make_health_aws(len(net.nodes))
    for node in net.nodes:
        port = net.closed_port() if node.slot == 6 else node.port
        side.register(node.slot, port)
    return side, net


def test_checker_observes_decides_and_remediates(fleet: tuple[HealthAws, FakeNetwork]) -> None:
    side, net = fleet
    checker = Checker(health_env())

    first = checker.run()
    assert first["network_head"] == 100
    assert reasons(first) == {
        0: [],
        1: [],
        2: [],
        3: ["too_few_peers"],
        4: ["behind_network_head"],
        5: ["not_proposing"],
        6: ["unreachable"],
        7: ["unreachable"],
    }
    assert set(decisions(first).values()) == {"none", "observe"}

    net.advance(30)
    second = checker.run()
    # T = 2 reached by five nodes; f = 2, but node 2 fails below the threshold and counts
    # toward what the network can lose: one restart, the longest failing first.
    assert decisions(second) == {
        0: "none",
        1: "none",
        2: "observe",  # 30 blocks behind now; its stuck head counts after the stall window
        3: "restart_task",
        4: "deferred_quorum",
        5: "deferred_quorum",
        6: "deferred_quorum",
        7: "deferred_quorum",
    }
    assert [side.task_status(slot) for slot in range(8)] == ["RUNNING"] * 3 + ["STOPPED"] + [
        "RUNNING"
    ] * 4
    assert side.health(3)["stage"] == "restarted"
    assert side.health(5)["stage"] == "ok"

    net.advance(30)
    third = checker.run()
    assert reasons(third)[2] == ["head_not_advancing", "behind_network_head"]
    assert decisions(third)[3] == "wait"
    assert decisions(third)[4] == "restart_task"  # every failing node is a candidate now
    assert decisions(third)[2] == "deferred_quorum"

    net.advance(30)
    fourth = checker.run()
    # Still failing T checks after the restart: the instance is replaced.
    assert decisions(fourth)[3] == "replace_instance"
    assert decisions(fourth)[2] == "deferred_quorum"
    assert side.instance_health(3).lower() == "unhealthy"
    assert side.instance_health(0).lower() == "healthy"

    logs = checker.logs()
    restart = next(r for r in logs if r.get("decision") == "restart_task" and r["slot"] == 3)
    assert restart["reasons"] == ["too_few_peers"]
    assert restart["evidence"]["peers"] == 0
    assert restart["evidence"]["stopped_tasks"] == [side.task_by_instance[side.instance_ids[3]]]
    slow = next(r for r in logs if r.get("slot") == 7)
    assert "Timeout" in slow["evidence"]["error"] or "timed out" in slow["evidence"]["error"]

    listed = side.cloudwatch.list_metrics(Namespace="BesuStack")["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {
        "BlockHeight",
        "BlocksBehind",
        "PeerCount",
        "Healthy",
        "Reachable",
        "BlocksSinceProposal",
        "NetworkBlockHeight",
        "HealthyNodes",
        "ValidatorsOnline",
        "NodesInRemediation",
        "Remediations",
        "NetworkStalled",
        "Decisions",
    } <= names
    slot_dims = [
        {d["Name"]: d["Value"] for d in m["Dimensions"]}
        for m in listed
        if m["MetricName"] == "Healthy"
    ]
    assert {"Network": "testnet", "Slot": "3"} in slot_dims


def test_network_stall_raises_no_remediation(aws: str, besu_network: FakeNetwork) -> None:
    net = besu_network
    for _ in range(4):
        net.add()
    side = make_health_aws(4)
    for node in net.nodes:
        side.register(node.slot, net.closed_port() if node.slot == 0 else node.port)
    checker = Checker(health_env(FAILURES_BEFORE_ACTION="3"))
    results = [checker.run() for _ in range(4)]  # the chain never advances

    assert [r["network_stalled"] for r in results] == [False, False, True, True]
    assert [decisions(r)[0] for r in results] == [
        "observe",
        "observe",
        "suppressed_network_stalled",
        "suppressed_network_stalled",
    ]
    assert all(side.task_status(slot) == "RUNNING" for slot in range(4))
    assert any(r["message"].startswith("network stalled") for r in checker.logs())


def test_slots_without_a_node_use_the_fault_budget(aws: str, besu_network: FakeNetwork) -> None:
    net = besu_network
    for _ in range(3):
        net.add()
    side = make_health_aws(4)
    side.register(0, net.closed_port())
    side.register(1, net.nodes[1].port)
    side.register(2, net.nodes[2].port)
    side.register(3, 0, status="available")  # being replaced: no node
    checker = Checker(health_env())
    for _ in range(2):
        net.advance(30)
        result = checker.run()
    assert decisions(result)[0] == "deferred_quorum"
    assert result["validator_count"] == 4
    assert side.task_status(0) == "RUNNING"


def test_endpoint_fallback_and_host_header(aws: str, besu_network: FakeNetwork) -> None:
    """private_ip → dns_name → enode host; the DNS name is the Host header Besu admits."""
    net = besu_network
    for _ in range(6):
        net.add()
    side = make_health_aws(6)
    locations = [
        {"private_ip": "127.0.0.1", "enode": enode(0)},  # connect by IP, Host = enode's name
        {"enode": enode(1, host="localhost")},  # lifecycle item: enode only
        {"dns_name": "localhost", "enode": enode(2)},  # dns_name before the enode's host
        {"private_ip": "127.0.0.1"},  # no name known: Host = the IP (allowed here)
        {"private_ip": "127.0.0.1", "dns_name": "elsewhere.example"},  # not allow-listed
        {},  # nowhere to connect
    ]
    for node, location in zip(net.nodes, locations, strict=True):
        side.register(node.slot, node.port, location=location)
    checker = Checker(health_env())

    result = checker.run()

    reachable = {n["slot"]: n["reasons"] != ["unreachable"] for n in result["nodes"]}
    assert reachable == {0: True, 1: True, 2: True, 3: True, 4: False, 5: False}
    port = {node.slot: node.port for node in net.nodes}
    assert net.nodes[0].hosts_seen == [f"{dns_name(0)}:{port[0]}"]
    assert net.nodes[1].hosts_seen == [f"localhost:{port[1]}"]
    assert net.nodes[2].hosts_seen == [f"localhost:{port[2]}"]
    assert net.nodes[3].hosts_seen == [f"127.0.0.1:{port[3]}"]
    assert net.nodes[4].hosts_seen == [f"elsewhere.example:{port[4]}"]
    assert net.nodes[5].hosts_seen == []
    # One connection and one batch message per reachable node.
    assert net.requests == 4
    errors = {r["slot"]: r["evidence"].get("error", "") for r in checker.logs() if "slot" in r}
    assert "403" in errors[4]
    assert "no private IP, DNS name or enode" in errors[5]


def fresh_handler_module() -> ModuleType:
    sys.modules.pop("lambda_src.health.handler", None)
    return importlib.import_module("lambda_src.health.handler")


def test_handler_cold_start_and_run(
    aws: str, besu_network: FakeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        besu_network.add()
    side = make_health_aws(4)
    for node in besu_network.nodes:
        side.register(node.slot, node.port)
    for name, value in health_env(RPC_TOKEN_KEY_ARN=make_rpc_token_key()).items():
        monkeypatch.setenv(name, value)
    module = fresh_handler_module()
    result = module.handler({"source": "aws.events"}, None)
    assert result["healthy_nodes"] == 4
    assert decisions(result) == {0: "none", 1: "none", 2: "none", 3: "none"}
    assert side.health(0)["instance_id"] == side.instance_ids[0]


def _moto_public_key(key_arn: str) -> Any:
    """The key's public half as Besu would read it: KMS GetPublicKey (moto) as PEM."""
    import base64

    import boto3

    from tests.support.fake_besu import read_public_key

    der = boto3.client("kms", region_name="eu-west-1").get_public_key(KeyId=key_arn)["PublicKey"]
    body = base64.b64encode(der).decode()
    pem = "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PUBLIC KEY-----\n"
    return read_public_key(pem.encode())


def test_the_handler_signs_one_token_per_run_in_kms_and_sends_it_to_every_node(
    aws: str,
    besu_network: FakeNetwork,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """moto's KMS signs (RSASSA_PKCS1_V1_5_SHA_256, RAW); the token verifies under the key's
    public key by Besu's rules (tests/support/fake_besu.py), permits exactly the checker's
    methods, is the same for every node of the run, and appears in no log or result."""
    from besu_stack.besu.internal_rpc import checker_methods
    from tests.support.fake_besu import WsAuthentication

    for _ in range(3):
        besu_network.add()
    side = make_health_aws(3)
    for node in besu_network.nodes:
        side.register(node.slot, node.port)
    key_arn = make_rpc_token_key()
    for name, value in health_env(RPC_TOKEN_KEY_ARN=key_arn).items():
        monkeypatch.setenv(name, value)
    module = fresh_handler_module()
    result = module.handler({"source": "aws.events"}, None)
    assert result["healthy_nodes"] == 3
    seen = {value for node in besu_network.nodes for value in node.authorizations_seen}
    assert len(seen) == 1 and all(len(n.authorizations_seen) == 1 for n in besu_network.nodes)
    token = WsAuthentication.token_of(seen.pop())
    besu = WsAuthentication(_moto_public_key(key_arn))
    claims = besu.user(token)
    assert claims is not None
    assert all(besu.permitted(claims, m) for m in checker_methods("qbft"))
    assert not besu.permitted(claims, "qbft_proposeValidatorVote")
    # One kms:Sign per run, whatever the number of nodes.
    kms = module.TOKENS._kms
    signed: list[str] = []

    class Counting:
        def sign(self, **request: Any) -> Any:
            signed.append(request["KeyId"])
            return kms.sign(**request)

    monkeypatch.setattr(module.TOKENS, "_kms", Counting())
    module.handler({"source": "aws.events"}, None)
    assert signed == [key_arn]
    assert all(len(n.authorizations_seen) == 2 for n in besu_network.nodes)
    output = capsys.readouterr()
    assert token is not None and token.split(".")[2] not in output.out + output.err + str(result)
    assert token not in output.out + output.err


def test_without_a_signature_no_node_is_read_and_the_run_fails(
    aws: str,
    besu_network: FakeNetwork,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """KMS refuses (here: no such key): the run fails loudly (the function's Errors alarm) and
    no node is contacted or has its state changed; a node that cannot be read because the
    checker has no token is not a failing node."""
    from lambda_src.health.rpc_token import RpcTokenError

    besu_network.add()
    side = make_health_aws(1)
    side.register(0, besu_network.nodes[0].port)
    for name, value in health_env().items():
        monkeypatch.setenv(name, value)
    module = fresh_handler_module()
    with pytest.raises(RpcTokenError, match="NotFoundException"):
        module.handler({"source": "aws.events"}, None)
    assert besu_network.nodes[0].hosts_seen == []
    item = side.dynamodb.get_item(TableName="testnet-registry", Key={"slot": {"N": "0"}})["Item"]
    assert "health" not in item
    assert "RpcTokenError" in capsys.readouterr().out


def test_missing_environment_fails_at_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in health_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ECS_SERVICE_NAME")
    with pytest.raises(ConfigError, match="ECS_SERVICE_NAME"):
        fresh_handler_module()
