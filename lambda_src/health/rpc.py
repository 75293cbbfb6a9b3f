"""Reading a Besu node over JSON-RPC (HTTP, private network) with urllib3.

One run sends each node a single JSON-RPC batch:

* ``eth_getBlockByNumber("latest", false)``: head number and timestamp;
* ``net_peerCount``: peers;
* ``eth_syncing``: ``false`` or a sync-status object;
* ``ibft_getSignerMetrics`` or ``qbft_getSignerMetrics`` without parameters: for the last 100
  blocks, one object per validator ``{"address", "proposedBlockCount",
  "lastProposedBlockNumber"}`` (hex quantities; see the Besu private-network API reference).

urllib3 ships with botocore in the Lambda runtime, so the function needs no extra wheel. Only
APIs common to urllib3 1.26 and 2.x are used. Requests are never retried: a node that does not
answer within the timeout is unreachable for this run. Nodes are queried concurrently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3

from .decisions import Observation


@dataclass(frozen=True)
class NodeEndpoint:
    """Where one registered node answers admin JSON-RPC."""

    slot: int
    instance_id: str
    host: str | None
    port: int
    address: str | None

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL (IPv6 literals bracketed)."""
        host = self.host or ""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"


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


class BesuRpcClient:
    """Queries nodes' admin JSON-RPC; one shared, thread-safe urllib3 pool."""

    def __init__(
        self,
        signer_metrics_method: str,
        timeout_seconds: float,
        concurrency: int = 16,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._signer_method = signer_metrics_method
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)
        self._concurrency = concurrency
        self._pool = pool or urllib3.PoolManager(maxsize=2, retries=False)

    def _batch(self, url: str) -> dict[int, Any]:
        calls = [
            ("eth_getBlockByNumber", ["latest", False]),
            ("net_peerCount", []),
            ("eth_syncing", []),
            (self._signer_method, []),
        ]
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
                for index, (method, params) in enumerate(calls)
            ]
        ).encode()
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise RpcError(f"{type(exc).__name__}: {exc}") from exc
        if response.status != 200:
            raise RpcError(f"HTTP {response.status}")
        try:
            answers = json.loads(response.data)
        except ValueError as exc:
            raise RpcError(f"response is not JSON: {exc}") from exc
        if not isinstance(answers, list):
            raise RpcError("response is not a JSON-RPC batch")
        by_id: dict[int, Any] = {}
        for answer in answers:
            if isinstance(answer, dict) and isinstance(answer.get("id"), int):
                by_id[answer["id"]] = answer
        return by_id

    def observe(self, node: NodeEndpoint) -> Observation:
        """Read one node; an unreachable or malformed answer yields ``reachable=False``."""

        def unreachable(error: str) -> Observation:
            return Observation(
                slot=node.slot,
                instance_id=node.instance_id,
                reachable=False,
                address=node.address,
                error=error,
            )

        if not node.host:
            return unreachable("the registry item names no private IP or DNS name")
        try:
            answers = self._batch(node.url)
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
        """Read every node concurrently (at most ``concurrency`` at once), in input order."""
        if not nodes:
            return []
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(nodes))) as pool:
            return list(pool.map(self.observe, nodes))
