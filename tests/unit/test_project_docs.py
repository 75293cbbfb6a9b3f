"""The README's commands exist, the project entry points are wired, and jsii gets a supported Node."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from besu_stack.cli import build_parser
from besu_stack.node_runtime import use_project_node

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))


def test_readme_starts_with_make_synth_then_make_test() -> None:
    commands = re.findall(r"^make (\w+)", README, re.MULTILINE)
    assert commands[:2] == ["synth", "test"]


def test_every_make_target_named_in_the_readme_exists() -> None:
    named = set(re.findall(r"`make ([a-z-]+)`", README)) | set(
        re.findall(r"^make ([a-z-]+)", README, re.MULTILINE)
    )
    assert named, "the README names no make target"
    assert named <= _make_targets(), named - _make_targets()


def test_every_besu_stack_command_in_the_readme_exists() -> None:
    subcommands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    named = set(re.findall(r"besu-stack ([a-z][a-z-]+)", README)) - {"toml"}
    assert named, "the README names no besu-stack command"
    assert named <= set(subcommands), named - set(subcommands)


def test_ci_runs_make_test() -> None:
    run = ROOT / ".ci" / "run"
    assert run.stat().st_mode & stat.S_IXUSR
    assert re.search(r"^make test$", run.read_text(encoding="utf-8"), re.MULTILINE)


def test_cdktf_json_runs_main_py_without_provider_generation() -> None:
    config = json.loads((ROOT / "cdktf.json").read_text(encoding="utf-8"))
    assert config["app"] == "python main.py"
    assert config["language"] == "python"
    assert config["terraformProviders"] == [] and config["terraformModules"] == []


def test_project_node_is_used_unless_the_user_chose_one(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\n")
    node.chmod(0o755)
    env: dict[str, str] = {}
    assert use_project_node(env, node) == str(node)
    assert env["JSII_NODE"] == str(node)
    chosen = {"JSII_NODE": "/opt/node24/bin/node"}
    assert use_project_node(chosen, node) is None
    assert chosen["JSII_NODE"] == "/opt/node24/bin/node"
    missing: dict[str, str] = {}
    assert use_project_node(missing, tmp_path / "absent") is None
    assert "JSII_NODE" not in missing


_TEST_FILE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")
_SAME_FILE = re.compile(r"`\.\.\.::(\w+)`")


def _cited_tests(text: str) -> list[tuple[str, str | None]]:
    """``(file, test)`` for every test a page cites, in order.

    A page names a test as ```tests/x/test_y.py::test_z``` and then others of the same file as
    ```...::test_w```; a file may be named alone.
    """
    cited: list[tuple[str, str | None]] = []
    last_file: str | None = None
    for match in re.finditer(f"{_TEST_FILE.pattern}|{_SAME_FILE.pattern}", text):
        if match.group(1):
            last_file = match.group(1)
            cited.append((last_file, match.group(2)))
        else:
            assert last_file is not None, f"`...::{match.group(3)}` before any test file"
            cited.append((last_file, match.group(3)))
    return cited


def test_every_test_the_docs_cite_exists() -> None:
    """The security model names the test behind each sentence: a renamed test breaks the claim."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    assert len(_cited_tests(README)) >= 40, "the README's security model cites its tests"
    missing = []
    for page in pages:
        for file, test in _cited_tests(page.read_text(encoding="utf-8")):
            path = ROOT / file
            if not path.is_file():
                missing.append(f"{page.name}: {file}")
            elif test and not re.search(
                rf"^\s*def {test}\(", path.read_text(encoding="utf-8"), re.MULTILINE
            ):
                missing.append(f"{page.name}: {file}::{test}")
    assert missing == []
