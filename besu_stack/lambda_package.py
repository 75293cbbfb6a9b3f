"""Deterministic Lambda deployment packages that share :mod:`besu_stack.besu` with the functions.

A package zip holds, at its root:

* the function's package (``lambda_src/keygen/`` becomes ``keygen/``, so the handler is
  ``keygen.handler.handler``);
* ``besu_stack/lambda_log.py``: the structured logger every function uses;
* ``besu_stack/__init__.py`` and ``besu_stack/besu/``: the pure-Python Besu library, imported by
  the function exactly as in this repository (it needs no cdktf);
* the contents of the third-party wheels in ``wheels_dir`` (``coincurve``, ``pycryptodome``,
  ``rlp`` and their dependencies, see ``lambda_src/requirements.txt``), unpacked as pip would
  install them into ``site-packages``.

The same inputs give the same bytes: entries are sorted, timestamps are 1980-01-01 00:00:00,
permissions are 0644 (0755 for executables and shared libraries) and ``__pycache__`` and
compiled files are left out. So the zip's SHA-256 (Terraform's ``source_code_hash``) changes
only when the code does.

Wheels are downloaded once at setup time by :func:`download_lambda_wheels`; building a zip never
touches the network.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The directory holding ``besu_stack/`` and ``lambda_src/``."""

LAMBDA_REQUIREMENTS = REPO_ROOT / "lambda_src" / "requirements.txt"
DEFAULT_SHARED_PACKAGES = (
    "besu_stack/__init__.py",
    "besu_stack/besu/",
    "besu_stack/lambda_log.py",
    "besu_stack/lambda_kernel/",
)
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
"""The earliest timestamp a zip entry can carry; used for every entry."""
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755

_PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _skipped(path: PurePosixPath) -> bool:
    return any(part in _SKIPPED_DIRS for part in path.parts) or path.suffix in _SKIPPED_SUFFIXES


def _is_executable(name: str, unix_mode: int) -> bool:
    return bool(unix_mode & 0o111) or name.endswith(".so") or ".so." in name


class _Entries:
    """Zip entries by archive path; a path added twice with different content is an error."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, int]] = {}
        self._origin: dict[str, str] = {}

    def add(self, name: str, data: bytes, mode: int, origin: str) -> None:
        existing = self._files.get(name)
        if existing is not None and existing[0] != data:
            raise ValueError(
                f"{name} comes from both {self._origin[name]} and {origin} with different "
                "content; remove one of them"
            )
        self._files[name] = (data, mode)
        self._origin[name] = origin

    def names(self) -> list[str]:
        return sorted(self._files)

    def zip_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name in sorted(self._files):
                data, mode = self._files[name]
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so that external_attr carries the mode
                info.external_attr = (0o100000 | mode) << 16
                archive.writestr(info, data, compresslevel=9)
        return buffer.getvalue()


def _add_tree(entries: _Entries, source: Path, archive_path: PurePosixPath) -> None:
    """Add a file at ``archive_path``, or every file under a directory below ``archive_path``."""
    if source.is_file():
        files = [(source, archive_path)]
    elif source.is_dir():
        files = [
            (path, archive_path / PurePosixPath(path.relative_to(source).as_posix()))
            for path in sorted(source.rglob("*"))
            if path.is_file()
        ]
    else:
        raise FileNotFoundError(f"{source} does not exist")
    for file, target in files:
        if _skipped(target):
            continue
        name = target.as_posix()
        mode = EXECUTABLE_MODE if _is_executable(name, file.stat().st_mode) else FILE_MODE
        entries.add(name, file.read_bytes(), mode, str(file))


def _wheel_target(name: str) -> str | None:
    """Where a wheel member goes in site-packages, or ``None`` when it is not installed there."""
    path = PurePosixPath(name)
    top = path.parts[0]
    if top.endswith(".data"):
        # <dist>.data/purelib|platlib/... install into site-packages; scripts, headers and
        # data do not belong in a Lambda package.
        if len(path.parts) > 2 and path.parts[1] in ("purelib", "platlib"):
            return PurePosixPath(*path.parts[2:]).as_posix()
        return None
    return path.as_posix()


def _add_wheel(entries: _Entries, wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            target = _wheel_target(info.filename)
            if target is None or _skipped(PurePosixPath(target)):
                continue
            unix_mode = info.external_attr >> 16
            mode = EXECUTABLE_MODE if _is_executable(target, unix_mode) else FILE_MODE
            entries.add(target, archive.read(info), mode, wheel.name)


def build_lambda_zip(
    function_dir: Path,
    output: Path,
    *,
    shared_packages: Sequence[str] = DEFAULT_SHARED_PACKAGES,
    wheels_dir: Path | None = None,
    source_root: Path = REPO_ROOT,
) -> str:
    """Write the deployment zip of the function in ``function_dir``; return its SHA-256 (hex).

    ``function_dir`` (for instance ``lambda_src/keygen``) becomes the top-level package named
    after the directory. ``shared_packages`` are paths relative to ``source_root`` (a file, or a
    directory ending in ``/``) copied at the same relative path. Every ``*.whl`` in
    ``wheels_dir`` is unpacked at the root (``*.dist-info`` kept); by default no wheel is
    added. The output is byte-identical for identical inputs.
    """
    entries = _Entries()
    if not function_dir.is_dir():
        raise FileNotFoundError(f"function directory {function_dir} does not exist")
    _add_tree(entries, function_dir, PurePosixPath(function_dir.name))
    for shared in shared_packages:
        relative = PurePosixPath(shared.rstrip("/"))
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"shared package {shared!r} must be a path inside {source_root}")
        _add_tree(entries, source_root / relative, relative)
    if wheels_dir is not None:
        wheels = sorted(wheels_dir.glob("*.whl"))
        if not wheels:
            raise FileNotFoundError(
                f"no *.whl in {wheels_dir}; run download_lambda_wheels() (setup) first"
            )
        for wheel in wheels:
            _add_wheel(entries, wheel)
    data = entries.zip_bytes()
    output.parent.mkdir(parents=True, exist_ok=True)
    if not output.exists() or output.read_bytes() != data:
        output.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def lambda_zip_listing(zip_path: Path) -> list[str]:
    """The entry names of a package zip, in archive order."""
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def download_lambda_wheels(
    dest: Path,
    arch: str = "arm64",
    python: str = "3.12",
    requirements: Path = LAMBDA_REQUIREMENTS,
) -> list[Path]:
    """Download the Lambda's pinned third-party wheels for ``arch`` into ``dest`` (setup time).

    Runs ``pip download --only-binary=:all:`` for the Lambda platform (manylinux, CPython
    ``python``); never called during synthesis. Returns the wheels in ``dest``.
    """
    platforms = _PLATFORMS.get(arch)
    if platforms is None:
        raise ValueError(f"arch must be one of {', '.join(sorted(_PLATFORMS))}, got {arch!r}")
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:"]
    for platform in platforms:
        command += ["--platform", platform]
    command += [
        "--python-version",
        python,
        "--implementation",
        "cp",
        "-r",
        str(requirements),
        "-d",
        str(dest),
    ]
    subprocess.run(command, check=True)
    return sorted(dest.glob("*.whl"))
