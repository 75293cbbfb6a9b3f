"""``besu-stack modules --archive``: a deterministic tarball of a module, files at its root."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from besu_stack import __version__
from besu_stack.modules import MODULES, archive_module, archive_modules


def _module(root: Path) -> Path:
    (root / "assets" / "lambda_package_x" / "ABC").mkdir(parents=True)
    (root / "main.tf.json").write_text('{"resource": {}}\n')
    (root / "README.md").write_text("# m\n")
    (root / "assets" / "lambda_package_x" / "ABC" / "x.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    return root


def test_archive_is_byte_identical_whatever_the_file_times(tmp_path: Path) -> None:
    module = _module(tmp_path / "m")
    first = archive_module(module, tmp_path / "a.tar.gz").read_bytes()
    for path in module.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
        if path.is_file():
            path.chmod(0o600)
    second = archive_module(module, tmp_path / "b.tar.gz").read_bytes()
    assert first == second


def test_archive_holds_the_module_files_at_its_root(tmp_path: Path) -> None:
    module = _module(tmp_path / "m")
    archive = archive_module(module, tmp_path / "out" / "m.tar.gz")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "README.md",
        "assets/lambda_package_x/ABC/x.zip",
        "main.tf.json",
    ]
    assert all(m.isfile() and m.mode == 0o644 and m.mtime == 0 and m.uid == 0 for m in members)


def test_archive_refuses_a_directory_that_is_not_a_module(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"main\.tf\.json"):
        archive_module(tmp_path, tmp_path / "x.tar.gz")


def test_committed_modules_archive_by_name_and_version(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "modules"
    archives = archive_modules(root, tmp_path)
    assert [a.name for a in archives] == [f"{s.name}-{__version__}.tar.gz" for s in MODULES]
    with tarfile.open(archives[0]) as tar:
        names = tar.getnames()
    assert "main.tf.json" in names and "README.md" in names
