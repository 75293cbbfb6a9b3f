"""Reading a Besu node over JSON-RPC on WebSocket (private network) with ``websocket-client``.

The node's admin/consensus APIs (``ADMIN,ETH,NET`` and ``IBFT`` or ``QBFT``) are served by Besu's
WebSocket JSON-RPC server on the internal port (8547 by default; see
``besu_stack.besu.command_line``), which does not answer plain HTTP POSTs. One run opens one
WebSocket connection per node (``ws://<host>:<port>/``) and sends a single JSON-RPC batch as one
text message (a JSON array; Besu's WebSocket handler answers an array with an array):

* ``eth_getBlockByNumber("latest", false)``: head number and timestamp;
* ``net_peerCount``: peers;
* ``eth_syncing``: ``false`` or a sync-status object;
* ``ibft_getSignerMetrics`` or ``qbft_getSignerMetrics`` without parameters: for the last 100
  blocks, one object per validator ``{"address", "proposedBlockCount",
  "lastProposedBlockNumber"}`` (hex quantities; see the Besu private-network API reference).

Answers are matched by ``id``; messages without a known ``id`` (there are no subscriptions, but
a stray notification would be one) are skipped until the batch is answered.

Authentication: Besu's JWT authentication is on for this port (``besu_stack.besu.command_line``).
The upgrade request carries ``Authorization: Bearer <token>`` (Besu reads the token from that
header only, ``WebSocketService``, 25.11.0); :meth:`BesuRpcClient.observe_all` asks its token
source (``rpc_token.RpcTokenSigner``) once per run and sends the same token to every node. A call
the token does not permit is answered ``-40100 Unauthorized``, which makes the node unreachable
for this run like any other JSON-RPC error.

Where to connect: the registry item's ``private_ip``, else its ``dns_name``, else the host of its
``enode`` URL (the slot's stable DNS name in the private zone). Besu checks the ``Host`` header
of the WebSocket upgrade against ``--host-allowlist`` (``localhost``, ``127.0.0.1`` and the node's
own DNS name), so whenever a DNS name is known (``dns_name`` or the enode's host) it is sent as
the ``Host`` header, also when the connection goes to the private IP. No ``Origin`` header is
sent.

``websocket-client`` is a pure-Python wheel without dependencies, packaged into the zip from
``lambda_src/requirements.txt``. Every step (connect, handshake, send, each receive) has the same
short timeout and nothing is retried: a node that does not answer in time is unreachable for this
run. The connection is always closed. Nodes are queried concurrently.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import websocket

from besu_stack.besu.internal_rpc import BLOCK_BY_NUMBER, PEER_COUNT, SYNCING

from .decisions import Observation


def enode_host(enode: object) -> str | None:
    """The host of an ``enode://<id>@<host>:<port>`` URL (IPv6 unbracketed), else ``None``."""
    if not isinstance(enode, str) or not enode:
        return None
    try:
        parts = urlsplit(enode.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() != "enode" or not parts.username or not host:
        return None
    return host


def endpoint_hosts(
    private_ip: object, dns_name: object, enode: object
) -> tuple[str | None, str | None]:
    """``(connect_host, server_name)`` of a registry item.

    ``connect_host`` is ``private_ip``, else ``dns_name``, else the host of ``enode``;
    ``server_name`` (sent as the ``Host`` header) is ``dns_name``, else the enode's host, else
    ``None`` (the connect host is then used as the ``Host`` header).
    """

    def text(value: object) -> str | None:
        return value.strip() if isinstance(value, str) and value.strip() else None

    name = text(dns_name) or enode_host(enode)
    return text(private_ip) or name, name


@dataclass(frozen=True)
class NodeEndpoint:
    """Where one registered node answers admin JSON-RPC (WebSocket)."""

    slot: int
    instance_id: str
    host: str | None
    port: int
    address: str | None
    server_name: str | None = None
    """The node's DNS name, sent as the ``Host`` header (Besu's host allow-list admits it)."""

    @staticmethod
    def _bracketed(host: str) -> str:
        return f"[{host}]" if ":" in host and not host.startswith("[") else host

    @property
    def url(self) -> str:
        """The node's WebSocket JSON-RPC URL (IPv6 literals bracketed)."""
        return f"ws://{self._bracketed(self.host or '')}:{self.port}/"

    @property
    def host_header(self) -> str:
        """The ``Host`` header of the upgrade request: the DNS name when known."""
        return f"{self._bracketed(self.server_name or self.host or '')}:{self.port}"


class RpcError(Exception):
    """A node's answer was missing, late or malformed."""


def _quantity(value: object, what: str) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(f"{what} is not a hex quantity: {value!r}")


def parse_signer_metrics(result: object) -> dict[str, int | None]:
    """``{address (lower case): lastProposedBlockNumber or None}`` from signer metrics."""
    if not isinstance(result, list):
        raise RpcError("signer metrics result is not a list")
    metrics: dict[str, int | None] = {}
    for entry in result:
        if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
            raise RpcError(f"signer metrics entry without an address: {entry!r}")
        last = entry.get("lastProposedBlockNumber")
        count = entry.get("proposedBlockCount")
        proposed = count is None or _quantity(count, "proposedBlockCount") > 0
        metrics[entry["address"].lower()] = (
            _quantity(last, "lastProposedBlockNumber") if last is not None and proposed else None
        )
    return metrics


Connect = Callable[..., Any]
"""``websocket.create_connection`` or a stand-in with the same signature (tests)."""

_MAX_MESSAGES = 16
"""Messages read per node before giving up on the batch answer (stray notifications)."""


class BesuRpcClient:
    """Queries nodes' admin JSON-RPC over WebSocket; one short-lived connection per node."""

    def __init__(
        self,
        signer_metrics_method: str,
        timeout_seconds: float,
        concurrency: int = 16,
        connect: Connect | None = None,
        authorization: Callable[[], str] | None = None,
    ) -> None:
        """Set the signer metrics method, the per-step timeout and the token source.

        ``authorization`` makes the ``Authorization`` header value of a run (a new token each
        call); without one no header is sent.
        """
        self._signer_method = signer_metrics_method
        self._timeout = timeout_seconds
        self._concurrency = concurrency
        self._connect: Connect = connect or websocket.create_connection
        self._authorization = authorization

    def _calls(self) -> list[tuple[str, list[Any]]]:
        # The methods of besu_stack.besu.internal_rpc.checker_methods, which the token permits.
        return [
            (BLOCK_BY_NUMBER, ["latest", False]),
            (PEER_COUNT, []),
            (SYNCING, []),
            (self._signer_method, []),
        ]

    def _batch(self, node: NodeEndpoint, authorization: str | None) -> dict[int, Any]:
        calls = self._calls()
        request = json.dumps(
            [
                {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
                for index, (method, params) in enumerate(calls)
            ]
        )
        deadline = time.monotonic() + 2 * self._timeout
        options: dict[str, Any] = {}
        if authorization is not None:
            options["header"] = [f"Authorization: {authorization}"]
        try:
            connection = self._connect(
                node.url,
                timeout=self._timeout,
                host=node.host_header,
                suppress_origin=True,
                **options,
            )
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            raise RpcError(f"{type(exc).__name__}: {exc}") from exc
        try:
            connection.send(request)
            for _ in range(_MAX_MESSAGES):
                if time.monotonic() > deadline:
                    raise RpcError("WebSocketTimeoutException: no batch answer in time")
                answers = self._parse(connection.recv())
                if answers is not None:
                    return answers
            raise RpcError("no batch answer among the messages received")
        except (websocket.WebSocketException, OSError) as exc:
            raise RpcError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(websocket.WebSocketException, OSError):
                connection.close(timeout=min(self._timeout, 0.5))

    @staticmethod
    def _parse(message: object) -> dict[int, Any] | None:
        """The batch answer by ``id``; ``None`` for a message that is not it (skipped)."""
        if not isinstance(message, str | bytes) or not message:
            raise RpcError("the connection closed without an answer")
        try:
            decoded = json.loads(message)
        except ValueError as exc:
            raise RpcError(f"answer is not JSON: {exc}") from exc
        if isinstance(decoded, dict):
            if decoded.get("id") is None and "error" in decoded:
                # Besu answers a request it cannot parse with one error object (id null).
                error = decoded["error"]
                message_text = error.get("message") if isinstance(error, dict) else error
                raise RpcError(f"JSON-RPC error {message_text!r}")
            return None  # a notification or an unrelated single answer
        if not isinstance(decoded, list):
            raise RpcError("answer is not a JSON-RPC batch")
        by_id: dict[int, Any] = {}
        for answer in decoded:
            if isinstance(answer, dict) and isinstance(answer.get("id"), int):
                by_id[answer["id"]] = answer
        return by_id

    def authorization(self) -> str | None:
        """The ``Authorization`` header value for a run (a new token), else ``None``.

        ``None`` without a token source; the source's errors (``rpc_token.RpcTokenError``)
        propagate.
        """
        return self._authorization() if self._authorization is not None else None

    def observe(self, node: NodeEndpoint, authorization: str | None = None) -> Observation:
        """Read one node; an unreachable or malformed answer yields ``reachable=False``.

        ``authorization`` is the run's header value; without it one is made for this call.
        """
        if authorization is None:
            authorization = self.authorization()

        def unreachable(error: str) -> Observation:
            return Observation(
                slot=node.slot,
                instance_id=node.instance_id,
                reachable=False,
                address=node.address,
                error=error,
            )

        if not node.host:
            return unreachable("the registry item names no private IP, DNS name or enode")
        try:
            answers = self._batch(node, authorization)
            block = self._result(answers, 0, "eth_getBlockByNumber")
            if not isinstance(block, dict):
                raise RpcError("eth_getBlockByNumber returned no block")
            head = _quantity(block.get("number"), "block number")
            timestamp = _quantity(block.get("timestamp"), "block timestamp")
            peers = _quantity(self._result(answers, 1, "net_peerCount"), "peer count")
            syncing = self._result(answers, 2, "eth_syncing") is not False
        except RpcError as exc:
            return unreachable(str(exc))
        last_proposed: dict[str, int | None] = {}
        try:
            last_proposed = parse_signer_metrics(self._result(answers, 3, self._signer_method))
        except RpcError:
            # Participation is optional evidence: a node without the BFT API is still read.
            last_proposed = {}
        return Observation(
            slot=node.slot,
            instance_id=node.instance_id,
            reachable=True,
            head=head,
            head_timestamp=timestamp,
            peers=peers,
            syncing=syncing,
            address=node.address,
            last_proposed=last_proposed,
        )

    @staticmethod
    def _result(answers: dict[int, Any], index: int, method: str) -> Any:
        answer = answers.get(index)
        if answer is None:
            raise RpcError(f"{method}: no answer in the batch")
        if "error" in answer:
            error = answer["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise RpcError(f"{method}: JSON-RPC error {message!r}")
        return answer.get("result")

    def observe_all(self, nodes: Sequence[NodeEndpoint]) -> list[Observation]:
        """Read every node concurrently (at most ``concurrency`` at once), in input order.

        One token for the whole run, made before the first connection (one ``kms:Sign``).
        """
        if not nodes:
            return []
        authorization = self.authorization()
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(nodes))) as pool:
            return list(pool.map(lambda node: self.observe(node, authorization), nodes))
