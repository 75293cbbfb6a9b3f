"""Fixtures of the health checker tests: fake Besu JSON-RPC nodes and the AWS side on moto.

Fake nodes are WebSocket JSON-RPC servers (``websockets.sync.server``) on 127.0.0.1 (ephemeral
ports, one thread each) that answer the JSON-RPC batch the checker sends (one text message, a
JSON array) like Besu's WebSocket server would, single requests too. Like Besu's
``--host-allowlist``, they refuse the upgrade with HTTP 403 unless the ``Host`` header names
``localhost``, ``127.0.0.1`` or the node's own DNS name (:func:`dns_name`). Every server is shut
down at the end of the test.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from .conftest import REGION

TABLE = "testnet-registry"
CLUSTER = "testnet"
SERVICE = "testnet-besu"
ASG = "testnet-nodes"
MOTO_AMI = "ami-03cf127a"
"""One of the AMIs moto knows (any id works: the launch template is never validated)."""


def address(slot: int) -> str:
    return f"0x{slot + 1:040x}"


def dns_name(slot: int) -> str:
    """The slot's stable DNS name in the private zone (what keygen puts in the enode)."""
    return f"validator-{slot}.besu.besu.internal"


def enode(slot: int, host: str | None = None) -> str:
    return f"enode://{'ab' * 64}@{host or dns_name(slot)}:30303"


@dataclass
class FakeNode:
    """How one fake Besu node behaves; the test changes it between runs."""

    slot: int
    head: int = 100
    peers: int = 3
    advancing: bool = True
    lag: int = 0
    proposes: bool = True
    delay: float = 0.0
    syncing: bool = False
    signer_api: bool = True
    port: int = 0
    hosts_seen: list[str] = field(default_factory=list)
    authorizations_seen: list[str | None] = field(default_factory=list)
    """The ``Authorization`` header of each upgrade (the checker's token)."""
    server: Server | None = field(default=None, repr=False)

    @property
    def allowed_hosts(self) -> set[str]:
        return {"localhost", "127.0.0.1", dns_name(self.slot)}


class FakeNetwork:
    """A set of fake nodes sharing one chain head."""

    def __init__(self, protocol: str = "qbft") -> None:
        self.nodes: list[FakeNode] = []
        self.head = 100
        self.protocol = protocol
        self.requests = 0
        self._threads: list[threading.Thread] = []

    def closed_port(self) -> int:
        """A port nothing listens on (bound, then released)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def add(self, **behaviour: Any) -> FakeNode:
        node = FakeNode(slot=len(self.nodes), head=self.head, **behaviour)
        network = self

        def allow_host(connection: ServerConnection, request: Request) -> Response | None:
            host = request.headers.get("Host", "")
            node.hosts_seen.append(host)
            node.authorizations_seen.append(request.headers.get("Authorization"))
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.lower() not in node.allowed_hosts:
                return connection.respond(403, "Host not authorized.\n")
            return None

        def handle(connection: ServerConnection) -> None:
            try:
                for message in connection:
                    request = json.loads(message)
                    network.requests += 1
                    if node.delay:
                        time.sleep(node.delay)
                    if isinstance(request, list):
                        reply: Any = [network.answer(node, call) for call in request]
                    else:
                        reply = network.answer(node, request)
                    connection.send(json.dumps(reply))
            except ConnectionClosed:
                pass

        server = serve(
            handle,
            "127.0.0.1",
            0,
            process_request=allow_host,
            compression=None,
            ping_interval=None,
            close_timeout=1,
        )
        node.server = server
        node.port = int(server.socket.getsockname()[1])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self._threads.append(thread)
        self.nodes.append(node)
        return node

    def advance(self, blocks: int) -> None:
        """The chain grows by ``blocks``; advancing nodes follow (minus their lag)."""
        self.head += blocks
        for node in self.nodes:
            if node.advancing:
                node.head = self.head - node.lag

    def answer(self, node: FakeNode, call: dict[str, Any]) -> dict[str, Any]:
        method = call["method"]
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": call["id"]}
        if method == "eth_getBlockByNumber":
            reply["result"] = {
                "number": hex(node.head),
                "timestamp": hex(1_700_000_000 + 2 * node.head),
                "hash": "0x" + "ab" * 32,
            }
        elif method == "net_peerCount":
            reply["result"] = hex(node.peers)
        elif method == "eth_syncing":
            reply["result"] = (
                {"startingBlock": "0x0", "currentBlock": hex(node.head), "highestBlock": "0x0"}
                if node.syncing
                else False
            )
        elif method == f"{self.protocol}_getSignerMetrics" and node.signer_api:
            reply["result"] = [
                {
                    "address": address(other.slot),
                    "proposedBlockCount": hex(25 if other.proposes else 0),
                    **(
                        {"lastProposedBlockNumber": hex(max(0, node.head - 1 - other.slot % 4))}
                        if other.proposes
                        else {}
                    ),
                }
                for other in self.nodes
            ]
        else:
            reply["error"] = {"code": -32601, "message": "Method not found"}
        return reply

    def stop(self) -> None:
        for node in self.nodes:
            if node.server is not None:
                node.server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def besu_network() -> Iterator[FakeNetwork]:
    """Fake Besu nodes for one test; all servers stopped at the end."""
    network = FakeNetwork()
    try:
        yield network
    finally:
        network.stop()


@dataclass
class HealthAws:
    dynamodb: Any
    ecs: Any
    autoscaling: Any
    cloudwatch: Any
    instance_ids: list[str]
    task_by_instance: dict[str, str]

    def register(
        self,
        slot: int,
        port: int,
        *,
        status: str = "in_use",
        location: dict[str, str] | None = None,
    ) -> None:
        """Write a slot item; an ``in_use`` node is found at ``location`` (attribute → value).

        By default ``private_ip`` 127.0.0.1 and the ``enode`` with the slot's DNS name (which
        the checker sends as the ``Host`` header).
        """
        item: dict[str, Any] = {
            "slot": {"N": str(slot)},
            "status": {"S": status},
            "address": {"S": address(slot)},
            "version": {"N": "1"},
        }
        if status == "in_use":
            item.update(
                owner_instance_id={"S": self.instance_ids[slot]},
                admin_rpc_port={"N": str(port)},
            )
            where = (
                {"private_ip": "127.0.0.1", "enode": enode(slot)} if location is None else location
            )
            item.update({name: {"S": value} for name, value in where.items()})
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def health(self, slot: int) -> dict[str, Any]:
        item = self.dynamodb.get_item(TableName=TABLE, Key={"slot": {"N": str(slot)}})["Item"]
        return {k: next(iter(v.values())) for k, v in item["health"]["M"].items()}

    def task_status(self, slot: int) -> str:
        task = self.task_by_instance[self.instance_ids[slot]]
        described = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[task])
        return str(described["tasks"][0]["desiredStatus"])

    def instance_health(self, slot: int) -> str:
        described = self.autoscaling.describe_auto_scaling_instances(
            InstanceIds=[self.instance_ids[slot]]
        )
        return str(described["AutoScalingInstances"][0]["HealthStatus"])


def make_health_aws(node_count: int) -> HealthAws:
    """Registry table, ECS cluster with one Besu task per instance, ASG with the instances."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "slot", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "slot", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ec2.create_launch_template(
        LaunchTemplateName="nodes",
        LaunchTemplateData={"ImageId": MOTO_AMI, "InstanceType": "t4g.large"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=ASG,
        LaunchTemplate={"LaunchTemplateName": "nodes", "Version": "$Latest"},
        MinSize=node_count,
        MaxSize=node_count,
        DesiredCapacity=node_count,
        AvailabilityZones=[f"{REGION}a"],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])
    instance_ids = sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"])
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="besu",
        networkMode="host",
        containerDefinitions=[{"name": "besu", "image": "hyperledger/besu:25.11.0", "memory": 512}],
    )
    task_by_instance: dict[str, str] = {}
    for instance_id in instance_ids:
        document = json.dumps({"instanceId": instance_id, "region": REGION})
        container = ecs.register_container_instance(
            cluster=CLUSTER, instanceIdentityDocument=document
        )["containerInstance"]["containerInstanceArn"]
        started = ecs.start_task(
            cluster=CLUSTER,
            taskDefinition="besu",
            containerInstances=[container],
            group=f"service:{SERVICE}",
            startedBy="ecs-svc/1234",
        )
        task_by_instance[instance_id] = started["tasks"][0]["taskArn"]
    return HealthAws(
        dynamodb=dynamodb,
        ecs=ecs,
        autoscaling=autoscaling,
        cloudwatch=boto3.client("cloudwatch", region_name=REGION),
        instance_ids=instance_ids,
        task_by_instance=task_by_instance,
    )


RPC_TOKEN_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"
"""A key ARN for tests that sign no token (make_rpc_token_key creates a real one in moto)."""


def make_rpc_token_key() -> str:
    """The RPC token key in moto: RSA 2048 for signing, as ``rpc_token_key.py`` creates it."""
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    return str(key["Arn"])


def health_env(**overrides: str) -> dict[str, str]:
    """The function's environment for the tests (fast timeouts, T = 2, no grace)."""
    values = {
        "REGISTRY_TABLE_NAME": TABLE,
        "NETWORK_NAME": "testnet",
        "ECS_CLUSTER_NAME": CLUSTER,
        "ECS_SERVICE_NAME": SERVICE,
        "AUTOSCALING_GROUP_NAME": ASG,
        "CONSENSUS_PROTOCOL": "qbft",
        "RPC_TOKEN_KEY_ARN": RPC_TOKEN_KEY_ARN,
        "BLOCK_PERIOD_SECONDS": "2",
        "RPC_TIMEOUT_SECONDS": "0.3",
        "FAILURES_BEFORE_ACTION": "2",
        "STARTUP_GRACE_SECONDS": "0",
        "REMEDIATION_COOLDOWN_SECONDS": "0",
        "STALL_WINDOW_SECONDS": "120",
        "MAX_BLOCKS_BEHIND": "10",
        "MIN_PEERS": "2",
        "MAX_BLOCKS_WITHOUT_PROPOSAL": "12",
    }
    values.update(overrides)
    return values
