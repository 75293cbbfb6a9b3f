"""Deterministic Lambda zips: same inputs, same bytes; shared besu_stack; unpacked wheels."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from besu_stack import lambda_package
from besu_stack.lambda_package import (
    DEFAULT_SHARED_PACKAGES,
    LAMBDA_REQUIREMENTS,
    LAMBDA_SOURCE,
    PACKAGE_ROOT,
    build_lambda_zip,
    lambda_zip_listing,
)

KEYGEN = LAMBDA_SOURCE / "keygen"
KEYGEN_SHARED = (*DEFAULT_SHARED_PACKAGES, "besu_stack/besu/")


def make_wheel(directory: Path, name: str = "tinydep", version: str = "1.0") -> Path:
    """A minimal wheel, written with deliberately messy timestamps, order and modes."""
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    dist_info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        members = [
            (f"{dist_info}/RECORD", b"", 0o600),
            (f"{name}/__init__.py", b"VALUE = 42\n", 0o600),
            (f"{name}/_native.so", b"\x7fELF fake", 0o700),
            (f"{name}/__pycache__/__init__.cpython-312.pyc", b"junk", 0o644),
            (f"{dist_info}/METADATA", f"Name: {name}\nVersion: {version}\n".encode(), 0o644),
            (f"{name}-{version}.data/purelib/{name}_extra.py", b"EXTRA = 1\n", 0o644),
            (f"{name}-{version}.data/scripts/{name}-cli", b"#!/bin/sh\n", 0o755),
        ]
        for index, (member, data, mode) in enumerate(members):
            info = zipfile.ZipInfo(member, date_time=(2024, 5, 6, 7, 8, index))
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, data)
    return wheel


@pytest.fixture
def function_dir(tmp_path: Path) -> Path:
    """A copy of the keygen function with a stray __pycache__ (as a test run leaves)."""
    target = tmp_path / "src" / "keygen"
    target.mkdir(parents=True)
    for source in sorted(KEYGEN.glob("*.py")):
        (target / source.name).write_bytes(source.read_bytes())
    (target / "__pycache__").mkdir()
    (target / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"junk")
    return target


def test_same_inputs_give_identical_bytes(function_dir: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    first = build_lambda_zip(function_dir, tmp_path / "a.zip", wheels_dir=wheels)
    # Touch every input: mtimes must not matter.
    for path in function_dir.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes())
    second = build_lambda_zip(function_dir, tmp_path / "b.zip", wheels_dir=wheels)

    a = (tmp_path / "a.zip").read_bytes()
    b = (tmp_path / "b.zip").read_bytes()
    assert a == b
    assert first == second == hashlib.sha256(a).hexdigest()


def test_entries_are_sorted_with_fixed_timestamps_and_modes(
    function_dir: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    output = tmp_path / "out" / "keygen.zip"
    build_lambda_zip(function_dir, output, wheels_dir=wheels)

    with zipfile.ZipFile(output) as archive:
        infos = archive.infolist()
        assert archive.testzip() is None
    names = [i.filename for i in infos]
    assert names == sorted(names)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = (info.external_attr >> 16) & 0o7777
        expected = 0o755 if info.filename.endswith(".so") else 0o644
        assert mode == expected, info.filename
        assert not info.filename.endswith("/"), "no directory entries"


def test_content_listing(function_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "keygen.zip"
    build_lambda_zip(function_dir, output, shared_packages=KEYGEN_SHARED)
    names = lambda_zip_listing(output)

    assert "keygen/handler.py" in names
    assert "keygen/logic.py" in names
    assert "keygen/__init__.py" in names
    assert "besu_stack/__init__.py" in names
    expected_besu = sorted(
        f"besu_stack/besu/{p.name}" for p in (PACKAGE_ROOT / "besu_stack" / "besu").glob("*.py")
    )
    assert sorted(n for n in names if n.startswith("besu_stack/besu/")) == expected_besu
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # Only the Besu library is shared: no cdktf-importing module rides along.
    assert not [n for n in names if n.startswith(("besu_stack/stacks", "besu_stack/constructs"))]
    assert not [n for n in names if n.startswith("lambda_src/")]


def test_wheels_are_unpacked_at_the_root(function_dir: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    output = tmp_path / "keygen.zip"
    build_lambda_zip(function_dir, output, wheels_dir=wheels)

    with zipfile.ZipFile(output) as archive:
        names = archive.namelist()
        assert archive.read("tinydep/__init__.py") == b"VALUE = 42\n"
        assert archive.read("tinydep_extra.py") == b"EXTRA = 1\n"
    assert "tinydep-1.0.dist-info/METADATA" in names
    assert "tinydep-1.0.dist-info/RECORD" in names
    assert "tinydep/_native.so" in names
    assert not [n for n in names if ".data/" in n or n.endswith("-cli")]
    assert not [n for n in names if "__pycache__" in n]


def test_conflicting_files_are_an_error(function_dir: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    clash = wheels / "clash-1.0-py3-none-any.whl"
    with zipfile.ZipFile(clash, "w") as archive:
        archive.writestr("keygen/handler.py", "print('not ours')\n")
    with pytest.raises(ValueError, match=r"keygen/handler\.py"):
        build_lambda_zip(function_dir, tmp_path / "x.zip", wheels_dir=wheels)


def test_empty_wheels_dir_is_an_error(function_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download_lambda_wheels"):
        build_lambda_zip(function_dir, tmp_path / "x.zip", wheels_dir=tmp_path)


def test_handler_imports_from_the_zip_alone(function_dir: Path, tmp_path: Path) -> None:
    """The zip's layout is importable as Lambda sees it (zip root on sys.path)."""
    output = tmp_path / "keygen.zip"
    build_lambda_zip(function_dir, output, shared_packages=KEYGEN_SHARED)
    with zipfile.ZipFile(io.BytesIO(output.read_bytes())) as archive:
        archive.extractall(tmp_path / "task")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import keygen.logic, keygen.store, keygen.config;"
        "import besu_stack.besu;"
        "assert 'cdktf' not in sys.modules;"
        "assert keygen.logic.__file__.startswith(sys.argv[1])"
    )
    subprocess.run(
        [sys.executable, "-I", "-c", code, str(tmp_path / "task")], check=True, timeout=60
    )


def test_download_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_run(command: list[str], check: bool) -> None:
        calls.append(command)

    monkeypatch.setattr(lambda_package.subprocess, "run", fake_run)
    lambda_package.download_lambda_wheels(tmp_path / "wheels")
    (command,) = calls
    assert command[1:5] == ["-m", "pip", "download", "--only-binary=:all:"]
    assert "manylinux2014_aarch64" in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert command[command.index("-r") + 1].endswith("lambda_src/requirements.txt")
    with pytest.raises(ValueError, match="arch"):
        lambda_package.download_lambda_wheels(tmp_path, arch="sparc")


def test_requirements_are_pinned() -> None:
    lines = [
        line.strip()
        for line in LAMBDA_REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all("==" in line for line in lines)
    pins = dict(line.split("==") for line in lines)
    assert pins["coincurve"] == "21.0.0"
    assert pins["pycryptodome"] == "4.4.0"
    assert pins["websocket-client"] == "1.9.2"
    assert "rlp" not in pins, "extraData RLP is besu_stack.besu.rlp: no rlp, eth-utils, pydantic"
