"""The Besu command line of a validator node: a pure function of typed, validated options.

This module is the one source of truth for how Besu is invoked. The container's ``command`` is
exactly :func:`besu_command_line`; the entry point (``besu_stack/constructs/fleet/node_entrypoint.py``) only puts
the :data:`RUNTIME_VALUES` in their placeholders (the instance's private IP, the slot's DNS name,
the load balancer's addresses) and never adds, drops or rewrites an option. Values Terraform
fills in at plan time (the consumer API list, the consumer host names, the storage format) are
:class:`PlanValue` tokens whose Terraform variable validation enforces the same rules as here.

The node serves two JSON-RPC surfaces, because Besu has exactly one HTTP JSON-RPC server and one
WebSocket JSON-RPC server, each with one API list:

* **Consumer RPC, HTTP on 8545** (behind the NLB and PrivateLink): read/transact APIs only,
  ``ETH,NET,WEB3`` by default. The API groups that administer or steer the node (``ADMIN``,
  ``DEBUG``, ``TXPOOL``, ``PERM``, ``MINER``, ``PLUGINS``, the consensus groups ``IBFT``,
  ``QBFT`` and ``CLIQUE`` whose ``*_proposeValidatorVote`` changes the validator set, and the
  private-transaction groups) are refused here with a :class:`ValueError`.
* **Internal RPC, WebSocket on 8547**: ``ETH,NET`` and the consensus group of the network's
  protocol: the groups of what the deep health checker calls (``eth_getBlockByNumber``,
  ``eth_syncing``, ``net_peerCount``, ``<ibft|qbft>_getSignerMetrics``: the one list in
  :mod:`besu_stack.besu.internal_rpc`). ``ADMIN`` is not served. The NLB never forwards this
  port. Besu's JWT authentication is on (``--rpc-ws-authentication-enabled``) with the public
  key of the checker's KMS signing key (``--rpc-ws-authentication-jwt-public-key-file``, a PEM
  file the host bootstrap writes) and ``RS256`` stated explicitly (Besu's default,
  ``DefaultCommandValues``, 25.11.0); no method is exempt (``--rpc-ws-api-methods-no-auth``
  is not given; its default is empty). Each call needs a token whose ``permissions`` name it,
  so the consensus group's voting methods are refused to the checker's tokens too.

``--host-allowlist`` guards every HTTP route of the JSON-RPC server, ``/liveness`` and
``/readiness`` included (``JsonRpcHttpService.buildRouter`` installs the Host check before every
route, 25.11.0), the WebSocket upgrade, and the metrics server (``MetricsHttpService``). It holds
``localhost`` and ``127.0.0.1`` (the container health check sends ``Host: localhost``), the
node's private IP and stable DNS name (the health checker sends the DNS name), the load
balancer's own addresses (an NLB health check sends ``Host: <load balancer node IP>:<port>``,
per the Elastic Load Balancing guide, "Health checks for Network Load Balancer target groups")
and the consumer endpoint names. CORS is off (``none``).

``--p2p-host`` must be an IP address (``P2PDiscoveryOptions``: "The provided --p2p-host is
invalid"); peers are found by DNS name through a static-nodes file with discovery off and
``--Xdns-enabled``/``--Xdns-update-enabled``, so a replaced node is found at its new address.
``--min-gas-price=0`` goes with the genesis' ``zeroBaseFee`` (besu-docs ``free-gas.md``: the
default minimum of 1000 wei would drop zero-price transactions). Storage is BONSAI with
``--sync-mode=FULL`` stated explicitly, and ``--bonsai-limit-trie-logs-enabled=false`` stated
because Besu forces it with FULL sync anyway (``BesuCommand``, 25.11.0): trie logs are kept for
every block (see the README, "Storage and sync").
The node key file lives outside the data path (on a root-only tmpfs, by the host contract), so
it never lands on the data volume or its snapshots.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from besu_stack.besu.extra_data import Protocol, check_protocol
from besu_stack.besu.internal_rpc import TOKEN_ALGORITHM, internal_api_groups
from besu_stack.besu.keys import DEFAULT_P2P_PORT, enode_url

DataStorageFormat = Literal["BONSAI", "FOREST"]
LogLevel = Literal["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"]

DATA_STORAGE_FORMATS: tuple[DataStorageFormat, ...] = ("BONSAI", "FOREST")
LOG_LEVELS: tuple[LogLevel, ...] = (
    "OFF",
    "FATAL",
    "ERROR",
    "WARN",
    "INFO",
    "DEBUG",
    "TRACE",
    "ALL",
)

DEFAULT_RPC_HTTP_PORT = 8545
DEFAULT_INTERNAL_WS_PORT = 8547
DEFAULT_METRICS_PORT = 9545
DEFAULT_CONSUMER_APIS: tuple[str, ...] = ("ETH", "NET", "WEB3")
DEFAULT_HOST_ALLOWLIST: tuple[str, ...] = ()
LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")
"""Always allowed: what a check from inside the container sends as ``Host``."""

RUNTIME_PRIVATE_IP = "@NODE_PRIVATE_IP@"
"""Placeholder for the instance's private IPv4 address (``--p2p-host``, allow-list)."""
RUNTIME_NODE_HOST = "@NODE_HOST@"
"""Placeholder for the slot's stable DNS name (allow-list; the health checker sends it)."""
RUNTIME_LOAD_BALANCER_IPS = "@LOAD_BALANCER_IPS@"
"""Placeholder for the load balancer's private IPs, comma-separated (allow-list)."""
RUNTIME_VALUES: Mapping[str, str] = {
    RUNTIME_PRIVATE_IP: "NODE_PRIVATE_IP",
    RUNTIME_NODE_HOST: "NODE_HOST",
    RUNTIME_LOAD_BALANCER_IPS: "NODE_LOAD_BALANCER_IPS",
}
"""Each runtime placeholder and the ``node.env`` variable the entry point fills it from."""

CONSUMER_SAFE_APIS = frozenset({"ETH", "NET", "WEB3", "TRACE"})
"""API groups a consumer may be given: reads, transaction submission and tracing."""

PRIVILEGED_APIS = frozenset(
    {"ADMIN", "DEBUG", "TXPOOL", "PERM", "MINER", "PLUGINS", "IBFT", "QBFT", "CLIQUE"}
    | {"PRIV", "EEA", "GOQUORUM"}
)
"""API groups that administer the node or vote on the validator set: never on the consumer port."""

KNOWN_APIS = CONSUMER_SAFE_APIS | PRIVILEGED_APIS

_CONSENSUS_API: dict[Protocol, str] = {"ibft2": "IBFT", "qbft": "QBFT"}
_PATH_RE = re.compile(r"/[A-Za-z0-9._/-]*")
_NODE_ID_FOR_CHECKS = (
    "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
)
"""The secp256k1 generator point: a public key used only to validate host names."""


@dataclass(frozen=True)
class PlanValue:
    """A value Terraform fills in at plan time (a token), checked there instead of here.

    ``expression`` is the token as it appears in the synthesized JSON; ``checked_by`` names the
    Terraform variable whose ``validation`` enforces the rule this module would apply to a
    literal (the conformance tests evaluate the rendered command with Terraform and check it
    against Besu's own rules).
    """

    expression: str
    checked_by: str

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str) or not self.expression:
            raise ValueError(
                f"PlanValue.expression must be a non-empty string, got {self.expression!r}"
            )
        if not isinstance(self.checked_by, str) or not self.checked_by:
            raise ValueError(
                "PlanValue.checked_by must name the Terraform variable that validates it"
            )


def consensus_api(protocol: str) -> str:
    """The JSON-RPC API group of a consensus protocol (``IBFT`` or ``QBFT``)."""
    return _CONSENSUS_API[check_protocol(protocol)]


def _check_path(name: str, value: object) -> str:
    if not isinstance(value, str) or not _PATH_RE.fullmatch(value) or value == "/":
        raise ValueError(
            f"{name} must be an absolute path of letters, digits, '.', '_', '-' and '/', "
            f"got {value!r}"
        )
    if ".." in PurePosixPath(value).parts:
        raise ValueError(f"{name} must not contain '..', got {value!r}")
    return value


def _check_port(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{name} must be a whole number from 1 to 65535, got {value!r}")
    return value


def _check_host(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a DNS name or IP address, got {value!r}")
    try:
        enode_url(_NODE_ID_FOR_CHECKS, value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    return value.lower().removesuffix(".")


def _check_apis(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{name} must be a non-empty list of API groups, got {value!r}")
    apis: list[str] = []
    for item in value:
        if not isinstance(item, str) or item.strip().upper() not in KNOWN_APIS:
            raise ValueError(
                f"{name} has unknown API group {item!r}; known: {', '.join(sorted(KNOWN_APIS))}"
            )
        api = item.strip().upper()
        if api in apis:
            raise ValueError(f"{name} lists API group {api} twice")
        apis.append(api)
    return tuple(apis)


def _check_ip(name: str, value: object) -> str:
    """An IP address literal (Besu's ``--p2p-host`` rule) or the runtime private-IP placeholder."""
    if value == RUNTIME_PRIVATE_IP:
        return RUNTIME_PRIVATE_IP
    try:
        return str(ipaddress.ip_address(value))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(
            f"{name} must be an IP address (Besu refuses a DNS name for --p2p-host) or "
            f"{RUNTIME_PRIVATE_IP}, got {value!r}"
        ) from exc


def _check_hosts(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of host names, got {value!r}")
    hosts: list[str] = []
    for host in value:
        if host in ("*", "all"):
            raise ValueError(
                f"{name} must not contain '*' or 'all'; list the consumer endpoint DNS names instead"
            )
        checked = str(host) if host in RUNTIME_VALUES else _check_host(name, host)
        if checked not in hosts:
            hosts.append(checked)
    return tuple(hosts)


@dataclass(frozen=True)
class BesuNodeOptions:
    """What a validator's Besu command line is built from.

    Paths are paths inside the container. The defaults match the host bootstrap contract
    (docs/replacement.md): genesis and static nodes under ``/etc/besu``, chain data on the
    slot's EBS volume mounted at ``/var/lib/besu``, the node key on the root-only tmpfs
    ``/run/besu``.
    """

    protocol: Protocol
    p2p_host: str = RUNTIME_PRIVATE_IP
    """The node's IP address advertised to peers; by default the runtime private IP."""
    node_host: str = RUNTIME_NODE_HOST
    """The node's stable DNS name (``validator-<slot>.<domain>``), admitted by the allow-list."""
    data_storage_format: DataStorageFormat | PlanValue = "BONSAI"
    """``BONSAI`` or ``FOREST``; always written so a Besu upgrade never changes it silently."""
    genesis_file: str = "/etc/besu/genesis.json"
    static_nodes_file: str = "/etc/besu/static-nodes.json"
    data_path: str = "/var/lib/besu/data"
    node_key_file: str = "/run/besu/key"
    rpc_token_public_key_file: str = "/etc/besu/rpc-token-key.pem"  # noqa: S105 (a public key)
    """The PEM public key Besu verifies the health checker's tokens with (public data)."""
    p2p_port: int = DEFAULT_P2P_PORT
    rpc_http_port: int = DEFAULT_RPC_HTTP_PORT
    consumer_apis: tuple[str, ...] | PlanValue = DEFAULT_CONSUMER_APIS
    """API groups of the consumer port; a :class:`PlanValue` renders as ``ETH,NET,...``."""
    internal_ws_port: int = DEFAULT_INTERNAL_WS_PORT
    internal_apis: tuple[str, ...] | None = None
    """API groups of the internal WebSocket surface; by default those of the checker's methods,
    ``ETH,NET,<IBFT|QBFT>`` (:func:`besu_stack.besu.internal_rpc.internal_api_groups`)."""
    load_balancer_hosts: tuple[str, ...] = (RUNTIME_LOAD_BALANCER_IPS,)
    """Hosts the load balancer's health check sends (its node IPs), admitted by the allow-list."""
    host_allowlist: tuple[str, ...] | PlanValue = DEFAULT_HOST_ALLOWLIST
    """Consumer endpoint names accepted as ``Host`` in addition to the node's own names. A
    :class:`PlanValue` must render as zero or more ``,<host>`` items (each with its comma)."""
    metrics_port: int = DEFAULT_METRICS_PORT
    min_gas_price: int = 0
    """``--min-gas-price`` in wei: 0 for the free-gas network the genesis' ``zeroBaseFee`` makes."""
    logging: LogLevel = "INFO"
    extra_flags: tuple[str, ...] = field(default=())
    """Reserved for reviewed additions; must be empty (a guard against ad-hoc flags)."""

    def __post_init__(self) -> None:
        try:
            protocol = check_protocol(self.protocol)
        except ValueError as exc:
            raise ValueError(f"protocol: {exc}") from exc
        object.__setattr__(self, "protocol", protocol)
        object.__setattr__(self, "p2p_host", _check_ip("p2p_host", self.p2p_host))
        if self.node_host != RUNTIME_NODE_HOST:
            object.__setattr__(self, "node_host", _check_host("node_host", self.node_host))
        fmt = self.data_storage_format
        if not isinstance(fmt, PlanValue) and fmt not in DATA_STORAGE_FORMATS:
            raise ValueError(
                f"data_storage_format must be one of {', '.join(DATA_STORAGE_FORMATS)}, got {fmt!r}"
            )
        if self.logging not in LOG_LEVELS:
            raise ValueError(
                f"logging must be one of {', '.join(LOG_LEVELS)}, got {self.logging!r}"
            )
        if (
            isinstance(self.min_gas_price, bool)
            or not isinstance(self.min_gas_price, int)
            or self.min_gas_price < 0
        ):
            raise ValueError(
                f"min_gas_price must be a whole number of wei from 0, got {self.min_gas_price!r}"
            )
        paths = {
            name: _check_path(name, getattr(self, name))
            for name in (
                "genesis_file",
                "static_nodes_file",
                "data_path",
                "node_key_file",
                "rpc_token_public_key_file",
            )
        }
        key = PurePosixPath(paths["node_key_file"])
        data = PurePosixPath(paths["data_path"])
        if key == data or data in key.parents:
            raise ValueError(
                f"node_key_file {key} must not be inside data_path {data}: the key would be "
                "written to the data volume and its snapshots"
            )
        files = {name: PurePosixPath(path) for name, path in paths.items() if name != "data_path"}
        for name, path in files.items():
            same = [other for other, p in files.items() if p == path and other != name]
            if same:
                raise ValueError(f"{name} {path} is also {same[0]}; every file must differ")
        ports = {
            name: _check_port(name, getattr(self, name))
            for name in ("p2p_port", "rpc_http_port", "internal_ws_port", "metrics_port")
        }
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise ValueError(f"{name} {port} is also {seen[port]}; every port must differ")
            seen[port] = name
        if not isinstance(self.consumer_apis, PlanValue):
            consumer = _check_apis("consumer_apis", self.consumer_apis)
            privileged = sorted(set(consumer) - CONSUMER_SAFE_APIS)
            if privileged:
                raise ValueError(
                    f"consumer_apis must not include {', '.join(privileged)}: the consumer port "
                    "is reachable through the NLB; allowed: "
                    f"{', '.join(sorted(CONSUMER_SAFE_APIS))}"
                )
            object.__setattr__(self, "consumer_apis", consumer)
        own = _CONSENSUS_API[protocol]
        internal = (
            internal_api_groups(protocol)
            if self.internal_apis is None
            else _check_apis("internal_apis", self.internal_apis)
        )
        foreign = sorted(set(internal) & (set(_CONSENSUS_API.values()) | {"CLIQUE"}) - {own})
        if foreign:
            raise ValueError(
                f"internal_apis: {', '.join(foreign)} does not apply to a {protocol} network "
                f"(its consensus API group is {own})"
            )
        object.__setattr__(self, "internal_apis", internal)
        object.__setattr__(
            self,
            "load_balancer_hosts",
            _check_hosts("load_balancer_hosts", self.load_balancer_hosts),
        )
        if not isinstance(self.host_allowlist, PlanValue):
            object.__setattr__(
                self, "host_allowlist", _check_hosts("host_allowlist", self.host_allowlist)
            )
        if self.extra_flags:
            raise ValueError("extra_flags must be empty: add reviewed options to BesuNodeOptions")


def _plan_or_literal(value: str | PlanValue) -> str:
    return value.expression if isinstance(value, PlanValue) else value


def host_allowlist_value(options: BesuNodeOptions) -> str:
    """The ``--host-allowlist`` value, in order: local names, the node's own, the consumers'.

    The node's own are its private IP, its DNS name and the load balancer's addresses; the
    consumer names are literal or plan-time.
    """
    own = [*LOCAL_HOSTS, options.p2p_host, options.node_host, *options.load_balancer_hosts]
    fixed: list[str] = []
    for host in own:
        if host not in fixed:
            fixed.append(host)
    consumer = options.host_allowlist
    if isinstance(consumer, PlanValue):
        return ",".join(fixed) + consumer.expression
    return ",".join([*fixed, *(h for h in consumer if h not in fixed)])


def besu_command_line(options: BesuNodeOptions) -> tuple[str, ...]:
    """The arguments after ``besu`` for a validator node (deterministic order)."""
    internal = options.internal_apis or ()
    consumer = options.consumer_apis
    consumer_text = consumer.expression if isinstance(consumer, PlanValue) else ",".join(consumer)
    return (
        f"--genesis-file={options.genesis_file}",
        f"--data-path={options.data_path}",
        f"--data-storage-format={_plan_or_literal(options.data_storage_format)}",
        # FULL sync from genesis, stated; Besu then disables trie-log limiting (BONSAI) and says
        # so with a warning unless the option is set to false explicitly (BesuCommand, 25.11.0).
        "--sync-mode=FULL",
        "--bonsai-limit-trie-logs-enabled=false",
        f"--node-private-key-file={options.node_key_file}",
        # Peering: static DNS enodes, no discovery, names re-resolved when a node moves.
        f"--static-nodes-file={options.static_nodes_file}",
        "--discovery-enabled=false",
        "--Xdns-enabled=true",
        "--Xdns-update-enabled=true",
        "--nat-method=NONE",
        f"--p2p-host={options.p2p_host}",
        "--p2p-interface=0.0.0.0",
        f"--p2p-port={options.p2p_port}",
        # Free gas: the genesis sets zeroBaseFee; Besu's default minimum is 1000 wei.
        f"--min-gas-price={options.min_gas_price}",
        # Consumer JSON-RPC (reachable through the NLB).
        "--rpc-http-enabled=true",
        "--rpc-http-host=0.0.0.0",
        f"--rpc-http-port={options.rpc_http_port}",
        f"--rpc-http-api={consumer_text}",
        "--rpc-http-cors-origins=none",
        f"--host-allowlist={host_allowlist_value(options)}",
        # Internal JSON-RPC for the health checker (security group: health checker only).
        "--rpc-ws-enabled=true",
        "--rpc-ws-host=0.0.0.0",
        f"--rpc-ws-port={options.internal_ws_port}",
        f"--rpc-ws-api={','.join(internal)}",
        # Every call needs the health checker's token (JWT, RS256, signed in KMS): the upgrade's
        # "Authorization: Bearer" header, permissions per method (besu_stack/besu/internal_rpc.py).
        "--rpc-ws-authentication-enabled=true",
        f"--rpc-ws-authentication-jwt-public-key-file={options.rpc_token_public_key_file}",
        f"--rpc-ws-authentication-jwt-algorithm={TOKEN_ALGORITHM}",
        "--graphql-http-enabled=false",
        # Metrics (internal security group only).
        "--metrics-enabled=true",
        "--metrics-host=0.0.0.0",
        f"--metrics-port={options.metrics_port}",
        f"--logging={options.logging}",
    )
