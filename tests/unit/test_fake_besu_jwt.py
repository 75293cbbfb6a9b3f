"""The oracle itself: the fake Besu's WebSocket JWT authentication against Besu's own rules.

The rules are data extracted from Besu 25.11.0 and the vertx-auth 4.5.13 it pins
(``tests/data/besu_facts_25.11.0.json``, ``rpc_ws_authentication``); the permission vectors
below are those of Besu's own tests (``JsonRpcHttpServiceLoginTest`` and
``WebSocketServiceLoginTest`` with ``JsonRpcHttpService/auth.toml``, 25.11.0), so the fake is
checked against Besu's expectations, not against ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_besu import (
    ChainState,
    FakeBesuNode,
    WsAuthentication,
    check_invocation,
    facts,
    read_public_key,
)
from tests.support.tokens import LocalSigningKey, b64url

NOW = 1_700_000_000
AUTH = facts()["rpc_ws_authentication"]
UNAUTHORIZED = AUTH["refusals"]["unauthorized"]


@pytest.fixture(scope="module")
def key() -> LocalSigningKey:
    return LocalSigningKey()


@pytest.fixture(scope="module")
def auth(key: LocalSigningKey) -> WsAuthentication:
    return WsAuthentication(read_public_key(key.public_key_pem), clock=lambda: NOW)


def _claims(**extra: Any) -> dict[str, Any]:
    return {"permissions": ["eth:getBlockByNumber"], "exp": NOW + 60, **extra}


# --- Besu's own expectations ------------------------------------------------------------------

USER = ["fakePermission", "eth:blockNumber", "eth:subscribe", "web3:*"]
"""``[Users.user]`` of Besu's test ``JsonRpcHttpService/auth.toml``."""


@pytest.mark.parametrize(
    ("permissions", "method", "permitted"),
    [
        # JsonRpcHttpServiceLoginTest.checkJsonRpcMethodsAvailableWithGoodCredentialsAndPermissions
        (USER, "eth_blockNumber", True),
        (USER, "eth_accounts", False),
        (USER, "web3_clientVersion", True),
        (USER, "web3_sha3", True),
        (USER, "net_version", False),
        # ...ethSyncingUnauthorisedWithoutPermission
        (USER, "eth_syncing", False),
        # ...checkJsonRpcMethodsAvailableWithGoodCredentialsAndAllPermissions (adminuser)
        (["*:*"], "net_version", True),
        (["*:*"], "eth_accounts", True),
        # WebSocketServiceLoginTest.websocketServiceWithGoodHeaderAuthenticationToken
        (["eth:*"], "eth_subscribe", True),
    ],
)
def test_permissions_are_matched_as_besus_tests_expect(
    auth: WsAuthentication, permissions: list[str], method: str, permitted: bool
) -> None:
    assert auth.permitted({"permissions": permissions}, method) is permitted


def test_a_bad_bearer_token_is_answered_unauthorized_as_besus_test_expects(
    auth: WsAuthentication,
) -> None:
    """WebSocketServiceLoginTest.websocketServiceWithBadHeaderAuthenticationToken: the upgrade
    succeeds and the call is answered ``{"code":-40100,"message":"Unauthorized"}``."""
    node = FakeBesuNode(allowlist=["*"], ws_apis=("ETH",), ws_authentication=auth)
    claims = auth.user(WsAuthentication.token_of("Bearer badtoken"))
    answer = node.answer({"id": 1, "method": "eth_blockNumber"}, ("ETH",), auth, claims)
    assert answer == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -40100, "message": "Unauthorized"},
    }
    assert UNAUTHORIZED == {"code": -40100, "message": "Unauthorized"}


# --- tokens -----------------------------------------------------------------------------------


def test_a_token_signed_by_the_key_with_exp_in_the_future_authenticates(
    key: LocalSigningKey, auth: WsAuthentication
) -> None:
    assert auth.user(key.token(_claims())) == _claims()


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("another key", lambda key: LocalSigningKey().token(_claims())),
        ("expired: now >= exp (no leeway)", lambda key: key.token(_claims(exp=NOW))),
        ("no exp", lambda key: key.token({"permissions": ["eth:getBlockByNumber"]})),
        ("issued in the future", lambda key: key.token(_claims(iat=NOW + 1))),
        ("not yet valid", lambda key: key.token(_claims(nbf=NOW + 1))),
        ("alg none", lambda key: key.token(_claims(), {"alg": "none"})),
        ("alg RS512", lambda key: key.token(_claims(), {"alg": "RS512"})),
        ("no signature", lambda key: key.token(_claims()).rsplit(".", 1)[0] + "."),
        ("two segments", lambda key: key.token(_claims()).rsplit(".", 1)[0]),
        (
            "claims changed after signing",
            lambda key: ".".join(
                [
                    (parts := key.token(_claims()).split("."))[0],
                    b64url(json.dumps(_claims(permissions=["*:*"])).encode()),
                    parts[2],
                ]
            ),
        ),
        ("not a token", lambda key: "totallyunparseablenonsense"),
    ],
)
def test_a_token_besu_would_not_accept_authenticates_no_one(
    key: LocalSigningKey, auth: WsAuthentication, case: str, make: Any
) -> None:
    assert auth.user(make(key)) is None, case


def test_a_token_issued_now_is_accepted(key: LocalSigningKey, auth: WsAuthentication) -> None:
    """``iat > now + leeway`` refuses; ``iat == now`` does not (Vert.x ``User.expired``)."""
    assert auth.user(key.token(_claims(iat=NOW, nbf=NOW))) is not None


@pytest.mark.parametrize("header", [None, "", "bearer x", "Basic x", "Bearer"])
def test_only_the_exact_bearer_scheme_carries_a_token(header: str | None) -> None:
    """AuthenticationUtils: the value must start with "Bearer " exactly."""
    assert WsAuthentication.token_of(header) is None
    assert WsAuthentication.token_of("Bearer abc") == "abc"


def test_no_user_is_permitted_nothing_unless_the_method_is_exempt(auth: WsAuthentication) -> None:
    """DefaultAuthenticationService.isPermitted: no-auth methods skip the check."""
    assert not auth.permitted(None, "net_peerCount")
    exempt = WsAuthentication(auth.public_key, no_auth_methods=("net_peerCount",))
    assert exempt.permitted(None, "net_peerCount")
    assert not exempt.permitted(None, "net_version")


def test_unknown_and_not_enabled_methods_are_answered_before_the_permission_check(
    auth: WsAuthentication,
) -> None:
    """JsonRpcExecutor.validateMethodAvailability runs before AuthenticatedJsonRpcProcessor."""
    node = FakeBesuNode(allowlist=["*"], ws_authentication=auth, state=ChainState())
    refusals = AUTH["refusals"]
    apis = ("ETH", "NET", "IBFT")
    assert (
        node.answer({"id": 1, "method": "nope_nope"}, apis, auth, None)["error"]
        == (refusals["method_not_found"])
    )
    assert (
        node.answer({"id": 2, "method": "admin_peers"}, apis, auth, None)["error"]
        == (refusals["method_not_enabled"])
    )
    assert node.answer({"id": 3, "method": "ibft_proposeValidatorVote"}, apis, auth, None)[
        "error"
    ] == (UNAUTHORIZED)


# --- the command line -------------------------------------------------------------------------


def _base(tmp_path: Path) -> list[str]:
    key = tmp_path / "key"
    key.write_text("0x" + "4d" * 32 + "\n")
    return [f"--node-private-key-file={key}", "--p2p-host=10.0.0.1", "--rpc-ws-enabled=true"]


def test_authentication_without_a_key_or_credentials_file_is_refused(tmp_path: Path) -> None:
    """RpcWebsocketOptions.validate."""
    errors = check_invocation([*_base(tmp_path), "--rpc-ws-authentication-enabled=true"], {})
    assert errors == [AUTH["validation"]["errors"][0]]


def test_the_public_key_file_must_be_a_readable_pem_public_key(
    tmp_path: Path, key: LocalSigningKey
) -> None:
    """JWTAuthOptionsFactory.readPublicKey: a missing file cannot be read, a file without a PEM
    object is invalid; the label is not checked."""
    pem = tmp_path / "rpc.pem"
    option = f"--rpc-ws-authentication-jwt-public-key-file={pem}"
    arguments = [*_base(tmp_path), "--rpc-ws-authentication-enabled=true", option]
    assert check_invocation(arguments, {}) == [AUTH["public_key_file"]["errors"][1]]
    pem.write_text("not a pem file\n")
    assert check_invocation(arguments, {}) == [AUTH["public_key_file"]["errors"][0]]
    pem.write_bytes(key.public_key_pem.replace(b"PUBLIC KEY", b"ANYTHING"))
    assert check_invocation(arguments, {}) == []
    pem.write_bytes(key.public_key_pem)
    assert check_invocation(arguments, {}) == []
    assert check_invocation([*arguments, "--rpc-ws-authentication-jwt-algorithm=RS257"], {})


def test_the_authentication_a_command_line_configures(tmp_path: Path, key: LocalSigningKey) -> None:
    pem = tmp_path / "rpc.pem"
    pem.write_bytes(key.public_key_pem)
    arguments = [
        "--rpc-ws-authentication-enabled=true",
        f"--rpc-ws-authentication-jwt-public-key-file={pem}",
    ]
    configured = WsAuthentication.from_arguments(arguments)
    assert configured is not None and configured.algorithm == AUTH["default_algorithm"]
    assert configured.no_auth_methods == ()
    assert WsAuthentication.from_arguments(arguments[1:]) is None
