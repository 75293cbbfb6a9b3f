"""The container entrypoint, run for real: no verified key, no Besu.

The generated script is executed with ``/bin/sh`` (dash on Debian/Ubuntu, like the Besu image)
in a temporary directory: its absolute paths are rewritten to that directory and ``besu`` is a
fake that prints a chosen address for ``public-key export-address`` and otherwise records its
arguments.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from besu_stack.besu.command_line import BesuNodeOptions
from besu_stack.node_entrypoint import (
    HOST_PLACEHOLDER,
    NODE_ENV_FILE,
    REFUSAL_MARKER,
    container_command,
    node_command_line,
)

NODE_HOST = "validator-2.besu.besu.internal"
ADDRESS = "0x" + "ab" * 10 + "cd" * 10
"""Lower-case, as ``besu public-key export-address`` prints it."""
REFUSED = 78

FAKE_BESU = """#!/bin/sh
if [ "$1" = public-key ] && [ "$2" = export-address ]; then
  printf '%s\\n' "$3" > "$FAKE_DIR/export-args"
  echo "2024-01-01 00:00:00 INFO some log line before the address"
  printf '%s\\n' "$FAKE_ADDRESS"
  exit 0
fi
for argument in "$@"; do printf '%s\\n' "$argument"; done > "$FAKE_DIR/besu-args"
exit 0
"""


def _options() -> BesuNodeOptions:
    return BesuNodeOptions(
        protocol="ibft2", p2p_host=HOST_PLACEHOLDER, data_storage_format="BONSAI"
    )


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

    def write_env(self, expected_address: str = ADDRESS.upper().replace("0X", "0x")) -> None:
        self.env_file.write_text(
            f"BESU_SLOT=2\nBESU_NODE_HOST={NODE_HOST}\nBESU_EXPECTED_ADDRESS={expected_address}\n"
        )

    def write_key(self, text: str = "0x" + "11" * 32) -> None:
        self.key_file.write_text(text)

    def run(
        self, derived_address: str = ADDRESS, extra_hosts: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        shell, flag, script = container_command(_options())
        assert (shell, flag) == ("/bin/sh", "-c")
        for path in ("/etc/besu", "/run/besu", "/opt/besu/bin/besu"):
            assert path in script
        local = (
            script.replace("/opt/besu/bin/besu", str(self.root / "bin" / "besu"))
            .replace("/etc/besu", str(self.root / "etc" / "besu"))
            .replace("/run/besu", str(self.root / "run" / "besu"))
        )
        return subprocess.run(
            [shell, flag, local],
            capture_output=True,
            text=True,
            timeout=30,
            env={
                "PATH": "/usr/bin:/bin",
                "FAKE_DIR": str(self.root),
                "FAKE_ADDRESS": derived_address,
                "BESU_CONSUMER_APIS": "ETH,NET,TRACE",
                "BESU_STORAGE_FORMAT": "FOREST",
                **({} if extra_hosts is None else {"BESU_HOST_ALLOWLIST_EXTRA": extra_hosts}),
            },
        )


@pytest.fixture
def node(tmp_path: Path) -> Node:
    for sub in ("etc/besu", "run/besu", "bin"):
        (tmp_path / sub).mkdir(parents=True)
    besu = tmp_path / "bin" / "besu"
    besu.write_text(FAKE_BESU)
    besu.chmod(0o755)
    return Node(tmp_path)


def _assert_refused(node: Node, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == REFUSED, result
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
    """Besu would generate a fresh key over an empty file just as over a missing one."""
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


def test_starts_besu_as_the_slot_host_when_the_key_matches_case_insensitively(node: Node) -> None:
    node.write_env(expected_address="0x" + ADDRESS[2:].upper())
    node.write_key()
    result = node.run(derived_address=ADDRESS)
    assert result.returncode == 0, result
    assert REFUSAL_MARKER not in result.stderr + result.stdout
    assert (node.root / "export-args").read_text().strip() == (
        f"--node-private-key-file={node.key_file}"
    )
    args = node.besu_args.read_text().splitlines()
    assert f"--p2p-host={NODE_HOST}" in args
    assert "--rpc-http-api=ETH,NET,TRACE" in args
    assert "--data-storage-format=FOREST" in args
    assert f"--host-allowlist=localhost,127.0.0.1,{NODE_HOST}" in args
    assert f"--node-private-key-file={node.key_file}" in args
    assert not any(HOST_PLACEHOLDER in a for a in args)
    assert not any(a.startswith("--rpc-http-api=") and "ADMIN" in a for a in args)
    assert "--rpc-ws-api=ADMIN,ETH,NET,IBFT" in args
    assert f"slot 2 key verified for {ADDRESS}" in result.stdout


def test_refuses_when_neither_the_registry_nor_the_key_gives_an_address(node: Node) -> None:
    node.write_env(expected_address="")
    node.write_key("not a key")
    _assert_refused(node, node.run(derived_address=""))


def test_node_command_line_requires_the_host_placeholder() -> None:
    real_host = BesuNodeOptions(protocol="ibft2", p2p_host=NODE_HOST, data_storage_format="BONSAI")
    with pytest.raises(ValueError, match="p2p_host must be"):
        node_command_line(real_host)
    assert f"--p2p-host={HOST_PLACEHOLDER}" in node_command_line(_options())


def test_consumer_host_names_from_the_variable_join_the_allow_list(node: Node) -> None:
    node.write_env()
    node.write_key()
    result = node.run(
        extra_hosts="rpc.besu.example.com,vpce-1.vpce-svc-2.eu-west-1.vpce.amazonaws.com"
    )
    assert result.returncode == 0, result.stderr
    args = node.besu_args.read_text().splitlines()
    assert (
        f"--host-allowlist=localhost,127.0.0.1,{NODE_HOST},rpc.besu.example.com,"
        "vpce-1.vpce-svc-2.eu-west-1.vpce.amazonaws.com"
    ) in args


def test_empty_extra_host_list_keeps_the_allow_list_closed(node: Node) -> None:
    node.write_env()
    node.write_key()
    assert node.run(extra_hosts="").returncode == 0
    assert (
        f"--host-allowlist=localhost,127.0.0.1,{NODE_HOST}"
        in node.besu_args.read_text().splitlines()
    )


def test_the_script_has_no_terraform_template_sequences() -> None:
    """The script travels inside container_definitions, a Terraform string: ${ or %{ would be
    interpolated by Terraform instead of reaching the shell."""
    script = container_command(_options())[2]
    assert "${" not in script and "%{" not in script
