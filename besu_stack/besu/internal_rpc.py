"""The internal JSON-RPC surface (WebSocket, port 8547): what the health checker may call there.

One list, read by both sides, so they cannot drift apart:

* the node's command line (:mod:`besu_stack.besu.command_line`) serves the API groups of these
  methods and nothing else, with Besu's JWT authentication on;
* the health checker (``lambda_src/health``) sends exactly these methods and signs tokens whose
  ``permissions`` claim names exactly these methods.

Besu's rules, as extracted from its source at 25.11.0 (``tests/data/besu_facts_25.11.0.json``,
``rpc_ws_authentication``; the token checks Besu delegates to Vert.x are read from
``eclipse-vertx/vertx-auth`` at 4.5.13, the version Besu's ``platform/build.gradle`` pins):

* a method's permissions are ``*:*``, ``<namespace>:*`` and the method name with ``_`` replaced
  by ``:`` (``JsonRpcMethod.getPermissions``); a call is permitted when the token's
  ``permissions`` claim holds one of them exactly (``PermissionBasedAuthorizationImpl.verify``,
  string equality). The checker's claim is the third form only, one entry per method, so the
  consensus group's other methods (``*_proposeValidatorVote`` among them) are refused with
  ``-40100 Unauthorized`` even though the group is served;
* a token without ``exp`` authenticates no one (``DefaultAuthenticationService``), and one is
  refused once ``now >= exp``, or while ``iat`` or ``nbf`` lie in the future, with no leeway
  (Vert.x ``User.expired``, ``JWTOptions`` leeway 0). The checker's tokens carry ``exp`` and no
  ``iat``: an ``iat`` a fraction of a second ahead of a node's clock would be refused;
* ``RS256`` is the algorithm Besu verifies by default (``DefaultCommandValues``); it is
  RSASSA-PKCS1-v1_5 with SHA-256 (Vert.x ``JWS``: ``SHA256withRSA``), which AWS KMS calls
  ``RSASSA_PKCS1_V1_5_SHA_256`` (RFC 7518, section 3.3; KMS ``Sign``, SigningAlgorithm).

Pure Python, no dependency: the health checker's package carries this module.
"""

from __future__ import annotations

from besu_stack.besu.protocol import Protocol, check_protocol

BLOCK_BY_NUMBER = "eth_getBlockByNumber"
"""Head number and timestamp: ``eth_getBlockByNumber("latest", false)``."""
PEER_COUNT = "net_peerCount"
SYNCING = "eth_syncing"
SIGNER_METRICS: dict[Protocol, str] = {
    "ibft2": "ibft_getSignerMetrics",
    "qbft": "qbft_getSignerMetrics",
}
"""Validator participation over the last 100 blocks, by consensus protocol."""

TOKEN_ALGORITHM = "RS256"  # noqa: S105 (an algorithm name)
"""The JWS algorithm of the checker's tokens and of ``--rpc-ws-authentication-jwt-algorithm``."""
KMS_SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
"""The same algorithm in AWS KMS's words (the RPC token key signs with it, and with no other)."""
TOKEN_LIFETIME_SECONDS = 120
"""``exp`` is this long after the token is made: a run lasts at most 50 s and Besu checks the
token on every message; a copy a node could replay to another node is useless two minutes
later, and could only read anyway."""
PERMISSIONS_CLAIM = "permissions"
"""The claim Besu reads a token's permissions from (Vert.x ``JWTAuthOptions`` default)."""


def signer_metrics_method(protocol: str) -> str:
    """``ibft_getSignerMetrics`` or ``qbft_getSignerMetrics``."""
    return SIGNER_METRICS[check_protocol(protocol)]


def checker_methods(protocol: str) -> tuple[str, ...]:
    """Every method the health checker calls on a node of ``protocol``, in its batch order."""
    return (BLOCK_BY_NUMBER, PEER_COUNT, SYNCING, signer_metrics_method(protocol))


def api_group(method: str) -> str:
    """The Besu API group serving ``method``: its namespace (before the first ``_``) in capitals.

    True of the groups used here (``RpcApis`` ETH, NET, IBFT, QBFT).
    """
    namespace, separator, name = method.partition("_")
    if not separator or not namespace or not name:
        raise ValueError(f"not a JSON-RPC method name <namespace>_<name>: {method!r}")
    return namespace.upper()


def internal_api_groups(protocol: str) -> tuple[str, ...]:
    """The API groups of 8547: those of :func:`checker_methods`, in order, each once."""
    groups: list[str] = []
    for method in checker_methods(protocol):
        group = api_group(method)
        if group not in groups:
            groups.append(group)
    return tuple(groups)


def method_permission(method: str) -> str:
    """The permission naming exactly ``method`` (``eth_syncing``: ``eth:syncing``)."""
    api_group(method)
    return method.replace("_", ":")


def checker_permissions(protocol: str) -> tuple[str, ...]:
    """The ``permissions`` claim of the checker's tokens: one exact entry per method it calls."""
    return tuple(method_permission(method) for method in checker_methods(protocol))
