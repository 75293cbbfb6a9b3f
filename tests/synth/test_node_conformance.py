"""What Terraform renders for a node, held against Besu's own rules (issue 11).

The oracle is not our reading of Besu but facts extracted from its source at the pinned tag
(``tests/data/besu_facts_25.11.0.json``, written by ``tools/extract_besu_facts.py``) and a fake
Besu that applies them (``tests/support/fake_besu.py``). The rendered values come from the
synthesized JSON, their plan-time parts evaluated by ``terraform console`` with the variables'
defaults. The ``check_*`` functions take the rendered container definition, command or target
group, so they can be pointed at the Terraform plan JSON when the plan harness exists.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from besu_stack.besu.internal_rpc import checker_methods, checker_permissions
from besu_stack.besu.keys import NodeKey
from besu_stack.constructs.fleet import CONTAINER_NAME
from besu_stack.constructs.fleet.node_entrypoint import NODE_ENV_VARIABLES
from lambda_src.health.rpc import BesuRpcClient, NodeEndpoint
from lambda_src.health.rpc_token import RpcTokenSigner
from tests.conftest import StackJson, resource_at, resources
from tests.support.fake_besu import (
    ChainState,
    FakeBesuNode,
    WsAuthentication,
    allowlist_entries,
    check_invocation,
    env_options,
    facts,
)
from tests.support.terraform_eval import evaluate, terraform_available
from tests.support.tokens import LocalSigningKey

pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(not terraform_available(), reason="terraform not on PATH"),
]

REPO = Path(__file__).resolve().parents[2]
NODE_HOST = "validator-2.besu.besu.internal"
PRIVATE_IP = "10.0.1.23"
LB_IPS = ("10.0.0.5", "10.0.1.6", "10.0.2.7")
PEERS = ("validator-0.besu.besu.internal", "validator-1.besu.besu.internal", NODE_HOST)
KEY = NodeKey.from_key_file("0x" + "4d" * 32)
FAKE_GETENT = """#!/bin/sh
grep -qx "$2" "$FAKE_DNS" && echo "10.0.9.9 $2"
"""


# --- the rendered values ---------------------------------------------------------------------


def rendered_container(stack: StackJson) -> dict[str, Any]:
    """The Besu container definition with its plan-time parts evaluated by Terraform."""
    task = resource_at(stack, "aws_ecs_task_definition", "fleet/task_definition")
    text = task["container_definitions"]
    # A bare reference (the memory) is a number in the JSON; evaluate it like the rest.
    text = re.sub(r"(?<=: )(\$\{[^{}\"]*\})", r'"\1"', text)
    (container,) = json.loads(text)
    strings: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str) and "${" in value:
            strings.append(value)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)

    for key in ("command", "environment", "healthCheck", "portMappings", "user", "entryPoint"):
        collect(container.get(key))
    table = dict(zip(strings, evaluate(stack, strings), strict=True)) if strings else {}

    def substitute(value: Any) -> Any:
        if isinstance(value, str):
            return table.get(value, value)
        if isinstance(value, list):
            return [substitute(v) for v in value]
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        return value

    return {key: substitute(value) for key, value in container.items()}


@dataclass
class Started:
    """The result of running the entry point for real with the ``besu`` stand-in."""

    result: subprocess.CompletedProcess[str]
    arguments: list[str]
    environment: dict[str, str]

    def option(self, name: str) -> str:
        (value,) = [a.split("=", 1)[1] for a in self.arguments if a.startswith(name + "=")]
        return value


def container_environment(container: Mapping[str, Any]) -> dict[str, str]:
    """What Besu's process sees: the image's ENV, then the container definition's."""
    image = dict(facts()["image"]["environment"])
    image["BESU_USER_NAME"] = "besu"
    return {**image, **{e["name"]: e["value"] for e in container.get("environment", [])}}


@dataclass
class RpcTokenKey:
    """The RPC token key in moto's KMS (in process): what the hosts read and the checker signs
    with. moto stands in for KMS: CreateKey RSA_2048/SIGN_VERIFY, GetPublicKey and Sign with
    RSASSA_PKCS1_V1_5_SHA_256 (moto 5.2.5, ``moto/kms``)."""

    kms: Any
    arn: str

    @property
    def public_key_pem(self) -> str:
        """What the host bootstrap writes: the CLI's base64 DER, in 64-character PEM lines."""
        import base64
        import textwrap

        der = self.kms.get_public_key(KeyId=self.arn)["PublicKey"]
        body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
        return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"

    def signer(self, protocol: str = "ibft2") -> RpcTokenSigner:
        return RpcTokenSigner(self.kms, self.arn, checker_permissions(protocol))


@pytest.fixture(scope="module")
def rpc_token_key() -> Iterator[RpcTokenKey]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        kms = boto3.client(
            "kms",
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        arn = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        yield RpcTokenKey(kms, arn)


def start_node(container: Mapping[str, Any], root: Path, rpc_public_key_pem: str) -> Started:
    """Run ``entryPoint + command`` like ECS, on a host prepared like the bootstrap leaves it."""
    for sub in ("etc/besu", "run/besu", "bin"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc/besu/node.env").write_text(
        f"NODE_SLOT=2\nNODE_PRIVATE_IP={PRIVATE_IP}\nNODE_HOST={NODE_HOST}\n"
        f"NODE_LOAD_BALANCER_IPS={','.join(LB_IPS)}\nNODE_EXPECTED_ADDRESS={KEY.address}\n"
    )
    static = [f'"enode://{KEY.public_key}@{peer}:30303"' for peer in PEERS]
    (root / "etc/besu/static-nodes.json").write_text("[" + ",".join(static) + "]")
    (root / "run/besu/key").write_text("0x" + KEY.private_key.hex() + "\n")
    (root / "etc/besu/rpc-token-key.pem").write_text(rpc_public_key_pem)
    (root / "dns").write_text("".join(f"{p}\n" for p in PEERS))
    besu = root / "bin" / "besu"
    besu.write_text(
        f'#!/bin/sh\nPYTHONPATH={REPO} exec {REPO}/.venv/bin/python -m tests.support.fake_besu "$@"\n'
    )
    getent = root / "bin" / "getent"
    getent.write_text(FAKE_GETENT)
    for path in (besu, getent):
        path.chmod(0o755)
    entry_point = list(container["entryPoint"])
    script = (
        entry_point[2]
        .replace("/opt/besu/bin/besu", str(besu))
        .replace("/etc/besu", str(root / "etc/besu"))
        .replace("/run/besu", str(root / "run/besu"))
    )
    arguments = [
        a.replace("/etc/besu", str(root / "etc/besu")).replace("/run/besu", str(root / "run/besu"))
        for a in container["command"]
    ]
    environment = container_environment(container)
    record = root / "besu-args"
    result = subprocess.run(
        [*entry_point[:2], script, *entry_point[3:], *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **environment,
            "PATH": f"{root / 'bin'}:/usr/bin:/bin",
            "FAKE_DNS": str(root / "dns"),
            "FAKE_BESU_RECORD": str(record),
        },
    )
    recorded = record.read_text().splitlines() if record.exists() else []
    return Started(result, recorded, environment)


@pytest.fixture(scope="module")
def container(default_stack: StackJson) -> dict[str, Any]:
    return rendered_container(default_stack)


@pytest.fixture(scope="module")
def started(
    container: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    rpc_token_key: RpcTokenKey,
) -> Started:
    return start_node(container, tmp_path_factory.mktemp("node"), rpc_token_key.public_key_pem)


@pytest.fixture
def besu(started: Started) -> Iterator[FakeBesuNode]:
    """The node as its command line configures it, JWT authentication included."""
    node = FakeBesuNode(
        allowlist=allowlist_entries(started.option("--host-allowlist")),
        http_apis=started.option("--rpc-http-api").split(","),
        ws_apis=started.option("--rpc-ws-api").split(","),
        state=ChainState(head=40, peers=3, signers=[KEY.address]),
        ws_authentication=WsAuthentication.from_arguments(started.arguments),
    )
    yield from node.serve()


def _endpoint(besu: FakeBesuNode, server_name: str = NODE_HOST) -> NodeEndpoint:
    return NodeEndpoint(
        slot=2,
        instance_id="i-0123",
        host="127.0.0.1",
        port=besu.ws_port,
        address=KEY.address,
        server_name=server_name,
    )


def _call(besu: FakeBesuNode, methods: Sequence[str], authorization: str | None) -> list[Any]:
    """One batch over a raw WebSocket, as any client under the checker's security group could
    send it; the answers in request order."""
    import websocket

    header = [f"Authorization: {authorization}"] if authorization is not None else []
    connection = websocket.create_connection(
        f"ws://127.0.0.1:{besu.ws_port}/", timeout=5, host=f"{NODE_HOST}:8547", header=header
    )
    try:
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": []} for i, m in enumerate(methods)
        ]
        connection.send(json.dumps(batch))
        answers = json.loads(connection.recv())
    finally:
        connection.close()
    return sorted(answers, key=lambda a: a["id"])


# --- checks (take rendered values) -----------------------------------------------------------


def check_command_line(arguments: Sequence[str], environment: Mapping[str, str]) -> None:
    """Every option exists with a valid value, the environment included (Besu's rules)."""
    assert arguments, "Besu was not started"
    assert check_invocation(arguments, environment) == []


IMAGE_DEFAULTS_LEFT_TO_THE_IMAGE = {
    "--pid-path": "BESU_PID_PATH=/tmp/pid: the image's own health check reads it",
    "--graphql-http-host": "BESU_GRAPHQL_HTTP_HOST: GraphQL is disabled on the command line",
}
"""Options the official image sets through ``BESU_`` variables (docker/Dockerfile) that our
command line does not override, each reviewed."""


def check_environment(
    arguments: Sequence[str], ours: Mapping[str, str], image: Mapping[str, str]
) -> None:
    """No variable is read by Besu as an option by accident: none of ours names an option
    (EnvironmentVariableDefaultProvider), and each of the image's is overridden on the command
    line or reviewed in :data:`IMAGE_DEFAULTS_LEFT_TO_THE_IMAGE`."""
    assert env_options(ours) == {}, f"our variables read as options: {env_options(ours)}"
    given = {a.split("=", 1)[0] for a in arguments}
    left = sorted(set(env_options(image)) - given - set(IMAGE_DEFAULTS_LEFT_TO_THE_IMAGE))
    assert left == [], f"image variables read as options: {left}"


def check_p2p_host(arguments: Sequence[str]) -> None:
    """P2PDiscoveryOptions: --p2p-host must be an IP address literal."""
    (value,) = [a.split("=", 1)[1] for a in arguments if a.startswith("--p2p-host=")]
    ipaddress.ip_address(value)


def check_port_mappings(
    task: Mapping[str, Any], container: Mapping[str, Any], service: Mapping[str, Any]
) -> None:
    """ECS API reference, LoadBalancer.containerPort: "This port must correspond to a
    containerPort in the task definition"; PortMapping: in host network mode hostPort must be
    undefined or equal containerPort."""
    mappings = container.get("portMappings", [])
    for balancer in service["load_balancer"]:
        assert balancer["container_name"] == container["name"]
        matching = [m for m in mappings if m["containerPort"] == balancer["container_port"]]
        assert matching, f"port {balancer['container_port']} has no port mapping"
        if task["network_mode"] == "host":
            assert all(
                m.get("hostPort", m["containerPort"]) == m["containerPort"] for m in matching
            )


def http_get(port: int, path: str, host: str | None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if host is not None:
        request.add_unredirected_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# --- the tests -------------------------------------------------------------------------------


def test_the_node_starts_with_a_command_line_besu_accepts(started: Started) -> None:
    assert started.result.returncode == 0, started.result
    check_command_line(started.arguments, started.environment)
    check_p2p_host(started.arguments)
    assert started.option("--p2p-host") == PRIVATE_IP
    assert started.option("--min-gas-price") == "0"


def test_no_variable_is_read_by_besu_as_an_option_by_accident(
    container: dict[str, Any], started: Started
) -> None:
    ours = {e["name"]: e["value"] for e in container.get("environment", [])}
    image = {k: v for k, v in started.environment.items() if k not in ours}
    check_environment(started.arguments, ours, image)
    # Defect 1 of issue 11: BESU_NETWORK=<network name> made Besu exit.
    assert "BESU_NETWORK" not in ours
    assert not any(name.startswith(("BESU_", "PANTHEON_")) for name in NODE_ENV_VARIABLES)


def test_the_fake_refuses_what_besu_refuses(tmp_path: Path) -> None:
    """The oracle itself: the defects of issue 11 are caught by the fake's rules."""
    key = tmp_path / "key"
    key.write_text("0x" + "4d" * 32 + "\n")
    base = [f"--node-private-key-file={key}", "--p2p-host=10.0.0.1"]
    assert check_invocation(base, {}) == []
    assert any("--network" in e for e in check_invocation(base, {"BESU_NETWORK": "besu"}))
    assert any("p2p-host" in e for e in check_invocation([base[0], "--p2p-host=validator-1.x"], {}))
    assert any("Unknown option" in e for e in check_invocation([*base, "--no-such-option=1"], {}))
    assert any(
        "DATA-STORAGE" in e.upper()
        for e in check_invocation([*base, "--data-storage-format=bonsia"], {})
    )
    assert check_invocation([*base, "--data-storage-format=bonsai"], {}) == []
    missing = [f"--node-private-key-file={tmp_path / 'absent'}", "--p2p-host=10.0.0.1"]
    assert any("generate a new key" in e for e in check_invocation(missing, {}))
    # RpcWebsocketOptions.validate: authentication needs a key or credentials file.
    unkeyed = [*base, "--rpc-ws-enabled=true", "--rpc-ws-authentication-enabled=true"]
    auth = facts()["rpc_ws_authentication"]
    assert check_invocation(unkeyed, {}) == [auth["validation"]["errors"][0]]
    absent = f"--rpc-ws-authentication-jwt-public-key-file={tmp_path / 'absent.pem'}"
    assert check_invocation([*unkeyed, absent], {}) == [auth["public_key_file"]["errors"][1]]


def test_the_container_health_check_passes_against_besu(
    container: dict[str, Any], besu: FakeBesuNode
) -> None:
    command = container["healthCheck"]["command"]
    assert command[0] == "CMD" and shutil.which("bash")
    probe = command[-1].replace("/127.0.0.1/8545", f"/127.0.0.1/{besu.http_port}")
    result = subprocess.run(
        ["bash", *command[2:-1], probe], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, (result, besu.hosts_seen)
    assert besu.hosts_seen[-1] == "localhost:8545"


def test_the_old_health_check_fails_against_besu(besu: FakeBesuNode) -> None:
    """Defect 3 of issue 11: HTTP/1.0 without a Host header is refused on /liveness too."""
    old = "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET /liveness HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"
    result = subprocess.run(["bash", "-c", old.format(port=besu.http_port)], timeout=20)
    assert result.returncode != 0


def test_the_load_balancer_health_check_passes_against_besu(
    default_stack: StackJson, besu: FakeBesuNode
) -> None:
    """An NLB HTTP health check sends Host: <load balancer node IP>:<listener port> (Elastic
    Load Balancing guide, "Health checks for Network Load Balancer target groups"); the
    target's own IP is admitted too."""
    group = resource_at(default_stack, "aws_lb_target_group", "private_link/rpc_target_group")
    raw = group["health_check"]
    keys = ("protocol", "port", "path", "matcher")
    check = dict(zip(keys, evaluate(default_stack, [str(raw[k]) for k in keys]), strict=True))
    assert check["protocol"] == "HTTP" and check["port"] == "8545" and check["matcher"] == "200"
    assert check["path"].startswith(facts()["health"]["readiness"]["path"] + "?")
    listener_ports = {
        listener["port"] for listener in resources(default_stack, "aws_lb_listener").values()
    }
    for ip in LB_IPS:
        for port in listener_ports:
            assert http_get(besu.http_port, check["path"], f"{ip}:{port}") == 200
    assert http_get(besu.http_port, check["path"], f"{PRIVATE_IP}:8545") == 200
    assert http_get(besu.http_port, check["path"], "10.0.3.99:8545") == 403
    besu.state.peers = 0
    assert http_get(besu.http_port, check["path"], f"{LB_IPS[0]}:8545") == 503


def test_the_bootstrap_looks_up_the_load_balancer_the_stack_creates(
    default_stack: StackJson,
) -> None:
    import base64

    nlb = resource_at(default_stack, "aws_lb", "private_link/nlb")
    template = resource_at(default_stack, "aws_launch_template", "fleet/launch_template")
    script = base64.b64decode(template["user_data"]).decode()
    assert f"LOAD_BALANCER={nlb['name']}\n" in script


def test_the_health_checker_reads_the_node_over_websocket(
    besu: FakeBesuNode, rpc_token_key: RpcTokenKey
) -> None:
    """With its token signed in KMS (moto) and verified by the node's rules (the rendered
    command line's key file and algorithm)."""
    signer = rpc_token_key.signer()
    client = BesuRpcClient(
        "ibft_getSignerMetrics", timeout_seconds=3, authorization=signer.authorization
    )
    observation = client.observe(_endpoint(besu))
    assert observation.reachable, observation.error
    assert observation.head == 40 and observation.peers == 3
    assert observation.last_proposed == {KEY.address: 40}
    (authorization,) = besu.authorizations_seen
    assert authorization is not None and authorization.startswith("Bearer ")


def test_the_internal_port_authenticates_with_the_key_the_host_wrote(started: Started) -> None:
    """Besu's options (facts): enabled, the PEM the host bootstrap writes, RS256, and no method
    exempt from authentication."""
    names = facts()["rpc_ws_authentication"]["options"]
    assert started.option(names["enabled"]) == "true"
    assert started.option(names["public_key_file"]).endswith("/etc/besu/rpc-token-key.pem")
    assert started.option(names["algorithm"]) == "RS256"
    assert not any(a.startswith(names["no_auth_methods"] + "=") for a in started.arguments)
    assert not any(a.startswith(names["credentials_file"] + "=") for a in started.arguments)


def test_a_request_without_a_token_is_refused(besu: FakeBesuNode) -> None:
    """The upgrade succeeds (WebSocketService) and every call is answered -40100."""
    unauthorized = facts()["rpc_ws_authentication"]["refusals"]["unauthorized"]
    answers = _call(besu, checker_methods("ibft2"), None)
    assert [a.get("error") for a in answers] == [unauthorized] * len(answers)
    observation = BesuRpcClient("ibft_getSignerMetrics", timeout_seconds=3).observe(_endpoint(besu))
    assert not observation.reachable and "Unauthorized" in (observation.error or "")


@pytest.mark.parametrize(
    "wrong",
    ["signed by another key", "expired", "alg none", "permissions widened after signing"],
)
def test_a_wrong_token_is_refused(
    besu: FakeBesuNode, rpc_token_key: RpcTokenKey, wrong: str
) -> None:
    import base64
    import time

    now = int(time.time())
    claims = {"exp": now + 60, "permissions": list(checker_permissions("ibft2"))}
    if wrong == "signed by another key":
        token = LocalSigningKey().token(claims)
    elif wrong == "expired":
        token = RpcTokenSigner(
            rpc_token_key.kms,
            rpc_token_key.arn,
            checker_permissions("ibft2"),
            clock=lambda: now - 121,
        ).token()
    elif wrong == "alg none":
        segments = rpc_token_key.signer().token().split(".")
        segments[0] = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        token = ".".join(segments)
    else:
        segments = rpc_token_key.signer().token().split(".")
        widened = json.dumps({**claims, "permissions": ["*:*"]}).encode()
        segments[1] = base64.urlsafe_b64encode(widened).rstrip(b"=").decode()
        token = ".".join(segments)
    unauthorized = facts()["rpc_ws_authentication"]["refusals"]["unauthorized"]
    answers = _call(besu, ["eth_getBlockByNumber", "net_peerCount"], f"Bearer {token}")
    assert [a.get("error") for a in answers] == [unauthorized, unauthorized], wrong


def test_a_method_outside_the_tokens_permissions_is_refused(
    besu: FakeBesuNode, rpc_token_key: RpcTokenKey
) -> None:
    """The checker's own valid token: its four methods are answered; the consensus group's vote
    (served on this port, so not -32604) and another ETH method are refused with -40100; ADMIN
    is not served at all."""
    refusals = facts()["rpc_ws_authentication"]["refusals"]
    authorization = rpc_token_key.signer().authorization()
    allowed = _call(besu, checker_methods("ibft2"), authorization)
    assert all("result" in a for a in allowed), allowed
    refused = _call(
        besu, ["ibft_proposeValidatorVote", "eth_blockNumber", "admin_peers"], authorization
    )
    assert [a["error"] for a in refused] == [
        refusals["unauthorized"],
        refusals["unauthorized"],
        refusals["method_not_enabled"],
    ]


def test_the_load_balanced_port_is_a_port_mapping(
    default_stack: StackJson, container: dict[str, Any]
) -> None:
    task = resource_at(default_stack, "aws_ecs_task_definition", "fleet/task_definition")
    service = resource_at(default_stack, "aws_ecs_service", "fleet/service")
    assert container["name"] == CONTAINER_NAME
    check_port_mappings(task, container, service)


def test_besu_runs_as_the_images_besu_user(container: dict[str, Any]) -> None:
    uid = facts()["image"]["besu_uid"]
    assert container["user"] == f"{uid}:{uid}"


def test_the_fake_refuses_a_websocket_upgrade_with_a_foreign_host(
    besu: FakeBesuNode, rpc_token_key: RpcTokenKey
) -> None:
    """The oracle's allow-list covers the WebSocket upgrade too (WebSocketService)."""
    client = BesuRpcClient(
        "ibft_getSignerMetrics",
        timeout_seconds=3,
        authorization=rpc_token_key.signer().authorization,
    )
    observation = client.observe(_endpoint(besu, server_name="attacker.example"))
    assert not observation.reachable
    assert "403" in (observation.error or "")


def test_the_fake_export_address_refuses_a_missing_key_like_besu(tmp_path: Path) -> None:
    missing = ["public-key", "export-address", f"--node-private-key-file={tmp_path / 'key'}"]
    assert check_invocation(missing, {}) == ["Private key file doesn't exist"]
    (tmp_path / "key").write_text("0x12\n0x34\n")
    assert check_invocation(missing, {}) == ["Private key cannot be loaded from file"]


def test_the_fake_parses_the_allow_list_as_besu_does() -> None:
    """JsonRPCAllowlistHostsProperty / HostAllowlistOptionsTest: "a,,b" is two hosts, '*' and
    'none' stand alone."""
    assert allowlist_entries("a,,b") == ["a", "b"]
    assert allowlist_entries("a , b") == ["a", "b"]
    assert allowlist_entries("none") == []
    assert check_invocation(["--host-allowlist=*,a", "--p2p-host=10.0.0.1"], {})[0].startswith(
        "Values '*' or 'all'"
    )
