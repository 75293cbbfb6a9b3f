"""Extract the facts the node runtime depends on from Besu's own source at a tag.

Reads a git mirror of ``hyperledger/besu`` (no work tree needed: ``git show <tag>:<path>``) and
writes a JSON data file of facts, each with the tag and the source file it was read from:

* ``options``: every command-line option Besu's CLI declares (``@Option`` in ``app/src/main``
  and the bundled RocksDB plugin), with its aliases, arity, value type, enum values (from the
  enum the option's field is typed with), whether it is hidden, and the declaring file;
* ``environment``: the ``BESU_<OPTION>`` rule of ``EnvironmentVariableDefaultProvider``;
* ``ip_address_options``: options whose value must be an IP address literal;
* ``host_allowlist``: which HTTP routes and servers the host allow-list guards, and how it matches;
* ``health``: the ``/liveness`` and ``/readiness`` paths, parameters, defaults and status codes;
* ``key_file``: the node key file format and what Besu does when the file is missing;
* ``static_nodes_dns``: what Besu does with a peer name that does not resolve at start;
* ``rpc_ws_authentication``: JWT authentication of the WebSocket JSON-RPC service: its options
  and their validation, the public key file, how a client presents its token, the claims a token
  needs, how a method's permission is matched and what Besu answers a refused call. The token
  checks Besu delegates to Vert.x (signature, expiry, permission matching) are read from
  ``eclipse-vertx/vertx-auth`` at the version Besu's ``platform/build.gradle`` pins
  (``--vertx-mirror``), and recorded with that repository, tag and file.

Facts only: names, numbers and messages, never code. Every fact is checked against the source
text by a pattern; when a pattern no longer matches (Besu changed), the script fails instead of
writing a stale fact.

Usage::

    python tools/extract_besu_facts.py [--mirror DIR] [--vertx-mirror DIR] [--tag 25.11.0]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MIRROR = Path("/work/.mirror/hyperledger+besu/repo")
DEFAULT_VERTX_MIRROR = Path("/work/.mirror/eclipse-vertx+vertx-auth/repo")
DEFAULT_TAG = "25.11.0"
OPTION_ROOTS = ("app/src/main/java/", "plugins/rocksdb/src/main/java/")
ENUM_ROOTS = (
    "app/src/main/java/",
    "config/src/main/java/",
    "ethereum/",
    "plugin-api/src/main/java/",
    "plugins/rocksdb/src/main/java/",
    "nat/src/main/java/",
    "metrics/",
    "datatypes/",
)

ENV_PROVIDER = (
    "app/src/main/java/org/hyperledger/besu/cli/util/EnvironmentVariableDefaultProvider.java"
)
P2P_OPTIONS = "app/src/main/java/org/hyperledger/besu/cli/options/P2PDiscoveryOptions.java"
JSON_RPC_HTTP = (
    "ethereum/api/src/main/java/org/hyperledger/besu/ethereum/api/jsonrpc/JsonRpcHttpService.java"
)
WEBSOCKET = (
    "ethereum/api/src/main/java/org/hyperledger/besu/ethereum/api/jsonrpc/websocket/"
    "WebSocketService.java"
)
METRICS_HTTP = (
    "metrics/core/src/main/java/org/hyperledger/besu/metrics/prometheus/MetricsHttpService.java"
)
HEALTH_SERVICE = (
    "ethereum/api/src/main/java/org/hyperledger/besu/ethereum/api/jsonrpc/health/HealthService.java"
)
READINESS = "ethereum/api/src/main/java/org/hyperledger/besu/ethereum/api/jsonrpc/health/ReadinessCheck.java"
LIVENESS = (
    "ethereum/api/src/main/java/org/hyperledger/besu/ethereum/api/jsonrpc/health/LivenessCheck.java"
)
KEY_PAIR_UTIL = "crypto/algorithms/src/main/java/org/hyperledger/besu/crypto/KeyPairUtil.java"
ENODE_URL = "ethereum/p2p/src/main/java/org/hyperledger/besu/ethereum/p2p/peers/EnodeURLImpl.java"
BESU_COMMAND = "app/src/main/java/org/hyperledger/besu/cli/BesuCommand.java"
ALLOWLIST_PROPERTY = (
    "app/src/main/java/org/hyperledger/besu/cli/custom/JsonRPCAllowlistHostsProperty.java"
)
BOOLEAN_EVIDENCE = (
    "acceptance-tests/test-plugins/src/main/java/org/hyperledger/besu/tests/acceptance/plugins/"
    "TestBlockchainServicePlugin.java"
)
DOCKERFILE = "docker/Dockerfile"
WS_OPTIONS = "app/src/main/java/org/hyperledger/besu/cli/options/RpcWebsocketOptions.java"
DEFAULT_VALUES = "app/src/main/java/org/hyperledger/besu/cli/DefaultCommandValues.java"
_AUTH = "ethereum/api/src/main/java/org/hyperledger/besu/ethereum/api/jsonrpc/authentication/"
AUTH_SERVICE = _AUTH + "DefaultAuthenticationService.java"
AUTH_UTILS = _AUTH + "AuthenticationUtils.java"
JWT_OPTIONS_FACTORY = _AUTH + "JWTAuthOptionsFactory.java"
_JSON_RPC = "ethereum/api/src/main/java/org/hyperledger/besu/ethereum/api/jsonrpc/"
JSON_RPC_METHOD = _JSON_RPC + "internal/methods/JsonRpcMethod.java"
AUTHENTICATED_PROCESSOR = _JSON_RPC + "execution/AuthenticatedJsonRpcProcessor.java"
JSON_RPC_EXECUTOR = _JSON_RPC + "execution/JsonRpcExecutor.java"
RPC_ERROR_TYPE = _JSON_RPC + "internal/response/RpcErrorType.java"
RUNNER_BUILDER = "app/src/main/java/org/hyperledger/besu/RunnerBuilder.java"
PLATFORM_BUILD = "platform/build.gradle"
VERTX_REPOSITORY = "eclipse-vertx/vertx-auth"
VERTX_JWT_PROVIDER = (
    "vertx-auth-jwt/src/main/java/io/vertx/ext/auth/jwt/impl/JWTAuthProviderImpl.java"
)
VERTX_JWT_AUTH_OPTIONS = "vertx-auth-jwt/src/main/java/io/vertx/ext/auth/jwt/JWTAuthOptions.java"
_VERTX_COMMON = "vertx-auth-common/src/main/java/io/vertx/ext/auth/"
VERTX_JWT = _VERTX_COMMON + "impl/jose/JWT.java"
VERTX_JWS = _VERTX_COMMON + "impl/jose/JWS.java"
VERTX_JWT_OPTIONS = _VERTX_COMMON + "JWTOptions.java"
VERTX_USER = _VERTX_COMMON + "User.java"
VERTX_PERMISSION = _VERTX_COMMON + "authorization/impl/PermissionBasedAuthorizationImpl.java"


class FactMissing(RuntimeError):
    """A pattern that should state a fact no longer matches the source."""


@dataclass(frozen=True)
class Mirror:
    """Read-only access to one tag of the mirror."""

    path: Path
    tag: str

    def git(self, *args: str) -> str:
        """Run git on the mirror; its stdout."""
        return subprocess.run(
            ["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True
        ).stdout

    def show(self, path: str) -> str:
        """A file at the tag."""
        return self.git("show", f"{self.tag}:{path}")

    def files(self, root: str, suffix: str = ".java") -> list[str]:
        """Main-source files under ``root`` at the tag."""
        listed = self.git("ls-tree", "-r", "--name-only", self.tag, "--", root).splitlines()
        return [f for f in listed if f.endswith(suffix) and "/src/test" not in f]

    def commit(self) -> str:
        """The commit the tag points at."""
        return self.git("rev-list", "-n", "1", self.tag).strip()


def need(pattern: str, text: str, path: str, flags: int = re.S) -> re.Match[str]:
    """The match of a pattern that states a fact; :class:`FactMissing` when it does not match."""
    found = re.search(pattern, text, flags)
    if not found:
        raise FactMissing(f"{path}: pattern {pattern!r} not found")
    return found


# --- options --------------------------------------------------------------------------------

_OPTION_START = re.compile(r"@(?:CommandLine\.)?Option\s*\(")
_MODIFIERS = {"private", "public", "protected", "final", "static", "volatile", "transient"}


def _balanced(text: str, start: int) -> int:
    """Index just past the parenthesis closing the one before ``start``."""
    depth, i, in_string = 1, start, False
    while depth:
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return i


def _constants(text: str) -> dict[str, str]:
    return dict(re.findall(r"\bString\s+([A-Z][A-Z0-9_]*)\s*=\s*\"([^\"]*)\"", text))


def _names(attributes: str, constants: dict[str, str], path: str) -> list[str]:
    found = re.search(r"\bnames\s*=\s*(\{[^}]*\}|\"[^\"]*\"|[A-Za-z_][\w.]*)", attributes)
    if not found:
        raise FactMissing(f"{path}: @Option without names: {attributes[:80]!r}")
    names: list[str] = []
    for token in re.findall(r"\"([^\"]*)\"|([A-Za-z_][\w.]*)", found.group(1)):
        literal, constant = token
        if literal:
            names.append(literal)
        elif constant:
            key = constant.rsplit(".", 1)[-1]
            if key not in constants:
                raise FactMissing(f"{path}: option name constant {constant} not resolved")
            names.append(constants[key])
    return names


def _declared_type(text: str, end: int) -> tuple[str, str]:
    """``(type, kind)`` of the field or setter parameter after an annotation."""
    rest = text[end : end + 600]
    rest = re.sub(r"//[^\n]*", "", rest)
    while True:
        rest = rest.lstrip()
        annotation = re.match(r"@[\w.]+", rest)
        if not annotation:
            break
        rest = rest[annotation.end() :]
        if rest.lstrip().startswith("("):
            open_at = rest.index("(")
            rest = rest[_balanced(rest, open_at + 1) :]
    setter = re.match(
        r"(?:(?:\w+)\s+)*void\s+\w+\s*\(\s*(?:final\s+)?([\w.<>, ?\[\]]+?)\s+\w+\s*\)", rest
    )
    if setter:
        return setter.group(1).strip(), "setter"
    words = re.match(r"((?:\w+\s+)*)([\w.]+(?:<[^;=]*?>)?(?:\[\])?)\s+\w+\s*[;=]", rest)
    if not words:
        return "?", "unknown"
    return words.group(2).strip(), "field"


def _enum_index(mirror: Mirror) -> dict[str, tuple[list[str], str]]:
    """Every ``enum Name {A, B, ...}`` under the enum roots: name -> (constants, file)."""
    index: dict[str, tuple[list[str], str]] = {}
    for root in ENUM_ROOTS:
        for path in mirror.files(root):
            text = mirror.show(path)
            for found in re.finditer(r"\benum\s+(\w+)\s*(?:implements[^{]*)?\{", text):
                body = text[found.end() :]
                body = re.sub(r"/\*.*?\*/|//[^\n]*", "", body, flags=re.S)
                head = re.split(r";|\}", body, maxsplit=1)[0]
                values = []
                for item in re.split(r",(?![^(]*\))", head):
                    name = re.match(r"\s*(?:@\w+\s*)*([A-Z][A-Z0-9_]*)\s*(?:\(|$|\{)", item)
                    if name:
                        values.append(name.group(1))
                if values:
                    index.setdefault(found.group(1), (values, path))
    return index


def extract_options(mirror: Mirror) -> dict[str, Any]:
    """Every long option of the CLI: aliases, arity, type, enum values, source."""
    enums = _enum_index(mirror)
    options: dict[str, Any] = {}
    sources = {path: mirror.show(path) for root in OPTION_ROOTS for path in mirror.files(root)}
    shared: dict[str, str] = {}
    for text in sources.values():
        for name, value in _constants(text).items():
            shared.setdefault(name, value)
    for path, text in sorted(sources.items()):
        if "Option(" in text:
            constants = {**shared, **_constants(text)}
            for found in _OPTION_START.finditer(text):
                end = _balanced(text, found.end())
                attributes = re.sub(
                    r"/\*.*?\*/|//[^\n]*", "", text[found.end() : end - 1], flags=re.S
                )
                names = _names(attributes, constants, path)
                long_names = [n for n in names if n.startswith("--")]
                if not long_names:
                    continue
                arity = re.search(r"\barity\s*=\s*\"([^\"]*)\"", attributes)
                java_type, kind = _declared_type(text, end)
                base = re.sub(r"^(?:Optional|List|Set|Collection)<(.*)>$", r"\1", java_type)
                base = base.rsplit(".", 1)[-1]
                fact: dict[str, Any] = {
                    "names": names,
                    "arity": arity.group(1) if arity else None,
                    "java_type": java_type,
                    "declared_by": kind,
                    "hidden": bool(re.search(r"\bhidden\s*=\s*true", attributes)),
                    "boolean": base in ("Boolean", "boolean"),
                    "source": path,
                }
                split = re.search(r"\bsplit\s*=\s*\"([^\"]*)\"", attributes)
                if split:
                    fact["split"] = split.group(1)
                if base in enums:
                    fact["enum"] = enums[base][0]
                    fact["enum_source"] = enums[base][1]
                accepted = re.search(r"ACCEPTED_VALUES\s*=\s*Set\.of\(([^)]*)\)", text)
                if kind == "setter" and base == "String" and accepted:
                    fact["enum"] = re.findall(r"\"([^\"]+)\"", accepted.group(1))
                    fact["enum_source"] = path
                    # Values the setter still takes with a deprecation notice (FATAL -> ERROR).
                    fact["deprecated_values"] = re.findall(
                        r"\"([A-Z]+)\"\.equalsIgnoreCase\(", text[end : end + 400]
                    )
                for name in long_names:
                    options.setdefault(name, fact)
    if len(options) < 100:
        raise FactMissing(f"only {len(options)} options found: the extractor no longer fits")
    return options


# --- the other facts ------------------------------------------------------------------------


def extract_enum_rule(mirror: Mirror) -> dict[str, Any]:
    """How enum option values are matched."""
    text = mirror.show(BESU_COMMAND)
    need(r"\.setCaseInsensitiveEnumValuesAllowed\(true\)", text, BESU_COMMAND)
    return {
        "rule": "enum values are matched ignoring case; any other value is refused with "
        "\"Invalid value for option '<name>'\"",
        "source": BESU_COMMAND,
    }


def extract_environment(mirror: Mirror) -> dict[str, Any]:
    """The ``BESU_<OPTION>`` environment rule."""
    text = mirror.show(ENV_PROVIDER)
    prefix = need(r'ENV_VAR_PREFIX\s*=\s*"([^"]+)"', text, ENV_PROVIDER).group(1)
    legacy = need(r'LEGACY_ENV_VAR_PREFIX\s*=\s*"([^"]+)"', text, ENV_PROVIDER).group(1)
    need(r'startsWith\("--"\)', text, ENV_PROVIDER)
    need(r"replace\('-',\s*'_'\)\.toUpperCase", text, ENV_PROVIDER)
    return {
        "prefixes": [prefix, legacy],
        "rule": "every long option --a-b-c is read from the variable <prefix>A_B_C when it is "
        "not given on the command line (picocli default value provider); positional "
        "parameters are skipped",
        "source": ENV_PROVIDER,
    }


def extract_ip_options(mirror: Mirror) -> dict[str, Any]:
    """Options whose value must be an IP address literal."""
    text = mirror.show(P2P_OPTIONS)
    need(r"InetAddresses\.isInetAddress\(p2pHost\)", text, P2P_OPTIONS)
    message = need(r'"(The provided --p2p-host is invalid: )"', text, P2P_OPTIONS).group(1)
    need(r'names\s*=\s*\{"--p2p-host"\}', text, P2P_OPTIONS)
    return {
        "--p2p-host": {
            "rule": "must be an IPv4 or IPv6 address literal (Guava InetAddresses.isInetAddress); "
            "a DNS name, localhost included, is refused",
            "error": message.strip(),
            "source": P2P_OPTIONS,
        }
    }


def extract_host_allowlist(mirror: Mirror) -> dict[str, Any]:
    """What the host allow-list guards and how it matches."""
    http = mirror.show(JSON_RPC_HTTP)
    router = need(r"private Router buildRouter\(\)\s*\{(.*?)\n  \}", http, JSON_RPC_HTTP).group(1)
    guard = router.index("checkAllowlistHostHeader()")
    routes = [
        (m.start(), m.group(1))
        for m in re.finditer(r"\.route\(([^)]+)\)", router)
        if m.group(1).strip()
    ]
    health = mirror.show(HEALTH_SERVICE)
    paths = dict(re.findall(r'(\w+_PATH)\s*=\s*"([^"]+)"', health))
    guarded = []
    for position, argument in routes:
        name = argument.split(".")[-1].strip()
        path = paths.get(name, argument.strip().strip('"'))
        if position < guard:
            raise FactMissing(f"{JSON_RPC_HTTP}: route {path} is registered before the guard")
        guarded.append(path)
    need(r"allowlistEntry\.equalsIgnoreCase\(hostHeader\)", http, JSON_RPC_HTTP)
    need(r"authority\(\)", http, JSON_RPC_HTTP)
    need(r"setStatusCode\(403\)", http, JSON_RPC_HTTP)
    need(r'contains\("\*"\)', http, JSON_RPC_HTTP)
    metrics = mirror.show(METRICS_HTTP)
    need(r"checkAllowlistHostHeader\(exch\)", metrics, METRICS_HTTP)
    need(r'getFirst\("Host"\)', metrics, METRICS_HTTP)
    prop = mirror.show(ALLOWLIST_PROPERTY)
    separator = need(r'Splitter\.onPattern\("([^"]+)"\)', prop, ALLOWLIST_PROPERTY).group(1)
    none_alone = need(
        r"\"(Value 'none' can't be used with other hostnames)\"", prop, ALLOWLIST_PROPERTY
    )
    star_alone = need(
        r"\"(Values '\*' or 'all' can't be used with other hostnames)\"", prop, ALLOWLIST_PROPERTY
    )
    empty = need(r'"(Hostname cannot be empty string or null string\.)"', prop, ALLOWLIST_PROPERTY)
    websocket = mirror.show(WEBSOCKET)
    need(r"[Hh]ost[A-Za-z]*[Aa]llowlist", websocket, WEBSOCKET)
    return {
        "json_rpc_http": {
            "guarded_routes": sorted(set(guarded)),
            "rule": "one handler on every route, installed before all others: the Host "
            "header's host (port dropped) must equal an allow-list entry ignoring case, or the "
            "list contains '*'; no Host header (HTTP/1.0 without one) is refused",
            "refusal": {"status": 403, "body": '{"message":"Host not authorized."}'},
            "source": JSON_RPC_HTTP,
        },
        "parsing": {
            "separator_regex": separator.replace("\\\\", "\\"),
            "rule": "the value is split on commas (runs of commas count as one, spaces around "
            "them dropped); 'all' means '*'; 'none' (an empty list) and '*' must stand alone; an "
            "empty value is refused",
            "errors": [none_alone.group(1), star_alone.group(1), empty.group(1)],
            "source": ALLOWLIST_PROPERTY,
        },
        "websocket": {
            "rule": "the upgrade request's Host is checked against the same allow-list",
            "source": WEBSOCKET,
        },
        "metrics": {
            "rule": "every request to the metrics server: the Host header's host must be in the "
            "allow-list (or '*'), else 403",
            "refusal": {"status": 403},
            "source": METRICS_HTTP,
        },
    }


def extract_health(mirror: Mirror) -> dict[str, Any]:
    """Liveness and readiness: paths, parameters, defaults, status codes."""
    health = mirror.show(HEALTH_SERVICE)
    readiness = mirror.show(READINESS)
    liveness = mirror.show(LIVENESS)
    paths = dict(re.findall(r'(\w+_PATH)\s*=\s*"([^"]+)"', health))
    need(r"HEALTHY_STATUS_CODE\s*=\s*HttpResponseStatus\.OK", health, HEALTH_SERVICE)
    need(
        r"UNHEALTHY_STATUS_CODE\s*=\s*HttpResponseStatus\.SERVICE_UNAVAILABLE",
        health,
        HEALTH_SERVICE,
    )
    up = need(r'HEALTHY_STATUS_TEXT\s*=\s*"(\w+)"', health, HEALTH_SERVICE).group(1)
    down = need(r'UNHEALTHY_STATUS_TEXT\s*=\s*"(\w+)"', health, HEALTH_SERVICE).group(1)
    min_peers = need(r"DEFAULT_MINIMUM_PEERS\s*=\s*(\d+)", readiness, READINESS).group(1)
    behind = need(r"DEFAULT_MAX_BLOCKS_BEHIND\s*=\s*(\d+)", readiness, READINESS).group(1)
    need(r'getParam\("minPeers"\)', readiness, READINESS)
    need(r'getParam\("maxBlocksBehind"\)', readiness, READINESS)
    need(r"NumberFormatException.*?return false", readiness, READINESS)
    need(r"isHealthy\([^)]*\)\s*\{[^}]*return true;", liveness, LIVENESS)
    return {
        "liveness": {
            "path": paths["LIVENESS_PATH"],
            "rule": "always healthy while the server answers",
            "source": LIVENESS,
        },
        "readiness": {
            "path": paths["READINESS_PATH"],
            "parameters": {
                "minPeers": {
                    "default": int(min_peers),
                    "rule": "ready only with peers >= minPeers (checked when P2P is enabled)",
                },
                "maxBlocksBehind": {
                    "default": int(behind),
                    "rule": "ready only when highest - current block <= maxBlocksBehind while syncing; not syncing counts as in sync",
                },
            },
            "invalid_parameter": "a parameter that is not a whole number makes the node not ready",
            "source": READINESS,
        },
        "status": {"healthy": 200, "unhealthy": 503, "body_up": up, "body_down": down},
        "body": '{"status": "<UP|DOWN>"} (pretty-printed JSON)',
        "source": HEALTH_SERVICE,
    }


def extract_key_file(mirror: Mirror) -> dict[str, Any]:
    """The node key file format and the missing-file behaviour."""
    text = mirror.show(KEY_PAIR_UTIL)
    need(r"readAllLines\(", text, KEY_PAIR_UTIL)
    need(r"info\.size\(\)\s*!=\s*1", text, KEY_PAIR_UTIL)
    need(r"Bytes32\.fromHexString\(\(info\.get\(0\)\)\)", text, KEY_PAIR_UTIL)
    need(r"if \(keyFile\.exists\(\)\).*?else \{.*?generateKeyPair\(\)", text, KEY_PAIR_UTIL)
    return {
        "format": "exactly one line: the 32-byte private key in hex (0x prefix optional); a "
        "trailing newline is fine; any other number of lines is refused",
        "missing_file": "Besu generates a new key and stores it at that path (a stranger joins "
        "the network)",
        "source": KEY_PAIR_UTIL,
    }


def extract_static_nodes_dns(mirror: Mirror) -> dict[str, Any]:
    """What happens to a static peer whose name does not resolve at start."""
    text = mirror.show(ENODE_URL)
    need(r'InetAddresses\.forString\("127\.0\.0\.1"\)', text, ENODE_URL)
    need(r"UnknownHostException", text, ENODE_URL)
    return {
        "rule": "with --Xdns-enabled and --Xdns-update-enabled, a host name that does not "
        "resolve when the enode URL is parsed (at start) becomes 127.0.0.1 and its name is "
        "not kept, so it is never resolved again until Besu restarts; a name that resolves is "
        "re-resolved on every use",
        "source": ENODE_URL,
    }


def extract_storage(mirror: Mirror) -> dict[str, Any]:
    """BONSAI with FULL sync: trie-log limiting is forced off."""
    text = mirror.show(BESU_COMMAND)
    need(
        r"SyncMode\.FULL\.equals\(getDefaultSyncModeIfNotSet\(\)\).*?DataStorageFormat\.BONSAI"
        r".*?withLimitTrieLogsEnabled\(false\)",
        text,
        BESU_COMMAND,
    )
    return {
        "bonsai_full_sync": "with FULL sync and BONSAI storage Besu forces "
        "--bonsai-limit-trie-logs-enabled=false (a warning; an error when the option is set "
        "to true explicitly): trie logs are kept for every block",
        "source": BESU_COMMAND,
    }


def extract_boolean_rule(mirror: Mirror) -> dict[str, Any]:
    """How boolean options take values."""
    text = mirror.show(BOOLEAN_EVIDENCE)
    need(
        r'Option\(names = "--plugin-blockchain-service-test-enabled"\)\s*boolean',
        text,
        BOOLEAN_EVIDENCE,
    )
    return {
        "rule": "a boolean option accepts an attached value true or false (--flag=true) "
        "whatever its arity; Besu's acceptance tests pass --plugin-blockchain-service-test-"
        "enabled=true to a boolean option declared without arity",
        "source": BOOLEAN_EVIDENCE,
    }


def extract_image(mirror: Mirror) -> dict[str, Any]:
    """The official image: user, entry point, preset BESU_ variables."""
    text = mirror.show(DOCKERFILE)
    uid = need(r"adduser --uid (\d+)[^\n]*\bbesu\b", text, DOCKERFILE).group(1)
    entry = need(r'ENTRYPOINT \["([^"]+)"\]', text, DOCKERFILE).group(1)
    env = {
        name: value.strip('"')
        for name, value in re.findall(r"^ENV (BESU_[A-Z_]+)[ =](\S+)", text, re.M)
    }
    need(r"^USER root", text, DOCKERFILE, re.M)
    return {
        "besu_uid": int(uid),
        "entrypoint": entry,
        "entrypoint_rule": "the entry point runs as root and switches to the besu user; a "
        "container whose entry point is replaced stays root unless it sets its user",
        "environment": env,
        "source": DOCKERFILE,
    }


def _vertx_version(mirror: Mirror) -> str:
    """The Vert.x version Besu builds with (its platform BOM)."""
    text = mirror.show(PLATFORM_BUILD)
    return need(r"io\.vertx:vertx-stack-depchain:([0-9][0-9.]*)'", text, PLATFORM_BUILD).group(1)


def extract_ws_authentication(mirror: Mirror, vertx: Mirror) -> dict[str, Any]:
    """JWT authentication of the WebSocket JSON-RPC service (Besu, and the Vert.x it uses)."""
    options = mirror.show(WS_OPTIONS)
    names = {
        "enabled": "--rpc-ws-authentication-enabled",
        "public_key_file": "--rpc-ws-authentication-jwt-public-key-file",
        "algorithm": "--rpc-ws-authentication-jwt-algorithm",
        "credentials_file": "--rpc-ws-authentication-credentials-file",
        "no_auth_methods": "--rpc-ws-api-methods-no-auth",
    }
    for name in names.values():
        need(r'names\s*=\s*\{"' + re.escape(name) + '"', options, WS_OPTIONS)
    need(
        r"isRpcWsAuthenticationEnabled\s*&&\s*rpcWsAuthenticationCredentialsFile\(commandLine\)"
        r"\s*==\s*null\s*&&\s*rpcWsAuthenticationPublicKeyFile\s*==\s*null",
        options,
        WS_OPTIONS,
    )
    no_key = need(
        r'"(Unable to authenticate JSON-RPC WebSocket endpoint without a supplied credentials '
        r'file or authentication public key file)"',
        options,
        WS_OPTIONS,
    ).group(1)
    no_auth_error = need(
        r"\"(Invalid value for option '--rpc-ws-api-methods-no-auth', options must be valid RPC "
        r'methods)"',
        options,
        WS_OPTIONS,
    ).group(1)
    need(r"rpcWsApiMethodsNoAuth\s*=\s*new ArrayList<String>\(\)", options, WS_OPTIONS)
    need(
        r"rpcWebsocketsAuthenticationAlgorithm\s*=\s*DefaultCommandValues\.DEFAULT_JWT_ALGORITHM",
        options,
        WS_OPTIONS,
    )
    defaults = mirror.show(DEFAULT_VALUES)
    default_algorithm = need(
        r"JwtAlgorithm DEFAULT_JWT_ALGORITHM\s*=\s*JwtAlgorithm\.(\w+);", defaults, DEFAULT_VALUES
    ).group(1)

    factory = mirror.show(JWT_OPTIONS_FACTORY)
    need(r"pemReader\.readPemObject\(\)", factory, JWT_OPTIONS_FACTORY)
    need(r'"-----BEGIN PUBLIC KEY-----', factory, JWT_OPTIONS_FACTORY)
    external = need(
        r"JWTAuthOptions createForExternalPublicKeyWithAlgorithm\(.*?\n  \}",
        factory,
        JWT_OPTIONS_FACTORY,
    ).group(0)
    if "setPermissionsClaimKey" in factory or "setJWTOptions" in external:
        # The Vert.x defaults (claim name, leeway, expiry checked) would no longer hold.
        raise FactMissing(f"{JWT_OPTIONS_FACTORY}: the external-key JWT options are customised")
    key_errors = [
        need(
            r'"(Authentication RPC public key file format is invalid)"',
            factory,
            JWT_OPTIONS_FACTORY,
        ).group(1),
        need(
            r'"(Authentication RPC public key could not be read)"', factory, JWT_OPTIONS_FACTORY
        ).group(1),
    ]

    websocket = mirror.show(WEBSOCKET)
    header = need(
        r'getJwtTokenFromAuthorizationHeaderValue\(\s*websocket\.headers\(\)\.get\("(\w+)"\)\)',
        websocket,
        WEBSOCKET,
    ).group(1)
    need(r"final String token = getAuthToken\(websocket\);", websocket, WEBSOCKET)
    need(
        r"\.authenticate\(\s*token,\s*user -> websocketMessageHandler\.handle\(websocket, buffer, "
        r"user\)\)",
        websocket,
        WEBSOCKET,
    )
    utils = mirror.show(AUTH_UTILS)
    scheme = need(r'bearerSchemaName = "([^"]+)"', utils, AUTH_UTILS).group(1)
    need(r"value\.startsWith\(bearerSchemaName\)", utils, AUTH_UTILS)

    service = mirror.show(AUTH_SERVICE)
    expiry_error = need(r'"(Invalid JWT doesn\'t have expiry)"', service, AUTH_SERVICE).group(1)
    need(r'a\.containsKey\("exp"\)', service, AUTH_SERVICE)
    need(r"handler\.handle\(Optional\.empty\(\)\)", service, AUTH_SERVICE)
    need(
        r"noAuthMethods\.stream\(\)\.anyMatch\(m -> m\.equals\(jsonRpcMethod\.getName\(\)\)\)",
        service,
        AUTH_SERVICE,
    )
    need(
        r"for \(String perm : jsonRpcMethod\.getPermissions\(\)\)\s*\{\s*user\.isAuthorized\(",
        service,
        AUTH_SERVICE,
    )
    claim = need(
        r'\.put\("(\w+)", user\.principal\(\)\.getValue\("permissions"\)\)', service, AUTH_SERVICE
    ).group(1)

    method = mirror.show(JSON_RPC_METHOD)
    need(r'permissions\.add\("\*:\*"\);', method, JSON_RPC_METHOD)
    need(
        r"permissions\.add\(this\.getName\(\)\.substring\(0, this\.getName\(\)\.indexOf\('_'\)\)"
        r' \+ ":\*"\);',
        method,
        JSON_RPC_METHOD,
    )
    need(r"permissions\.add\(this\.getName\(\)\.replace\('_', ':'\)\);", method, JSON_RPC_METHOD)

    processor = mirror.show(AUTHENTICATED_PROCESSOR)
    need(
        r"new JsonRpcUnauthorizedResponse\(id, RpcErrorType\.UNAUTHORIZED\)",
        processor,
        AUTHENTICATED_PROCESSOR,
    )
    errors = mirror.show(RPC_ERROR_TYPE)

    def error(name: str) -> dict[str, Any]:
        found = need(rf'\b{name}\((-?\d+), "([^"]+)"\)', errors, RPC_ERROR_TYPE)
        return {"code": int(found.group(1)), "message": found.group(2)}

    executor = mirror.show(JSON_RPC_EXECUTOR)
    need(
        r"validateMethodAvailability\(requestBody\).*?rpcProcessor\.process\(",
        executor,
        JSON_RPC_EXECUTOR,
    )
    runner = mirror.show(RUNNER_BUILDER)
    need(
        r"createWebsocketService\(.*?new AuthenticatedJsonRpcProcessor\(\s*new "
        r"BaseJsonRpcProcessor\(\),\s*authenticationService\.get\(\),\s*configuration\."
        r"getRpcApisNoAuth\(\)\)",
        runner,
        RUNNER_BUILDER,
    )
    return {
        "options": names,
        "default_algorithm": default_algorithm,
        "no_auth_methods_default": [],
        "validation": {
            "rule": "with authentication enabled, a credentials file or a JWT public key file is "
            "required; every --rpc-ws-api-methods-no-auth entry must be a known RPC method",
            "errors": [no_key, no_auth_error],
            "source": WS_OPTIONS,
            "default_source": DEFAULT_VALUES,
        },
        "public_key_file": {
            "rule": "read as PEM: the first PEM object's content is the public key (an X.509 "
            "SubjectPublicKeyInfo, re-wrapped as PUBLIC KEY whatever the file's label)",
            "errors": key_errors,
            "source": JWT_OPTIONS_FACTORY,
        },
        "token": {
            "header": header,
            "scheme": scheme,
            "rule": "the token is read once from the upgrade request's header, and only there "
            "(no query parameter); the value must start with the scheme exactly, else there is "
            "no token. The upgrade is never refused for a missing or bad token: every message is "
            "authenticated with it, and a call the token does not permit is answered with an "
            "error",
            "source": WEBSOCKET,
            "scheme_source": AUTH_UTILS,
        },
        "claims": {
            "exp": "required: a valid token without exp authenticates no one",
            "error": expiry_error,
            "permissions_claim": claim,
            "source": AUTH_SERVICE,
        },
        "permissions": {
            "method_permissions": ["*:*", "<namespace>:*", "<namespace>:<method>"],
            "rule": "a call is permitted when the token's user holds one of its method's "
            "permissions: *:*, the namespace (the method name before its first '_') with :*, "
            "or the method name with every '_' replaced by ':' (eth_getBlockByNumber: "
            "eth:getBlockByNumber); methods listed in --rpc-ws-api-methods-no-auth skip the "
            "check; without an authenticated user nothing else is permitted",
            "source": JSON_RPC_METHOD,
            "check_source": AUTH_SERVICE,
        },
        "refusals": {
            "unauthorized": error("UNAUTHORIZED"),
            "method_not_found": error("METHOD_NOT_FOUND"),
            "method_not_enabled": error("METHOD_NOT_ENABLED"),
            "rule": "an unknown method (method_not_found) and a method of an API group the "
            "service does not serve (method_not_enabled) are answered before the permission "
            "check; a call that is not permitted gets unauthorized, with its id",
            "source": AUTHENTICATED_PROCESSOR,
            "codes_source": RPC_ERROR_TYPE,
            "order_source": JSON_RPC_EXECUTOR,
            "wiring_source": RUNNER_BUILDER,
        },
        "vertx": extract_vertx_jwt(mirror, vertx),
    }


def extract_vertx_jwt(besu: Mirror, vertx: Mirror) -> dict[str, Any]:
    """The token checks Besu leaves to Vert.x's JWT provider, at the version Besu pins."""
    version = _vertx_version(besu)
    if vertx.tag != version:
        raise FactMissing(f"vertx-auth read at {vertx.tag}, Besu {besu.tag} pins {version}")
    options = vertx.show(VERTX_JWT_AUTH_OPTIONS)
    claim = need(r'PERMISSIONS_CLAIM_KEY\s*=\s*"(\w+)"', options, VERTX_JWT_AUTH_OPTIONS).group(1)
    jwt_options = vertx.show(VERTX_JWT_OPTIONS)
    leeway = need(r"private int leeway = (\d+);", jwt_options, VERTX_JWT_OPTIONS).group(1)
    need(r"private boolean ignoreExpiration;", jwt_options, VERTX_JWT_OPTIONS)
    user = vertx.show(VERTX_USER)
    need(r'now - leeway >= attributes\(\)\.getLong\("exp"', user, VERTX_USER)
    need(r"iat > now \+ leeway", user, VERTX_USER)
    need(r"nbf > now \+ leeway", user, VERTX_USER)
    need(r"WildcardPermissionBasedAuthorization\.create\(authority\)", user, VERTX_USER)
    provider = vertx.show(VERTX_JWT_PROVIDER)
    need(r"user\.expired\(jwtOptions\.getLeeway\(\)\)", provider, VERTX_JWT_PROVIDER)
    need(r"PermissionBasedAuthorization\.create\(permission\)", provider, VERTX_JWT_PROVIDER)
    jwt = vertx.show(VERTX_JWT)
    need(r'"Algorithm \\"none\\" not allowed"', jwt, VERTX_JWT)
    need(r'"Signature is required"', jwt, VERTX_JWT)
    need(r"VERIFY\.get\(alg\)", jwt, VERTX_JWT)
    jws = vertx.show(VERTX_JWS)
    need(r'case RS256:\s*return Signature\.getInstance\("SHA256withRSA"\)', jws, VERTX_JWS)
    permission = vertx.show(VERTX_PERMISSION)
    need(
        r"permission\.equals\(otherWildcardPermissionBasedAuthorization\.getPermission\(\)\)",
        permission,
        VERTX_PERMISSION,
    )
    return {
        "repository": VERTX_REPOSITORY,
        "tag": vertx.tag,
        "commit": vertx.commit(),
        "version_source": PLATFORM_BUILD,
        "permissions_claim": claim,
        "permissions_claim_source": VERTX_JWT_AUTH_OPTIONS,
        "leeway_seconds": int(leeway),
        "leeway_source": VERTX_JWT_OPTIONS,
        "signature": {
            "rule": "a token is three base64url segments with a non-empty signature; the "
            "header's alg picks the verifier and only the configured algorithm has one (alg "
            "none is refused); RS256 is SHA256withRSA (RSASSA-PKCS1-v1_5 with SHA-256)",
            "source": VERTX_JWT,
            "algorithm_source": VERTX_JWS,
        },
        "time": {
            "rule": "refused when now - leeway >= exp, when iat > now + leeway and when nbf > "
            "now + leeway (now in whole seconds)",
            "source": VERTX_USER,
            "check_source": VERTX_JWT_PROVIDER,
        },
        "permission_match": {
            "rule": "each string of the permissions claim is held as given; a method "
            "permission is held when it equals one of them exactly (case-sensitive, no "
            "wildcard expansion of the claim)",
            "source": VERTX_PERMISSION,
            "claim_source": VERTX_JWT_PROVIDER,
            "request_source": VERTX_USER,
        },
    }


def extract(mirror: Mirror, vertx: Mirror | None = None) -> dict[str, Any]:
    """All facts of one tag (``vertx``: the vertx-auth mirror at the version Besu pins)."""
    vertx = vertx or Mirror(DEFAULT_VERTX_MIRROR, _vertx_version(mirror))
    return {
        "repository": "hyperledger/besu",
        "tag": mirror.tag,
        "commit": mirror.commit(),
        "generated_by": "tools/extract_besu_facts.py",
        "options": extract_options(mirror),
        "boolean_values": extract_boolean_rule(mirror),
        "enum_values": extract_enum_rule(mirror),
        "environment": extract_environment(mirror),
        "ip_address_options": extract_ip_options(mirror),
        "host_allowlist": extract_host_allowlist(mirror),
        "health": extract_health(mirror),
        "key_file": extract_key_file(mirror),
        "static_nodes_dns": extract_static_nodes_dns(mirror),
        "storage": extract_storage(mirror),
        "image": extract_image(mirror),
        "rpc_ws_authentication": extract_ws_authentication(mirror, vertx),
    }


def main(argv: list[str] | None = None) -> int:
    """Write the facts file; 1 when a fact can no longer be read."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    parser.add_argument("--vertx-mirror", type=Path, default=DEFAULT_VERTX_MIRROR)
    parser.add_argument("--tag", default=DEFAULT_TAG)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent.parent / "tests" / "data" / (
        f"besu_facts_{args.tag}.json"
    )
    try:
        besu = Mirror(args.mirror, args.tag)
        facts = extract(besu, Mirror(args.vertx_mirror, _vertx_version(besu)))
    except (FactMissing, subprocess.CalledProcessError) as exc:
        print(f"extract_besu_facts: {exc}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(facts['options'])} options and the runtime facts of Besu {args.tag} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
