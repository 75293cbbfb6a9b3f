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
* :class:`WsAuthentication`: the WebSocket service's JWT authentication (facts
  ``rpc_ws_authentication``): the token from the upgrade's ``Authorization: Bearer`` header,
  checked on every message (signature with the configured public key and algorithm, ``exp``
  required, ``exp``/``iat``/``nbf`` with Vert.x's zero leeway) and a permission per method
  (``*:*``, ``<namespace>:*`` or the exact ``<namespace>:<method>``), a refused call answered
  ``-40100 Unauthorized``. Signatures are verified with the ``cryptography`` package (installed
  with moto), never by code of ours.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import sys
import threading
import time
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
    errors.extend(_check_ws_authentication(given, tag))
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


def _enabled(given: Mapping[str, str | None], option: str) -> bool:
    return option in given and (given[option] is None or str(given[option]).lower() == "true")


def _check_ws_authentication(given: Mapping[str, str | None], tag: str) -> list[str]:
    """RpcWebsocketOptions.validate and JWTAuthOptionsFactory.readPublicKey (facts)."""
    auth = facts(tag)["rpc_ws_authentication"]
    names = auth["options"]
    if not _enabled(given, names["enabled"]):
        return []
    key_file = given.get(names["public_key_file"])
    if key_file is None and given.get(names["credentials_file"]) is None:
        return [str(auth["validation"]["errors"][0])]
    if key_file is None:
        return []
    try:
        read_public_key(Path(key_file).read_bytes(), tag)
    except OSError:
        return [str(auth["public_key_file"]["errors"][1])]
    except ValueError as exc:
        return [str(exc)]
    return []


def read_public_key(pem: bytes, tag: str = DEFAULT_TAG) -> Any:
    """The key Besu reads from a public key file (JWTAuthOptionsFactory.readPublicKey).

    BouncyCastle's ``PemReader``: the first PEM object, whatever its label; its base64 content
    is the X.509 SubjectPublicKeyInfo. Raises :class:`ValueError` with Besu's message when the
    file holds no PEM object, and when the content is not a public key (Vert.x then fails to
    build the verifier, so Besu does not start).
    """
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    invalid = str(facts(tag)["rpc_ws_authentication"]["public_key_file"]["errors"][0])
    lines = pem.decode("ascii", errors="replace").splitlines()
    begins = [i for i, line in enumerate(lines) if line.startswith("-----BEGIN ")]
    if not begins:
        raise ValueError(invalid)
    label = lines[begins[0]][len("-----BEGIN ") :]
    body: list[str] = []
    for line in lines[begins[0] + 1 :]:
        if line.startswith("-----END " + label):
            break
        if ":" not in line:
            body.append(line.strip())
    else:
        raise ValueError(invalid)
    try:
        return load_der_public_key(base64.b64decode("".join(body), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the public key file holds no public key: {exc}") from exc


# --- JWT authentication of the WebSocket service -------------------------------------------


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass(frozen=True)
class WsAuthentication:
    """The WebSocket service's JWT authentication, as Besu 25.11.0 applies it (facts).

    ``public_key`` is what :func:`read_public_key` returns, ``algorithm`` the value of
    ``--rpc-ws-authentication-jwt-algorithm`` (RS256 by default), ``no_auth_methods`` the
    methods of ``--rpc-ws-api-methods-no-auth``.
    """

    public_key: Any
    algorithm: str = "RS256"
    no_auth_methods: tuple[str, ...] = ()
    clock: Any = field(default=time.time, compare=False)

    @classmethod
    def from_arguments(
        cls, arguments: Sequence[str], tag: str = DEFAULT_TAG
    ) -> WsAuthentication | None:
        """The authentication a command line configures; ``None`` when it is off."""
        auth = facts(tag)["rpc_ws_authentication"]
        names = auth["options"]
        given = dict(_split(a) for a in arguments)
        if not _enabled(given, names["enabled"]):
            return None
        key_file = given.get(names["public_key_file"])
        if key_file is None:
            raise ValueError("the fake serves JWT public-key authentication only")
        no_auth = given.get(names["no_auth_methods"]) or ""
        return cls(
            public_key=read_public_key(Path(key_file).read_bytes(), tag),
            algorithm=(given.get(names["algorithm"]) or auth["default_algorithm"]).upper(),
            no_auth_methods=tuple(m for m in re.split(r" ?, ?", no_auth) if m),
        )

    @staticmethod
    def token_of(authorization: str | None, tag: str = DEFAULT_TAG) -> str | None:
        """AuthenticationUtils: the token after the exact scheme prefix, else none."""
        scheme = facts(tag)["rpc_ws_authentication"]["token"]["scheme"]
        if authorization is None or not authorization.startswith(scheme):
            return None
        return authorization[len(scheme) :]

    def user(self, token: str | None, tag: str = DEFAULT_TAG) -> dict[str, Any] | None:
        """The token's claims when it authenticates someone, else ``None``.

        Vert.x ``JWT.decode``: three segments, a non-empty signature, the header's ``alg`` the
        configured one (``none`` never), the signature valid under the public key; ``User.expired``
        with the leeway of the facts; ``DefaultAuthenticationService``: ``exp`` required.
        """
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        if token is None:
            return None
        segments = token.split(".")
        if len(segments) != 3 or not segments[2]:
            return None
        hashers = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}
        try:
            header = json.loads(_b64url(segments[0]))
            claims = json.loads(_b64url(segments[1]))
            signature = _b64url(segments[2])
        except (ValueError, binascii.Error):
            return None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        if header.get("alg") != self.algorithm or self.algorithm not in hashers:
            return None
        try:
            self.public_key.verify(
                signature,
                f"{segments[0]}.{segments[1]}".encode(),
                padding.PKCS1v15(),
                hashers[self.algorithm](),
            )
        except (InvalidSignature, TypeError, ValueError):
            return None
        leeway = facts(tag)["rpc_ws_authentication"]["vertx"]["leeway_seconds"]
        now = int(self.clock())
        numbers = {k: claims.get(k) for k in ("exp", "iat", "nbf")}
        if any(v is not None and not isinstance(v, int | float) for v in numbers.values()):
            return None
        if numbers["exp"] is None or now - leeway >= numbers["exp"]:
            return None
        for key in ("iat", "nbf"):
            value = numbers[key]
            if value is not None and value > now + leeway:
                return None
        return claims

    def permitted(
        self, claims: Mapping[str, Any] | None, method: str, tag: str = DEFAULT_TAG
    ) -> bool:
        """DefaultAuthenticationService.isPermitted with JsonRpcMethod.getPermissions."""
        if method in self.no_auth_methods:
            return True
        if claims is None or "_" not in method:
            return False
        claim = claims.get(facts(tag)["rpc_ws_authentication"]["vertx"]["permissions_claim"])
        # JWTAuthProviderImpl keeps the claim's strings; PermissionBasedAuthorizationImpl.verify
        # compares a method permission with each by String.equals.
        held = {p for p in claim if isinstance(p, str)} if isinstance(claim, list) else set()
        namespace = method[: method.index("_")]
        return bool(held & {"*:*", f"{namespace}:*", method.replace("_", ":")})


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
    "ibft_proposeValidatorVote": "IBFT",
    "qbft_proposeValidatorVote": "QBFT",
    "admin_peers": "ADMIN",
}


@dataclass
class FakeBesuNode:
    """Besu's HTTP and WebSocket JSON-RPC servers on 127.0.0.1 with its allow-list rules."""

    allowlist: Sequence[str]
    http_apis: Sequence[str] = ("ETH", "NET", "WEB3")
    ws_apis: Sequence[str] = ("ETH", "NET", "IBFT")
    state: ChainState = field(default_factory=ChainState)
    ws_authentication: WsAuthentication | None = None
    """JWT authentication of the WebSocket service (``None``: off, Besu's default)."""
    hosts_seen: list[str | None] = field(default_factory=list)
    authorizations_seen: list[str | None] = field(default_factory=list)
    """The ``Authorization`` header of each WebSocket upgrade."""
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

    def answer(
        self,
        call: Mapping[str, Any],
        apis: Sequence[str],
        authentication: WsAuthentication | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One JSON-RPC answer (JsonRpcExecutor, then AuthenticatedJsonRpcProcessor).

        An unknown method gets -32601 and a method of a group that is not enabled -32604, before
        any permission check; with ``authentication``, a call the token's ``claims`` do not
        permit gets -40100.
        """
        refusals = facts()["rpc_ws_authentication"]["refusals"]
        method = str(call.get("method"))
        base = {"jsonrpc": "2.0", "id": call.get("id")}
        group = _METHOD_GROUPS.get(method)
        if group is None:
            return {**base, "error": refusals["method_not_found"]}
        if group not in apis:
            return {**base, "error": refusals["method_not_enabled"]}
        if authentication is not None and not authentication.permitted(claims, method):
            return {**base, "error": refusals["unauthorized"]}
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
        elif method.endswith("_proposeValidatorVote"):
            result = True
        elif method == "admin_peers":
            result = []
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
            # WebSocketService: the token is read once, from the upgrade request's header, and
            # every message is authenticated with it.
            auth = self.ws_authentication
            header = facts()["rpc_ws_authentication"]["token"]["header"]
            authorization = connection.request.headers.get(header) if connection.request else None
            self.authorizations_seen.append(authorization)
            token = WsAuthentication.token_of(authorization)
            try:
                for message in connection:
                    request = json.loads(message)
                    calls = request if isinstance(request, list) else [request]
                    claims = auth.user(token) if auth is not None else None
                    answers = [self.answer(c, self.ws_apis, auth, claims) for c in calls]
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
