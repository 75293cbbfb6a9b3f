"""The checker's RPC token: made as Besu verifies it, one per run, never logged.

A local RSA key stands in for KMS here (``tests/support/tokens.py``: the signature KMS returns
for ``RSASSA_PKCS1_V1_5_SHA_256`` over a RAW message is RSASSA-PKCS1-v1_5 with SHA-256 of that
message); the token is then held against the fake Besu's rules, which are Besu's and Vert.x's
(``tests/data/besu_facts_25.11.0.json``). The same path against moto's KMS is in
``tests/lambdas/test_health_checker.py`` and ``tests/synth/test_node_conformance.py``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from besu_stack.besu.internal_rpc import (
    KMS_SIGNING_ALGORITHM,
    TOKEN_LIFETIME_SECONDS,
    checker_methods,
    checker_permissions,
)
from besu_stack.lambda_kernel.aws import OutOfTimeError
from lambda_src.health.rpc import BesuRpcClient, NodeEndpoint
from lambda_src.health.rpc_token import RpcTokenError, RpcTokenSigner
from tests.support.fake_besu import WsAuthentication, read_public_key
from tests.support.tokens import LocalSigningKey

NOW = 1_700_000_000
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/rpc"


class FakeKms:
    """``kms.sign`` with a local key; records every request."""

    def __init__(self, key: LocalSigningKey, error: BaseException | None = None) -> None:
        self.key = key
        self.error = error
        self.requests: list[dict[str, Any]] = []

    def sign(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return {"KeyId": request["KeyId"], "Signature": self.key.sign(request["Message"])}


@pytest.fixture(scope="module")
def key() -> LocalSigningKey:
    return LocalSigningKey()


def _signer(kms: FakeKms, protocol: str = "qbft") -> RpcTokenSigner:
    return RpcTokenSigner(kms, KEY_ARN, checker_permissions(protocol), clock=lambda: NOW + 0.9)


def _claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=="))
    return decoded


@pytest.mark.parametrize("protocol", ["ibft2", "qbft"])
def test_the_token_is_one_besu_accepts_for_exactly_the_checkers_methods(
    key: LocalSigningKey, protocol: str
) -> None:
    kms = FakeKms(key)
    token = _signer(kms, protocol).token()
    besu = WsAuthentication(read_public_key(key.public_key_pem), clock=lambda: NOW + 1)
    claims = besu.user(token)
    assert claims is not None, "the fake Besu refused the checker's token"
    assert claims == {
        "exp": NOW + TOKEN_LIFETIME_SECONDS,
        "permissions": list(claims["permissions"]),
    }
    assert "iat" not in claims and "nbf" not in claims
    for method in checker_methods(protocol):
        assert besu.permitted(claims, method), method
    consensus = checker_methods(protocol)[-1].split("_")[0]
    for method in (f"{consensus}_proposeValidatorVote", "eth_sendRawTransaction", "admin_peers"):
        assert not besu.permitted(claims, method), method
    # Expired once the lifetime is over (Vert.x: now >= exp, no leeway).
    later = WsAuthentication(besu.public_key, clock=lambda: NOW + TOKEN_LIFETIME_SECONDS)
    assert later.user(token) is None


def test_kms_signs_the_raw_signing_input_with_rs256s_algorithm(key: LocalSigningKey) -> None:
    kms = FakeKms(key)
    token = _signer(kms).token()
    (request,) = kms.requests
    assert request["KeyId"] == KEY_ARN
    assert request["MessageType"] == "RAW"
    assert request["SigningAlgorithm"] == KMS_SIGNING_ALGORITHM == "RSASSA_PKCS1_V1_5_SHA_256"
    assert request["Message"] == token.rsplit(".", 1)[0].encode()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RS256", "typ": "JWT"}
    assert len(request["Message"]) <= 4096  # the KMS Sign limit for a RAW message


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "Sign"),
        OutOfTimeError("no time left"),
    ],
)
def test_a_failed_signature_fails_the_run_naming_only_the_error_code(
    key: LocalSigningKey, error: BaseException
) -> None:
    with pytest.raises(RpcTokenError, match="kms:Sign on the RPC token key failed") as raised:
        _signer(FakeKms(key, error)).token()
    assert "not allowed" not in str(raised.value)


class RecordingConnection:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    def send(self, payload: str) -> None:
        pass

    def recv(self) -> str:
        return self.reply

    def close(self, timeout: float = 3) -> None:
        pass


def test_one_token_per_run_is_sent_to_every_node_as_a_bearer_header(
    key: LocalSigningKey,
) -> None:
    kms = FakeKms(key)
    signer = _signer(kms)
    connects: list[dict[str, Any]] = []

    def connect(url: str, **options: Any) -> RecordingConnection:
        connects.append(options)
        return RecordingConnection(json.dumps([]))

    client = BesuRpcClient(
        "qbft_getSignerMetrics", 0.5, connect=connect, authorization=signer.authorization
    )
    nodes = [NodeEndpoint(slot, f"i-{slot}", f"10.0.0.{slot}", 8547, None) for slot in range(5)]
    client.observe_all(nodes)
    assert len(kms.requests) == 1
    headers = {tuple(options["header"]) for options in connects}
    assert len(connects) == 5 and len(headers) == 1
    ((value,),) = headers
    name, _, bearer = value.partition(": ")
    assert name == "Authorization" and bearer.startswith("Bearer ")
    assert WsAuthentication.token_of(bearer) is not None


def test_no_token_no_node_contacted_when_kms_fails(key: LocalSigningKey) -> None:
    error = ClientError({"Error": {"Code": "KMSInvalidStateException", "Message": "x"}}, "Sign")
    signer = _signer(FakeKms(key, error))
    connects: list[str] = []

    def connect(url: str, **options: Any) -> RecordingConnection:
        connects.append(url)
        return RecordingConnection("[]")

    client = BesuRpcClient(
        "qbft_getSignerMetrics", 0.5, connect=connect, authorization=signer.authorization
    )
    with pytest.raises(RpcTokenError, match="KMSInvalidStateException"):
        client.observe_all([NodeEndpoint(0, "i-0", "10.0.0.1", 8547, None)])
    assert connects == []
