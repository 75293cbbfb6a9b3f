"""The Besu facts the runtime tests use: extracted from Besu's source at the pinned tag."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from besu_stack.besu.command_line import BesuNodeOptions, besu_command_line
from besu_stack.variables import NETWORK_VARIABLES
from tests.support.fake_besu import facts

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path("/work/.mirror/hyperledger+besu/repo")
VERTX_MIRROR = Path("/work/.mirror/eclipse-vertx+vertx-auth/repo")
"""Vert.x's auth modules: Besu leaves the JWT signature, expiry and permission checks to them."""


def _pinned_tag() -> str:
    (spec,) = [v for v in NETWORK_VARIABLES if v.name == "besu_image_tag"]
    return str(spec.default)


def test_the_facts_are_of_the_pinned_besu_tag() -> None:
    """Bumping besu_image_tag needs facts of the new tag (tools/extract_besu_facts.py --tag)."""
    tag = _pinned_tag()
    data = REPO / "tests" / "data" / f"besu_facts_{tag}.json"
    assert data.exists(), f"no facts for Besu {tag}: run tools/extract_besu_facts.py --tag {tag}"
    assert facts(tag)["tag"] == tag


def test_every_fact_names_its_source_file() -> None:
    data = facts(_pinned_tag())
    for key, value in data.items():
        if isinstance(value, dict) and key != "options":
            sources = json.dumps(value)
            assert '"source"' in sources, key
    assert all(option["source"].endswith(".java") for option in data["options"].values())


@pytest.mark.skipif(
    not (MIRROR.is_dir() and VERTX_MIRROR.is_dir()),
    reason="no Besu or vertx-auth mirror on this machine",
)
def test_the_committed_facts_are_what_the_script_extracts(tmp_path: Path) -> None:
    out = tmp_path / "facts.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "extract_besu_facts.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == facts(_pinned_tag())


def test_every_option_of_the_command_line_is_one_besu_declares() -> None:
    known = facts(_pinned_tag())["options"]
    for protocol in ("ibft2", "qbft"):
        for argument in besu_command_line(BesuNodeOptions(protocol=protocol)):
            assert argument.split("=", 1)[0] in known, argument


def test_the_jwt_facts_of_vertx_are_of_the_version_besu_pins() -> None:
    """Besu's platform BOM pins Vert.x; the JWT checks it delegates are read at that tag."""
    vertx = facts(_pinned_tag())["rpc_ws_authentication"]["vertx"]
    assert vertx["repository"] == "eclipse-vertx/vertx-auth"
    assert vertx["version_source"] == "platform/build.gradle"
    assert vertx["tag"] == "4.5.13" and len(vertx["commit"]) == 40
