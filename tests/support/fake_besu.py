"""A small fake Besu that applies Besu's own rules, read from ``tests/data/besu_facts_<tag>.json``.

Three parts, each citing the Besu 25.11.0 source its rule mirrors (the data file records the
source file of every fact; ``tools/extract_besu_facts.py`` regenerates it from the mirror):

* :func:`check_invocation`: the command-line and environment rules (an unknown option, a value
  missing or not of the option's enum, a boolean that is not true/false, a DNS name for
  ``--p2p-host``, a key file Besu would not read or would replace), with Besu's messages. It runs
  as the ``besu`` command stand-in too (``python -m tests.support.fake_besu``): the entry point's
  ``public-key export-address`` and the final ``exec`` meet the same rules.
* :class:`FakeBesuNode`: Besu's HTTP JSON-RPC server (``/``, ``/liveness``, ``/readiness`` and
  JSON-RPC ``POST /``) and WebSocket server, each behind the host allow-list on every request,
  with Besu's readiness and liveness semantics and the methods the deep health checker calls,
  gated by the enabled API groups.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FACTS_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_TAG = "25.11.0"


@cache
def facts(tag: str = DEFAULT_TAG) -> dict[str, Any]:
    """The facts extracted from Besu's source at ``tag``."""
    loaded: dict[str, Any] = json.loads(
        (FACTS_DIR / f"besu_facts_{tag}.json").read_text(encoding="utf-8")
    )
    return loaded


# --- command line and environment ----------------------------------------------------------


def _split(argument: str) -> tuple[str, str | None]:
    name, sep, value = argument.partition("=")
    return name, (value if sep else None)


def env_options(environ: Mapping[str, str], tag: str = DEFAULT_TAG) -> dict[str, str]:
    """``{option: value}`` Besu reads from the environment.

    EnvironmentVariableDefaultProvider: for every long option ``--a-b``, ``BESU_A_B`` (then the
    legacy ``PANTHEON_A_B``) is its default when the command line does not give it. A variable
    that names no option is ignored.
    """
    rule = facts(tag)["environment"]
    found: dict[str, str] = {}
    for option in facts(tag)["options"]:
        suffix = option[2:].replace("-", "_").upper()
        for prefix in rule["prefixes"]:
            if prefix + suffix in environ:
                found.setdefault(option, environ[prefix + suffix])
    return found


def _check_value(option: str, value: str | None, tag: str) -> str | None:
    fact = facts(tag)["options"][option]
    if fact["boolean"]:
        # A bare flag means true; an attached value must be true or false (boolean_values fact).
        if value is not None and value.lower() not in ("true", "false"):
            return f"Invalid value for option '{option}': '{value}' is not a boolean"
        return None
    if value is None or value == "":
        return f"Missing required parameter for option '{option}'"
    accepted = [*fact.get("enum", ()), *fact.get("deprecated_values", ())]
    if accepted:
        # Enum values match ignoring case (setCaseInsensitiveEnumValuesAllowed, BesuCommand).
        items = value.split(",") if fact.get("split") else [value]
        for item in items:
            if item.upper() not in accepted:
                return (
                    f"Invalid value for option '{option}': expected one of {fact['enum']} "
                    f"(case-insensitive) but was '{item}'"
                )
    if option in facts(tag)["ip_address_options"]:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"{facts(tag)['ip_address_options'][option]['error']} {value}"
    if option == "--host-allowlist":
        return _check_allowlist(value, tag)
    return None


def allowlist_entries(value: str, tag: str = DEFAULT_TAG) -> list[str]:
    """JsonRPCAllowlistHostsProperty: split on runs of commas; 'all' is '*'; 'none' is empty."""
    parsing = facts(tag)["host_allowlist"]["parsing"]
    entries = ["*" if e == "all" else e for e in re.split(parsing["separator_regex"], value)]
    return [] if entries == ["none"] else entries


def _check_allowlist(value: str, tag: str) -> str | None:
    errors = facts(tag)["host_allowlist"]["parsing"]["errors"]
    entries = [
        "*" if e == "all" else e
        for e in re.split(facts(tag)["host_allowlist"]["parsing"]["separator_regex"], value)
    ]
    if "none" in entries and len(entries) > 1:
        return str(errors[0])
    if "*" in entries and len(entries) > 1:
        return str(errors[1])
    return None


def _check_key_file(path: str | None) -> str | None:
    """KeyPairUtil: exactly one hex line; a missing file is replaced by a new key."""
    if path is None:
        return "no --node-private-key-file: Besu would use (or generate) <data-path>/key"
    key = Path(path)
    if not key.exists():
        return f"{path} does not exist: Besu would generate a new key there"
    lines = key.read_text(encoding="utf-8").splitlines()
    text = lines[0].strip().removeprefix("0x") if len(lines) == 1 else ""
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        return "Supplied file does not contain valid keyPair pair."
    return None


def check_invocation(
    arguments: Sequence[str], environ: Mapping[str, str], tag: str = DEFAULT_TAG
) -> list[str]:
    """Besu's refusals of this invocation (empty when Besu would accept it)."""
    known = facts(tag)["options"]
    errors: list[str] = []
    args = list(arguments)
    subcommand = args[:2] == ["public-key", "export-address"]
    if subcommand:
        args = args[2:]
    given: dict[str, str | None] = {}
    for argument in args:
        name, value = _split(argument)
        if name not in known:
            errors.append(f"Unknown option: '{name}'")
            continue
        if name in given:
            errors.append(f"option '{name}' should be specified only once")
        given[name] = value
    # The environment supplies every option the command line does not (CLI wins).
    for name, value in env_options(environ, tag).items():
        given.setdefault(name, value)
    for name, value in given.items():
        if name in known:
            error = _check_value(name, value, tag)
            if error:
                errors.append(error)
    key_error = _check_key_file(given.get("--node-private-key-file"))
    if key_error and subcommand:
        # PublicKeySubCommand.KeyPairSubcommand.run refuses instead of generating a key.
        missing = "does not exist" in key_error or "no --node" in key_error
        key_error = (
            "Private key file doesn't exist"
            if missing
            else "Private key cannot be loaded from file"
        )
    if key_error:
        errors.append(key_error)
    return errors


def _main(argv: Sequence[str]) -> int:
    """The ``besu`` stand-in: refuse like Besu, else print the address or record the options."""
    errors = check_invocation(argv, os.environ)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        return 2
    if list(argv[:2]) == ["public-key", "export-address"]:
        from besu_stack.besu.keys import NodeKey

        key_file = dict(_split(a) for a in argv[2:])["--node-private-key-file"]
        key = NodeKey.from_key_file(Path(key_file or "").read_text())
        print(f"INFO Loaded public key 0x{key.public_key} from {key_file}")
        print(key.address.lower())
        return 0
    record = os.environ.get("FAKE_BESU_RECORD")
    if record:
        Path(record).write_text("\n".join(argv) + "\n", encoding="utf-8")
    return 0


# --- the servers -----------------------------------------------------------------------------


def host_allowed(host_header: str | None, allowlist: Sequence[str]) -> bool:
    """JsonRpcHttpService.checkAllowlistHostHeader: the Host header's host (port dropped) equals
    an entry ignoring case, or the list holds ``*``; no Host header is refused."""
    if "*" in allowlist:
        return True
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):
        host = host[: host.index("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return any(entry.lower() == host.lower() for entry in allowlist)


@dataclass
class ChainState:
    """What the fake node reports."""

    head: int = 12
    head_timestamp: int = 1_700_000_000
    peers: int = 3
    highest_block: int | None = None
    """The best peer's head while syncing; ``None`` when not syncing."""
    signers: Sequence[str] = ()


_METHOD_GROUPS = {
    "eth_getBlockByNumber": "ETH",
    "eth_syncing": "ETH",
    "eth_blockNumber": "ETH",
    "net_peerCount": "NET",
    "ibft_getSignerMetrics": "IBFT",
    "qbft_getSignerMetrics": "QBFT",
}


@dataclass
class FakeBesuNode:
    """Besu's HTTP and WebSocket JSON-RPC servers on 127.0.0.1 with its allow-list rules."""

    allowlist: Sequence[str]
    http_apis: Sequence[str] = ("ETH", "NET", "WEB3")
    ws_apis: Sequence[str] = ("ETH", "NET", "IBFT")
    state: ChainState = field(default_factory=ChainState)
    hosts_seen: list[str | None] = field(default_factory=list)
    http_port: int = 0
    ws_port: int = 0

    def ready(self, params: Mapping[str, str]) -> bool:
        """ReadinessCheck.isHealthy: peers >= minPeers (default 1) and, while syncing,
        highest - current <= maxBlocksBehind (default 2); a parameter that is not a whole number
        makes the node not ready."""
        defaults = facts()["health"]["readiness"]["parameters"]
        try:
            min_peers = int(params.get("minPeers", defaults["minPeers"]["default"]))
            behind = int(params.get("maxBlocksBehind", defaults["maxBlocksBehind"]["default"]))
        except ValueError:
            return False
        if self.state.peers < min_peers:
            return False
        highest = self.state.highest_block
        return highest is None or highest - self.state.head <= behind

    def answer(self, call: Mapping[str, Any], apis: Sequence[str]) -> dict[str, Any]:
        """One JSON-RPC answer; a method of a group that is not enabled gets -32604."""
        method = str(call.get("method"))
        base = {"jsonrpc": "2.0", "id": call.get("id")}
        group = _METHOD_GROUPS.get(method)
        if group is None:
            return {**base, "error": {"code": -32601, "message": "Method not found"}}
        if group not in apis:
            # RpcErrorType.METHOD_NOT_ENABLED (-32604, "Method not enabled").
            return {**base, "error": {"code": -32604, "message": "Method not enabled"}}
        state = self.state
        result: Any
        if method == "eth_getBlockByNumber":
            result = {"number": hex(state.head), "timestamp": hex(state.head_timestamp)}
        elif method == "eth_blockNumber":
            result = hex(state.head)
        elif method == "net_peerCount":
            result = hex(state.peers)
        elif method == "eth_syncing":
            result = (
                False
                if state.highest_block is None
                else {"currentBlock": hex(state.head), "highestBlock": hex(state.highest_block)}
            )
        else:
            result = [
                {
                    "address": a,
                    "proposedBlockCount": "0x1",
                    "lastProposedBlockNumber": hex(state.head),
                }
                for a in state.signers
            ]
        return {**base, "result": result}

    def _http_handler(self) -> type[BaseHTTPRequestHandler]:
        node = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _guard(self) -> bool:
                host = self.headers.get("Host")
                node.hosts_seen.append(host)
                if host_allowed(host, node.allowlist):
                    return True
                refusal = facts()["host_allowlist"]["json_rpc_http"]["refusal"]
                self._send(refusal["status"], refusal["body"])
                return False

            def do_GET(self) -> None:
                if not self._guard():
                    return
                url = urlsplit(self.path)
                health = facts()["health"]
                if url.path == health["liveness"]["path"]:
                    self._send(200, json.dumps({"status": health["status"]["body_up"]}))
                elif url.path == health["readiness"]["path"]:
                    params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                    ok = node.ready(params)
                    status = health["status"]["healthy" if ok else "unhealthy"]
                    text = health["status"]["body_up" if ok else "body_down"]
                    self._send(status, json.dumps({"status": text}))
                elif url.path == "/":
                    self._send(201, "")
                else:
                    self._send(404, "")

            def do_POST(self) -> None:
                if not self._guard():
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                calls = body if isinstance(body, list) else [body]
                answers = [node.answer(c, node.http_apis) for c in calls]
                self._send(200, json.dumps(answers if isinstance(body, list) else answers[0]))

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def serve(self) -> Iterator[FakeBesuNode]:
        """Start both servers on ephemeral ports; stop them when the generator closes."""
        from websockets.exceptions import ConnectionClosed
        from websockets.http11 import Request, Response
        from websockets.sync.server import ServerConnection, serve

        http = ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        self.http_port = int(http.server_address[1])

        def allow(connection: ServerConnection, request: Request) -> Response | None:
            host = request.headers.get("Host")
            self.hosts_seen.append(host)
            if host_allowed(host, self.allowlist):
                return None
            return connection.respond(403, "Host not authorized.\n")

        def handle(connection: ServerConnection) -> None:
            try:
                for message in connection:
                    request = json.loads(message)
                    calls = request if isinstance(request, list) else [request]
                    answers = [self.answer(c, self.ws_apis) for c in calls]
                    connection.send(
                        json.dumps(answers if isinstance(request, list) else answers[0])
                    )
            except ConnectionClosed:
                pass

        ws = serve(
            handle, "127.0.0.1", 0, process_request=allow, compression=None, ping_interval=None
        )
        self.ws_port = int(ws.socket.getsockname()[1])
        threads = [
            threading.Thread(target=http.serve_forever, daemon=True),
            threading.Thread(target=ws.serve_forever, daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            http.shutdown()
            http.server_close()
            ws.shutdown()


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
