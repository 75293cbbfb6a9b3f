"""The checker's token for the nodes' authenticated internal RPC: a JWT whose signature KMS makes.

Besu authenticates every call on the internal WebSocket port with a JWT from the upgrade
request's ``Authorization: Bearer <token>`` header, verified with the public key of the RPC
token key (facts of Besu 25.11.0, ``rpc_ws_authentication``; see
``besu_stack/besu/internal_rpc.py``). One token is made per run, just before the nodes are read:

* header ``{"alg": "RS256", "typ": "JWT"}``; claims ``exp`` (now + 120 s) and ``permissions``
  (exactly the methods the checker calls). No ``iat``: Vert.x refuses a token whose ``iat`` is
  ahead of the node's clock, with no leeway;
* the signing input ``base64url(header).base64url(claims)`` (JWS compact serialization,
  RFC 7515 section 7.1) goes to ``kms:Sign`` as a ``RAW`` message with
  ``RSASSA_PKCS1_V1_5_SHA_256``: KMS hashes it with SHA-256 and signs with the private key,
  which never leaves KMS; that is JWS ``RS256`` (RFC 7518 section 3.3). No crypto library and no
  key material in the function.

The token and its signature are never logged or returned; an error names only the AWS error
code. A failed signature fails the run (:class:`RpcTokenError`): without a token no node can be
read, and an unreadable node must not count as a failing one.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from besu_stack.besu.internal_rpc import (
    KMS_SIGNING_ALGORITHM,
    PERMISSIONS_CLAIM,
    TOKEN_ALGORITHM,
    TOKEN_LIFETIME_SECONDS,
)
from besu_stack.lambda_kernel.aws import CallGuard, OutOfTimeError, aws_client, error_code

from .errors import HealthCheckError
from .store import CHECKER_RETRIES

SIGN_CALLS = 1
"""AWS calls of one token (``kms:Sign``); the run's time budget pays for it before observing."""


class RpcTokenError(HealthCheckError):
    """KMS did not sign the run's token: no node can be read this run."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


class RpcTokenSigner:
    """Makes the checker's RPC tokens with ``kms:Sign`` on the RPC token key."""

    def __init__(
        self,
        kms: Any,
        key_arn: str,
        permissions: Sequence[str],
        lifetime_seconds: int = TOKEN_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not permissions:
            raise ValueError("RpcTokenSigner: a token must permit at least one method")
        self._kms = kms
        self._key_arn = key_arn
        self._permissions = list(permissions)
        self._lifetime = lifetime_seconds
        self._clock = clock

    @classmethod
    def from_boto3(
        cls, key_arn: str, permissions: Sequence[str], guard: CallGuard | None = None
    ) -> RpcTokenSigner:
        """A signer on a KMS client that tries once (like the checker's other clients)."""
        kms = aws_client("kms", retries=CHECKER_RETRIES)
        return cls(guard.wrap(kms) if guard is not None else kms, key_arn, permissions)

    def token(self) -> str:
        """A new token: ``exp`` a lifetime from now, the methods the checker calls."""
        header = {"alg": TOKEN_ALGORITHM, "typ": "JWT"}
        claims = {
            "exp": int(self._clock()) + self._lifetime,
            PERMISSIONS_CLAIM: self._permissions,
        }
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        try:
            answer = self._kms.sign(
                KeyId=self._key_arn,
                Message=signing_input.encode("ascii"),
                MessageType="RAW",
                SigningAlgorithm=KMS_SIGNING_ALGORITHM,
            )
        except (ClientError, BotoCoreError, OutOfTimeError) as exc:
            code = error_code(exc) or type(exc).__name__
            raise RpcTokenError(f"kms:Sign on the RPC token key failed: {code}") from exc
        return f"{signing_input}.{_b64url(bytes(answer['Signature']))}"

    def authorization(self) -> str:
        """The ``Authorization`` header value of a new token (``Bearer <token>``)."""
        return f"Bearer {self.token()}"
