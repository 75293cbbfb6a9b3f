"""The CLI turns every user error into one line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from besu_stack.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_bad_setting_from_environment_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BESU_STACK_VALIDATOR_COUNT", "0")
    assert main(["settings"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "validator_count=0" in err and "1 to 31" in err


def test_bad_settings_file_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "besu-stack.toml").write_text('consensus = "clique"\n')
    assert main(["synth"]) == 2  # fails before any provider import
    assert "consensus='clique'" in capsys.readouterr().err


def test_settings_prints_value_and_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BESU_STACK_CONSENSUS", "qbft")
    assert main(["settings", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["consensus"] == {"value": "qbft", "source": "$BESU_STACK_CONSENSUS"}
    assert shown["validator_count"] == {"value": 4, "source": "default"}


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "synth" in capsys.readouterr().out


def test_console_script_shows_no_traceback_for_bad_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BESU_STACK_")}
    env["BESU_STACK_NETWORK_NAME"] = "Not_Valid"
    proc = subprocess.run(
        [sys.executable, "-m", "besu_stack.cli", "synth"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("besu-stack: error: invalid setting network_name='Not_Valid'")


def test_check_without_output_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(
        "CHECKOV", sys.executable
    )  # any executable: the missing output is checked first
    assert main(["check", "--no-synth", "--outdir", str(tmp_path / "nothing")]) == 2
    assert "manifest.json not found" in capsys.readouterr().err


def test_rehearse_runs_the_rehearsal_in_the_workdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import besu_stack.rehearsal.rehearse as rehearse

    ran: list[tuple[Path, str]] = []

    class FakeRehearsal:
        def __init__(self, workdir: Path, *, settings: object, progress: object) -> None:
            ran.append((workdir, getattr(settings, "network_name", "")))

        def run(self) -> None:
            return None

    monkeypatch.setattr(rehearse, "Rehearsal", FakeRehearsal)
    assert main(["rehearse", "--workdir", str(tmp_path / "r")]) == 0
    assert ran == [((tmp_path / "r").resolve(), "besu")]


def test_a_failed_rehearsal_exits_1_with_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import besu_stack.rehearsal.rehearse as rehearse

    class FailingRehearsal:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def run(self) -> None:
            raise rehearse.RehearsalFailure("a second plan would change: aws_kms_key.k (policy)")

    monkeypatch.setattr(rehearse, "Rehearsal", FailingRehearsal)
    assert main(["rehearse", "--workdir", str(tmp_path)]) == 1
    assert "rehearsal failed: a second plan would change" in capsys.readouterr().err
