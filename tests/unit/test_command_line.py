"""The validator's Besu command line (pure, no AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from besu_stack.besu import BesuNodeOptions, besu_command_line
from besu_stack.besu.command_line import (
    PRIVILEGED_APIS,
    RUNTIME_LOAD_BALANCER_IPS,
    RUNTIME_NODE_HOST,
    RUNTIME_PRIVATE_IP,
    PlanValue,
)
from besu_stack.besu.internal_rpc import (
    TOKEN_ALGORITHM,
    checker_methods,
    checker_permissions,
    internal_api_groups,
)
from tests.support.fake_besu import facts

HOST = "validator-2.testnet.internal"
IP = "10.0.1.23"
NEVER_ON_CONSUMER_PORT = {"ADMIN", "IBFT", "QBFT", "TXPOOL", "DEBUG", "PERM"}


def flags(args: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for arg in args:
        assert arg.startswith("--") and "=" in arg, arg
        name, value = arg.split("=", 1)
        assert name not in parsed, f"{name} given twice"
        parsed[name] = value
    return parsed


def options(**overrides: Any) -> BesuNodeOptions:
    values: dict[str, Any] = {
        "protocol": "qbft",
        "p2p_host": IP,
        "node_host": HOST,
        "load_balancer_hosts": ("10.0.0.5",),
        "data_storage_format": "BONSAI",
    }
    values.update(overrides)
    return BesuNodeOptions(**values)


@pytest.mark.parametrize(("protocol", "consensus"), [("ibft2", "IBFT"), ("qbft", "QBFT")])
def test_command_line_for_each_protocol(protocol: str, consensus: str) -> None:
    args = flags(besu_command_line(options(protocol=protocol)))
    assert args["--genesis-file"] == "/etc/besu/genesis.json"
    assert args["--data-path"] == "/var/lib/besu/data"
    assert args["--node-private-key-file"] == "/run/besu/key"
    assert args["--data-storage-format"] == "BONSAI"
    assert args["--static-nodes-file"] == "/etc/besu/static-nodes.json"
    assert args["--p2p-host"] == IP
    assert args["--p2p-port"] == "30303"
    assert args["--discovery-enabled"] == "false"
    assert args["--Xdns-enabled"] == "true"
    assert args["--Xdns-update-enabled"] == "true"
    assert args["--rpc-http-enabled"] == "true"
    assert args["--rpc-http-port"] == "8545"
    assert args["--rpc-http-api"] == "ETH,NET,WEB3"
    assert args["--rpc-http-cors-origins"] == "none"
    assert args["--host-allowlist"] == f"localhost,127.0.0.1,{IP},{HOST},10.0.0.5"
    assert args["--rpc-ws-enabled"] == "true"
    assert args["--rpc-ws-port"] == "8547"
    # What lambda_src/health/rpc.py calls: eth_*, net_peerCount, <ibft|qbft>_getSignerMetrics.
    assert args["--rpc-ws-api"] == f"ETH,NET,{consensus}"
    assert args["--rpc-ws-authentication-enabled"] == "true"
    assert args["--rpc-ws-authentication-jwt-public-key-file"] == "/etc/besu/rpc-token-key.pem"
    assert args["--rpc-ws-authentication-jwt-algorithm"] == "RS256"
    assert args["--min-gas-price"] == "0"
    assert args["--sync-mode"] == "FULL"
    assert args["--bonsai-limit-trie-logs-enabled"] == "false"
    assert args["--metrics-enabled"] == "true"
    assert args["--metrics-port"] == "9545"
    assert args["--logging"] == "INFO"
    consumer = set(args["--rpc-http-api"].split(","))
    assert not consumer & NEVER_ON_CONSUMER_PORT


def test_deterministic_and_explicit_options() -> None:
    opts = options(
        protocol="ibft2",
        data_storage_format="FOREST",
        p2p_port=30304,
        logging="DEBUG",
        consumer_apis=["eth", "net"],
        host_allowlist=("rpc.example.internal",),
    )
    assert besu_command_line(opts) == besu_command_line(opts)
    args = flags(besu_command_line(opts))
    assert args["--data-storage-format"] == "FOREST"
    assert args["--p2p-port"] == "30304"
    assert args["--logging"] == "DEBUG"
    assert args["--rpc-http-api"] == "ETH,NET"
    assert (
        args["--host-allowlist"] == f"localhost,127.0.0.1,{IP},{HOST},10.0.0.5,rpc.example.internal"
    )


@pytest.mark.parametrize("api", sorted(PRIVILEGED_APIS))
@pytest.mark.parametrize("protocol", ["ibft2", "qbft"])
def test_consumer_api_never_privileged(api: str, protocol: str) -> None:
    with pytest.raises(ValueError, match=rf"consumer_apis must not include {api}"):
        options(protocol=protocol, consumer_apis=("ETH", api.lower()))


def test_privileged_set_covers_the_brief() -> None:
    assert NEVER_ON_CONSUMER_PORT <= PRIVILEGED_APIS


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"protocol": "clique"}, "protocol"),
        ({"p2p_host": "bad host!"}, "p2p_host"),
        ({"p2p_host": ""}, "p2p_host"),
        ({"p2p_host": HOST}, "p2p_host"),
        ({"p2p_host": "localhost"}, "p2p_host"),
        ({"node_host": "bad host!"}, "node_host"),
        ({"min_gas_price": -1}, "min_gas_price"),
        ({"min_gas_price": True}, "min_gas_price"),
        ({"load_balancer_hosts": ("*",)}, "load_balancer_hosts"),
        ({"data_storage_format": "bonsai"}, "data_storage_format"),
        ({"data_storage_format": None}, "data_storage_format"),
        ({"logging": "VERBOSE"}, "logging"),
        ({"genesis_file": "genesis.json"}, "genesis_file"),
        ({"data_path": "/var/lib/../besu"}, "data_path"),
        ({"static_nodes_file": "/etc/besu/static nodes.json"}, "static_nodes_file"),
        ({"node_key_file": "/var/lib/besu/data/key"}, "node_key_file"),
        ({"rpc_token_public_key_file": "key.pem"}, "rpc_token_public_key_file"),
        ({"rpc_token_public_key_file": "/run/besu/key"}, "rpc_token_public_key_file"),
        ({"rpc_token_public_key_file": "/etc/besu/genesis.json"}, "genesis_file"),
        ({"p2p_port": 0}, "p2p_port"),
        ({"rpc_http_port": 70000}, "rpc_http_port"),
        ({"metrics_port": True}, "metrics_port"),
        ({"internal_ws_port": 8545}, "internal_ws_port"),
        ({"consumer_apis": ()}, "consumer_apis"),
        ({"consumer_apis": "ETH,NET"}, "consumer_apis"),
        ({"consumer_apis": ("ETH", "NOPE")}, "consumer_apis"),
        ({"consumer_apis": ("ETH", "ETH")}, "consumer_apis"),
        ({"internal_apis": ("ADMIN", "IBFT")}, "internal_apis"),
        ({"host_allowlist": ("*",)}, "host_allowlist"),
        ({"host_allowlist": ("bad_host",)}, "host_allowlist"),
        ({"extra_flags": ("--rpc-http-api=ADMIN",)}, "extra_flags"),
    ],
)
def test_bad_inputs_fail_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        options(**overrides)


def test_p2p_host_refuses_a_dns_name_as_besu_does() -> None:
    """Defect 2 of issue 11: P2PDiscoveryOptions (25.11.0) accepts only an IP address
    ("The provided --p2p-host is invalid"); P2PDiscoveryOptionsTest rejects "localhost"."""
    with pytest.raises(ValueError, match="p2p_host must be an IP address"):
        options(p2p_host=HOST)


def test_defaults_leave_runtime_values_to_the_entry_point() -> None:
    args = flags(besu_command_line(BesuNodeOptions(protocol="ibft2")))
    assert args["--p2p-host"] == RUNTIME_PRIVATE_IP
    assert args["--host-allowlist"] == (
        f"localhost,127.0.0.1,{RUNTIME_PRIVATE_IP},{RUNTIME_NODE_HOST},{RUNTIME_LOAD_BALANCER_IPS}"
    )


def test_no_admin_api_anywhere_by_default() -> None:
    """Defect 10 of issue 11: nothing calls ADMIN; the health checker's methods are ETH, NET and
    the consensus group's signer metrics (lambda_src/health/rpc.py)."""
    args = flags(besu_command_line(options()))
    assert "ADMIN" not in args["--rpc-ws-api"] + args["--rpc-http-api"]


def test_plan_values_are_rendered_as_given() -> None:
    args = flags(
        besu_command_line(
            options(
                consumer_apis=PlanValue("${local.apis}", "rpc_consumer_apis"),
                data_storage_format=PlanValue("${var.fmt}", "besu_data_storage_format"),
                host_allowlist=PlanValue("${local.hosts}", "rpc_host_allowlist"),
            )
        )
    )
    assert args["--rpc-http-api"] == "${local.apis}"
    assert args["--data-storage-format"] == "${var.fmt}"
    assert args["--host-allowlist"].endswith("10.0.0.5${local.hosts}")


def test_plan_value_names_its_validation() -> None:
    with pytest.raises(ValueError, match="checked_by"):
        PlanValue("${var.x}", "")


def test_the_internal_port_authenticates_every_call_with_the_checkers_key() -> None:
    """Besu's WebSocket JWT options (RpcWebsocketOptions, 25.11.0, via the facts): enabled, the
    PEM public key file, the algorithm stated although RS256 is the default, and no method
    exempt (--rpc-ws-api-methods-no-auth absent)."""
    auth = facts()["rpc_ws_authentication"]
    args = flags(besu_command_line(options()))
    names = auth["options"]
    assert args[names["enabled"]] == "true"
    assert args[names["public_key_file"]] == "/etc/besu/rpc-token-key.pem"
    assert args[names["algorithm"]] == auth["default_algorithm"] == TOKEN_ALGORITHM
    assert names["no_auth_methods"] not in args and names["credentials_file"] not in args
    assert auth["no_auth_methods_default"] == []


@pytest.mark.parametrize("protocol", ["ibft2", "qbft"])
def test_the_internal_groups_are_those_of_the_checkers_methods(protocol: str) -> None:
    """One list (besu_stack/besu/internal_rpc.py) gives the served groups and the token's
    permissions; each permission is the exact form Besu derives from a method name
    (JsonRpcMethod.getPermissions, 25.11.0: the name with '_' replaced by ':')."""
    args = flags(besu_command_line(options(protocol=protocol)))
    methods = checker_methods(protocol)
    assert tuple(args["--rpc-ws-api"].split(",")) == internal_api_groups(protocol)
    assert {m.split("_", 1)[0].upper() for m in methods} == set(internal_api_groups(protocol))
    assert checker_permissions(protocol) == tuple(m.replace("_", ":") for m in methods)
    assert all(not p.endswith(":*") for p in checker_permissions(protocol))
