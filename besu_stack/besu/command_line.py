"""The Besu command line of a validator node: a pure function of typed, validated options.

The node serves two JSON-RPC surfaces, because Besu has exactly one HTTP JSON-RPC server and one
WebSocket JSON-RPC server, each with one API list:

* **Consumer RPC, HTTP on 8545** (behind the NLB and PrivateLink): read/transact APIs only,
  ``ETH,NET,WEB3`` by default. The API groups that administer or steer the node (``ADMIN``,
  ``DEBUG``, ``TXPOOL``, ``PERM``, ``MINER``, ``PLUGINS``, the consensus groups ``IBFT``,
  ``QBFT`` and ``CLIQUE`` whose ``*_proposeValidatorVote`` changes the validator set, and the
  private-transaction groups) are refused here with a :class:`ValueError`.
* **Internal RPC, WebSocket on 8547**: ``ADMIN,ETH,NET`` and the consensus group of the network's
  protocol, for the deep health checker. The NLB never forwards this port; the security group
  admits it from the health checker's security group only. Besu's consumer WebSocket is therefore
  not available (the WebSocket server is taken by the internal surface).

``--host-allowlist`` (checked for HTTP and WebSocket) is closed by default: ``localhost``,
``127.0.0.1`` and the node's own stable DNS name (which the health checker connects to); consumer
endpoint names must be added explicitly. CORS is off (``none``).

Peering uses a static-nodes file of DNS enode URLs with discovery off, and DNS resolution on
(``--Xdns-enabled``/``--Xdns-update-enabled``) so a replaced node is found at its new address.
The node key file lives outside the data path (on a root-only tmpfs, by the host contract), so
it never lands on the data volume or its snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from besu_stack.besu.extra_data import Protocol, check_protocol
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
DEFAULT_HOST_ALLOWLIST: tuple[str, ...] = ("localhost", "127.0.0.1")

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


@dataclass(frozen=True)
class BesuNodeOptions:
    """What a validator's Besu command line is built from.

    Paths are paths inside the container. The defaults match the host bootstrap contract
    (docs/replacement.md): genesis and static nodes under ``/etc/besu``, chain data on the
    slot's EBS volume mounted at ``/var/lib/besu``, the node key on the root-only tmpfs
    ``/run/besu``.
    """

    protocol: Protocol
    p2p_host: str
    """The node's stable DNS name (``validator-<slot>.<domain>``), advertised to peers."""
    data_storage_format: DataStorageFormat
    """``BONSAI`` or ``FOREST``; always written so a Besu upgrade never changes it silently."""
    genesis_file: str = "/etc/besu/genesis.json"
    static_nodes_file: str = "/etc/besu/static-nodes.json"
    data_path: str = "/var/lib/besu/data"
    node_key_file: str = "/run/besu/key"
    p2p_port: int = DEFAULT_P2P_PORT
    rpc_http_port: int = DEFAULT_RPC_HTTP_PORT
    consumer_apis: tuple[str, ...] = DEFAULT_CONSUMER_APIS
    internal_ws_port: int = DEFAULT_INTERNAL_WS_PORT
    internal_apis: tuple[str, ...] | None = None
    """API groups of the internal WebSocket surface; ``ADMIN,ETH,NET,<IBFT|QBFT>`` by default."""
    host_allowlist: tuple[str, ...] = DEFAULT_HOST_ALLOWLIST
    """Accepted ``Host`` headers; the node's own ``p2p_host`` is always added."""
    metrics_port: int = DEFAULT_METRICS_PORT
    logging: LogLevel = "INFO"
    extra_flags: tuple[str, ...] = field(default=())
    """Reserved for reviewed additions; must be empty (a guard against ad-hoc flags)."""

    def __post_init__(self) -> None:
        try:
            protocol = check_protocol(self.protocol)
        except ValueError as exc:
            raise ValueError(f"protocol: {exc}") from exc
        object.__setattr__(self, "protocol", protocol)
        object.__setattr__(self, "p2p_host", _check_host("p2p_host", self.p2p_host))
        fmt = self.data_storage_format
        if fmt not in DATA_STORAGE_FORMATS:
            raise ValueError(
                f"data_storage_format must be one of {', '.join(DATA_STORAGE_FORMATS)}, got {fmt!r}"
            )
        if self.logging not in LOG_LEVELS:
            raise ValueError(
                f"logging must be one of {', '.join(LOG_LEVELS)}, got {self.logging!r}"
            )
        paths = {
            name: _check_path(name, getattr(self, name))
            for name in ("genesis_file", "static_nodes_file", "data_path", "node_key_file")
        }
        key = PurePosixPath(paths["node_key_file"])
        data = PurePosixPath(paths["data_path"])
        if key == data or data in key.parents:
            raise ValueError(
                f"node_key_file {key} must not be inside data_path {data}: the key would be "
                "written to the data volume and its snapshots"
            )
        ports = {
            name: _check_port(name, getattr(self, name))
            for name in ("p2p_port", "rpc_http_port", "internal_ws_port", "metrics_port")
        }
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise ValueError(f"{name} {port} is also {seen[port]}; every port must differ")
            seen[port] = name
        consumer = _check_apis("consumer_apis", self.consumer_apis)
        privileged = sorted(set(consumer) - CONSUMER_SAFE_APIS)
        if privileged:
            raise ValueError(
                f"consumer_apis must not include {', '.join(privileged)}: the consumer port is "
                "reachable through the NLB; allowed: "
                f"{', '.join(sorted(CONSUMER_SAFE_APIS))}"
            )
        object.__setattr__(self, "consumer_apis", consumer)
        own = _CONSENSUS_API[protocol]
        internal = (
            ("ADMIN", "ETH", "NET", own)
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
        allowlist: object = self.host_allowlist
        if isinstance(allowlist, str) or not isinstance(allowlist, Sequence):
            raise ValueError(f"host_allowlist must be a list of host names, got {allowlist!r}")
        hosts: list[str] = []
        for host in (*allowlist, self.p2p_host):
            if host in ("*", "all"):
                raise ValueError(
                    "host_allowlist must not contain '*' or 'all'; list the consumer endpoint "
                    "DNS names instead"
                )
            checked = _check_host("host_allowlist", host)
            if checked not in hosts:
                hosts.append(checked)
        object.__setattr__(self, "host_allowlist", tuple(hosts))
        if self.extra_flags:
            raise ValueError("extra_flags must be empty: add reviewed options to BesuNodeOptions")


def besu_command_line(options: BesuNodeOptions) -> tuple[str, ...]:
    """The arguments after ``besu`` for a validator node (deterministic order)."""
    internal = options.internal_apis or ()
    return (
        f"--genesis-file={options.genesis_file}",
        f"--data-path={options.data_path}",
        f"--data-storage-format={options.data_storage_format}",
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
        # Consumer JSON-RPC (reachable through the NLB).
        "--rpc-http-enabled=true",
        "--rpc-http-host=0.0.0.0",
        f"--rpc-http-port={options.rpc_http_port}",
        f"--rpc-http-api={','.join(options.consumer_apis)}",
        "--rpc-http-cors-origins=none",
        f"--host-allowlist={','.join(options.host_allowlist)}",
        # Internal JSON-RPC for the health checker (security group: health checker only).
        "--rpc-ws-enabled=true",
        "--rpc-ws-host=0.0.0.0",
        f"--rpc-ws-port={options.internal_ws_port}",
        f"--rpc-ws-api={','.join(internal)}",
        "--graphql-http-enabled=false",
        # Metrics (internal security group only).
        "--metrics-enabled=true",
        "--metrics-host=0.0.0.0",
        f"--metrics-port={options.metrics_port}",
        f"--logging={options.logging}",
    )
