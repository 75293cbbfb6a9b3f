"""Design invariants 4 and 6: deterministic synthesis, no credentials or network needed, and
networks with different names coexisting in one app."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from besu_stack.settings import Settings
from tests.conftest import read_stack, synth_app

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]

NAME_ATTRIBUTES = {
    "name",
    "bucket",
    "name_prefix",
    "function_name",
    "cluster_name",
    "family",
    "alarm_name",
    "dashboard_name",
    "table_name",
    "service_name",
}

SOCKET_BLOCKER = """
import socket

_real_connect = socket.socket.connect

def _refuse(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError("network access attempted during synthesis: %r" % (address,))
    return _real_connect(self, address)

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
"""


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_two_synths_are_byte_identical(default_outdir: Path, tmp_path: Path) -> None:
    again = synth_app([Settings()], tmp_path / "again")
    first, second = tree(default_outdir), tree(again)
    assert sorted(first) == sorted(second)
    assert first == second


def test_synth_needs_no_credentials_and_no_network(default_outdir: Path, tmp_path: Path) -> None:
    """`python main.py` in a fresh process with AWS variables unset, an empty HOME, sockets blocked in Python and,
    where unshare is available, no network interface at all for Python and Node."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(SOCKET_BLOCKER)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BESU_STACK_", "CDKTF_"))
    }
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join([str(blocker), str(ROOT)]))
    outdir = tmp_path / "offline"
    # main.py is what `cdktf synth` runs; the CLI passes the output directory as CDKTF_OUTDIR.
    env["CDKTF_OUTDIR"] = str(outdir)
    command = [sys.executable, str(ROOT / "main.py")]
    if (
        shutil.which("unshare")
        and subprocess.run(["unshare", "-n", "true"], check=False).returncode == 0
    ):
        command = ["unshare", "-n", *command]
    proc = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "network access attempted" not in proc.stderr
    # Another process, another interpreter state: the output is still byte-identical.
    assert tree(outdir) == tree(default_outdir)
    assert "besu: " in proc.stdout and "resources" in proc.stdout


def _names(stack: dict[str, Any]) -> set[str]:
    found = set()
    for items in stack.get("resource", {}).values():
        for resource in items.values():
            for attribute, value in resource.items():
                # References (${...}) are per stack; literal names are what could collide.
                if attribute in NAME_ATTRIBUTES and isinstance(value, str) and "${" not in value:
                    found.add(value)
    return found


def test_two_networks_in_one_app_have_no_name_collision(tmp_path: Path) -> None:
    alpha = Settings(network_name="alpha")
    beta = Settings(network_name="beta", consensus="qbft", validator_count=7)
    outdir = synth_app([alpha, beta], tmp_path / "two")
    stacks = {
        name: read_stack(outdir, name) for name in ("alpha", "beta", "alpha-state", "beta-state")
    }
    names = {name: _names(stack) for name, stack in stacks.items()}
    assert names["alpha"] and names["beta"]
    assert not names["alpha"] & names["beta"]
    for network in ("alpha", "beta"):
        for value in names[network]:
            assert value.startswith(
                (
                    f"{network}-",
                    f"alias/{network}-",
                    f"{network}/",
                    f"/aws/lambda/{network}-",
                    f"/besu/{network}/",
                    f"{network}.besu.internal",
                )
            ), value
        derived = stacks[f"{network}-state"]["locals"]["bucket_name_or_derived"]
        assert f'"{network}-tfstate-${{data.aws_caller_identity.' in derived


def test_two_networks_with_the_same_name_are_refused() -> None:
    from besu_stack.app import build_app

    with pytest.raises(ValueError, match="share the network_name 'twin'"):
        build_app(
            [Settings(network_name="twin"), Settings(network_name="twin", validator_count=7)],
            outdir="unused",
        )
