"""The container entry point, run for real: no verified key, no Besu; runtime values only.

The generated script is executed with ``/bin/sh`` (dash on Debian/Ubuntu, like the Besu image's
Ubuntu base) in a temporary directory, exactly as ECS runs ``entryPoint + command``: its absolute
paths are rewritten to that directory, ``besu`` is a fake that prints a chosen address for
``public-key export-address`` (after a log line, as Besu does) and otherwise records its
arguments, and ``getent`` is a fake resolver whose names are listed in a file.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from besu_stack.besu.command_line import (
    RUNTIME_VALUES,
    BesuNodeOptions,
    besu_command_line,
)
from besu_stack.constructs.fleet.node_entrypoint import (
    ENTRYPOINT_NAME,
    NODE_ENV_FILE,
    NODE_ENV_VARIABLES,
    REFUSAL_EXIT_CODE,
    REFUSAL_MARKER,
    container_command,
    container_entry_point,
    entrypoint_script,
)

NODE_HOST = "validator-2.besu.besu.internal"
PRIVATE_IP = "10.0.1.23"
LB_IPS = "10.0.0.5,10.0.1.6"
PEERS = ("validator-0.besu.besu.internal", "validator-1.besu.besu.internal", NODE_HOST)
ADDRESS = "0x" + "ab" * 10 + "cd" * 10
"""Lower-case, as ``besu public-key export-address`` prints it."""

FAKE_BESU = """#!/bin/sh
if [ "$1" = public-key ] && [ "$2" = export-address ]; then
  printf '%s\\n' "$3" > "$FAKE_DIR/export-args"
  echo "2024-01-01 00:00:00 INFO Loaded public key 0x$(printf '%0128d' 7) from key"
  if [ -n "$FAKE_EXPORT_ERROR" ]; then echo "$FAKE_EXPORT_ERROR" >&2; exit 1; fi
  printf '%s\\n' "$FAKE_ADDRESS"
  exit 0
fi
for argument in "$@"; do printf '%s\\n' "$argument"; done > "$FAKE_DIR/besu-args"
exit 0
"""
FAKE_GETENT = """#!/bin/sh
# getent hosts NAME: resolves the names in $FAKE_DIR/dns once $FAKE_DIR/dns-after calls passed.
count=$(cat "$FAKE_DIR/dns-calls" 2>/dev/null || echo 0)
echo $((count + 1)) > "$FAKE_DIR/dns-calls"
[ "$count" -ge "$(cat "$FAKE_DIR/dns-after" 2>/dev/null || echo 0)" ] || exit 2
grep -qx "$2" "$FAKE_DIR/dns" && echo "10.0.9.9 $2"
"""


def _options() -> BesuNodeOptions:
    return BesuNodeOptions(protocol="ibft2", data_storage_format="BONSAI")


@dataclass
class Node:
    root: Path

    @property
    def env_file(self) -> Path:
        return self.root / "etc" / "besu" / "node.env"

    @property
    def key_file(self) -> Path:
        return self.root / "run" / "besu" / "key"

    @property
    def besu_args(self) -> Path:
        return self.root / "besu-args"

    def write_env(self, **overrides: str) -> None:
        values = {
            "NODE_SLOT": "2",
            "NODE_PRIVATE_IP": PRIVATE_IP,
            "NODE_HOST": NODE_HOST,
            "NODE_LOAD_BALANCER_IPS": LB_IPS,
            "NODE_EXPECTED_ADDRESS": "0x" + ADDRESS[2:].upper(),
        }
        values.update(overrides)
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    def write_key(self, text: str = "0x" + "11" * 32) -> None:
        self.key_file.write_text(text)

    def resolvable(self, names: tuple[str, ...] = PEERS, after_calls: int = 0) -> None:
        (self.root / "dns").write_text("".join(f"{n}\n" for n in names))
        (self.root / "dns-after").write_text(str(after_calls))

    def run(
        self,
        derived_address: str = ADDRESS,
        export_error: str = "",
        dns_wait_seconds: int = 0,
        arguments: list[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        options = _options()
        shell, flag, script, name = container_entry_point(options)
        assert (shell, flag, name) == ("/bin/sh", "-c", ENTRYPOINT_NAME)
        script = entrypoint_script(options, dns_wait_seconds=dns_wait_seconds, dns_retry_seconds=0)
        for path in ("/etc/besu", "/run/besu", "/opt/besu/bin/besu"):
            assert path in script
        local = (
            script.replace("/opt/besu/bin/besu", str(self.root / "bin" / "besu"))
            .replace("/etc/besu", str(self.root / "etc" / "besu"))
            .replace("/run/besu", str(self.root / "run" / "besu"))
        )
        command = container_command(options) if arguments is None else arguments
        return subprocess.run(
            [shell, flag, local, name, *command],
            capture_output=True,
            text=True,
            timeout=30,
            env={
                "PATH": f"{self.root / 'bin'}:/usr/bin:/bin",
                "FAKE_DIR": str(self.root),
                "FAKE_ADDRESS": derived_address,
                "FAKE_EXPORT_ERROR": export_error,
            },
        )


@pytest.fixture
def node(tmp_path: Path) -> Node:
    for sub in ("etc/besu", "run/besu", "bin"):
        (tmp_path / sub).mkdir(parents=True)
    for name, body in (("besu", FAKE_BESU), ("getent", FAKE_GETENT)):
        path = tmp_path / "bin" / name
        path.write_text(body)
        path.chmod(0o755)
    static = [f'"enode://{"ab" * 64}@{peer}:30303"' for peer in PEERS]
    (tmp_path / "etc" / "besu" / "static-nodes.json").write_text("[" + ",".join(static) + "]")
    node = Node(tmp_path)
    node.resolvable()
    return node


def _assert_refused(node: Node, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == REFUSAL_EXIT_CODE, result
    assert result.stderr.startswith(REFUSAL_MARKER + ":"), result.stderr
    assert not node.besu_args.exists(), "Besu was started"


def test_refuses_when_the_host_bootstrap_wrote_no_node_env(node: Node) -> None:
    node.write_key()
    result = node.run()
    _assert_refused(node, result)
    assert NODE_ENV_FILE in result.stderr and "missing" in result.stderr


def test_refuses_when_the_key_file_is_missing(node: Node) -> None:
    node.write_env()
    result = node.run()
    _assert_refused(node, result)
    assert "node key file missing for slot 2" in result.stderr


def test_refuses_an_empty_key_file(node: Node) -> None:
    """Besu reads a key file as exactly one hex line (KeyPairUtil.loadPrivateKey, 25.11.0) and
    generates a fresh key when the file is missing (KeyPairUtil.loadKeyPair)."""
    node.write_env()
    node.write_key("")
    _assert_refused(node, node.run())


def test_refuses_a_key_that_derives_another_address_and_names_both(node: Node) -> None:
    node.write_env()
    node.write_key()
    stranger = "0x" + "99" * 20
    result = node.run(derived_address=stranger)
    _assert_refused(node, result)
    assert stranger in result.stderr and ADDRESS in result.stderr
    assert "slot 2" in result.stderr


def test_shows_besus_own_error_instead_of_hiding_it(node: Node) -> None:
    """Defect 1 of issue 11: the old script sent Besu's stderr to /dev/null and reported "no
    verifiable address" for what was really "Invalid value for option '--network'"."""
    node.write_env()
    node.write_key()
    error = "Invalid value for option '--network': expected one of [MAINNET, ...]"
    result = node.run(export_error=error)
    _assert_refused(node, result)
    assert error in result.stderr


def test_starts_besu_with_exactly_its_options_and_the_runtime_values(node: Node) -> None:
    node.write_env()
    node.write_key()
    result = node.run()
    assert result.returncode == 0, result
    assert REFUSAL_MARKER not in result.stderr + result.stdout
    assert (node.root / "export-args").read_text().strip() == (
        f"--node-private-key-file={node.key_file}"
    )
    args = node.besu_args.read_text().splitlines()
    rendered = list(besu_command_line(_options()))
    # Same options in the same order: only the placeholders are filled in.
    assert [a.split("=", 1)[0] for a in args] == [a.split("=", 1)[0] for a in rendered]
    assert f"--p2p-host={PRIVATE_IP}" in args
    assert f"--host-allowlist=localhost,127.0.0.1,{PRIVATE_IP},{NODE_HOST},{LB_IPS}" in args
    assert not any(placeholder in a for a in args for placeholder in RUNTIME_VALUES)
    changed = [a for a, r in zip(args, rendered, strict=True) if a != r]
    assert [a.split("=", 1)[0] for a in changed] == ["--p2p-host", "--host-allowlist"]
    assert f"slot 2 key verified for {ADDRESS}" in result.stdout


def test_plan_time_values_pass_through_untouched(node: Node) -> None:
    node.write_env()
    node.write_key()
    arguments = ["--rpc-http-api=ETH,NET,TRACE", "--host-allowlist=localhost,@NODE_HOST@,rpc.x"]
    assert node.run(arguments=arguments).returncode == 0
    assert node.besu_args.read_text().splitlines() == [
        "--rpc-http-api=ETH,NET,TRACE",
        f"--host-allowlist=localhost,{NODE_HOST},rpc.x",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NODE_PRIVATE_IP", "ip-10-0-1-23.ec2.internal"),
        ("NODE_PRIVATE_IP", ""),
        ("NODE_HOST", "bad|host"),
        ("NODE_LOAD_BALANCER_IPS", ""),
        ("NODE_LOAD_BALANCER_IPS", "10.0.0.5,,10.0.0.6"),
        ("NODE_SLOT", "two"),
    ],
)
def test_refuses_runtime_values_of_the_wrong_form(node: Node, variable: str, value: str) -> None:
    """``--p2p-host`` must be an IP (P2PDiscoveryOptions, 25.11.0). The other forms are ours:
    Besu itself would take "a,,b" as two hosts (HostAllowlistOptionsTest), but a malformed
    runtime value means the host bootstrap went wrong, so the node does not start."""
    node.write_env(**{variable: value})
    node.write_key()
    result = node.run()
    _assert_refused(node, result)
    assert variable in result.stderr


def test_refuses_when_the_registry_gives_no_address(node: Node) -> None:
    node.write_env(NODE_EXPECTED_ADDRESS="")
    node.write_key("not a key")
    _assert_refused(node, node.run(derived_address=""))


def test_waits_until_every_peer_name_resolves(node: Node) -> None:
    """Besu pins a peer name that does not resolve at start to 127.0.0.1 (EnodeURLImpl,
    25.11.0): the entry point starts Besu only once the names resolve."""
    node.write_env()
    node.write_key()
    node.resolvable(after_calls=len(PEERS) * 2)
    result = node.run(dns_wait_seconds=3600)
    assert result.returncode == 0, result
    assert "waiting for peer names to resolve" in result.stdout
    assert "starting although" not in result.stdout
    assert node.besu_args.exists()


def test_starts_after_the_wait_naming_the_peers_that_do_not_resolve(node: Node) -> None:
    node.write_env()
    node.write_key()
    node.resolvable(names=PEERS[1:])
    result = node.run(dns_wait_seconds=0)
    assert result.returncode == 0, result
    assert f"starting although peer names do not resolve: {PEERS[0]}" in result.stdout
    assert node.besu_args.exists()


def test_node_env_and_script_carry_no_besu_prefixed_variable() -> None:
    """Besu reads every ``BESU_<OPTION>`` variable as that option
    (EnvironmentVariableDefaultProvider, 25.11.0)."""
    script = entrypoint_script(_options())
    assert "BESU_" not in script
    assert not any(name.startswith("BESU_") for name in NODE_ENV_VARIABLES)


def test_the_script_has_no_terraform_template_sequences() -> None:
    """The script travels inside container_definitions, a Terraform string: ${ or %{ would be
    interpolated by Terraform instead of reaching the shell."""
    script = container_entry_point(_options())[2]
    assert "${" not in script and "%{" not in script


def test_the_container_command_is_the_command_line() -> None:
    assert container_command(_options()) == list(besu_command_line(_options()))
