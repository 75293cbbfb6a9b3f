"""The one list of the internal RPC surface: the checker's methods, groups and permissions."""

from __future__ import annotations

import pytest

from besu_stack.besu.internal_rpc import (
    api_group,
    checker_methods,
    checker_permissions,
    internal_api_groups,
    method_permission,
    signer_metrics_method,
)
from lambda_src.health.rpc import BesuRpcClient


@pytest.mark.parametrize(
    ("protocol", "signer", "groups"),
    [
        ("ibft2", "ibft_getSignerMetrics", ("ETH", "NET", "IBFT")),
        ("qbft", "qbft_getSignerMetrics", ("ETH", "NET", "QBFT")),
    ],
)
def test_each_protocol_has_its_signer_metrics_and_group(
    protocol: str, signer: str, groups: tuple[str, ...]
) -> None:
    assert signer_metrics_method(protocol) == signer
    assert checker_methods(protocol)[-1] == signer
    assert internal_api_groups(protocol) == groups
    assert checker_permissions(protocol) == (
        "eth:getBlockByNumber",
        "net:peerCount",
        "eth:syncing",
        signer.replace("_", ":"),
    )


@pytest.mark.parametrize("protocol", ["ibft2", "qbft"])
def test_the_checker_sends_exactly_the_listed_methods(protocol: str) -> None:
    """The client's batch is built from the same list the token's permissions come from."""
    client = BesuRpcClient(signer_metrics_method(protocol), timeout_seconds=1)
    assert tuple(method for method, _ in client._calls()) == checker_methods(protocol)


@pytest.mark.parametrize("name", ["eth", "_syncing", "eth_", ""])
def test_a_name_without_a_namespace_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        api_group(name)
    with pytest.raises(ValueError, match="namespace"):
        method_permission(name)


def test_an_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="protocol must be one of"):
        signer_metrics_method("clique")
