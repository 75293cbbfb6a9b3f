"""Deterministic, lean Lambda deployment packages, built from what is installed (no checkout).

Each function's zip holds, at its root, only what that function imports:

* the function's package (``lambda_src/keygen/`` becomes ``keygen/``, so the handler is
  ``keygen.handler.handler``);
* the shared packages every function uses (:data:`DEFAULT_SHARED_PACKAGES`: the structured
  logger and ``besu_stack/__init__.py``), then the parts of :mod:`besu_stack.besu` the function
  imports (:attr:`LambdaPackage.shared`);
* the contents of the wheels of the function's own third-party distributions
  (:attr:`LambdaPackage.requirements`, pinned in ``lambda_src/requirements.txt``), unpacked as
  pip would install them into ``site-packages``. botocore comes from the Lambda runtime;
* the botocore data the function's clients need, cut to the operations it calls
  (:attr:`LambdaPackage.aws_operations`, :mod:`besu_stack.service_models`), made from the
  pinned botocore when the package is built.

The pinned wheels for the Lambda platform (manylinux, CPython 3.12) ship inside the
``lambda_src`` package itself, in ``lambda_src/pinned-wheels/<arch>/``: ``besu-stack lambda-wheels``
(``make setup``) downloads them into a checkout, and the besu-stack wheel and sdist carry them.
So synthesis works the same from a source checkout and from an installed wheel, and never
touches the network.

The same inputs give the same bytes: entries are sorted, timestamps are 1980-01-01 00:00:00,
permissions are 0644 (0755 for executables and shared libraries) and ``__pycache__`` and
compiled files are left out. So the zip's SHA-256 (Terraform's ``source_code_hash``) changes
only when the code does, and a package built from an installed wheel is byte-identical to the
one built from the checkout it was made from.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import besu_stack
from besu_stack.errors import MissingSetupError

PACKAGE_ROOT = Path(besu_stack.__file__).resolve().parent.parent
"""The directory holding the ``besu_stack`` package in use (a checkout or ``site-packages``);
``lambda_src`` is installed next to it."""

LAMBDA_SOURCE = PACKAGE_ROOT / "lambda_src"
"""The Lambda handlers' package directory."""

LAMBDA_REQUIREMENTS = LAMBDA_SOURCE / "requirements.txt"
"""The Lambdas' third-party distributions, pinned."""

DEFAULT_ARCH = "arm64"
"""The architecture the functions run on (``PythonFunction`` deploys arm64)."""

LAMBDA_PYTHON = "3.12"
"""The Lambda runtime's Python version (``python3.12``)."""

DEFAULT_SHARED_PACKAGES: tuple[str, ...] = (
    "besu_stack/__init__.py",
    "besu_stack/lambda_log.py",
    # The shared Lambda kernel every function uses: env parsing, AWS clients, slot records.
    "besu_stack/lambda_kernel/__init__.py",
    "besu_stack/lambda_kernel/aws.py",
    "besu_stack/lambda_kernel/env.py",
    "besu_stack/lambda_kernel/slots.py",
)
"""Paths (relative to the root that holds the top-level package they name) in every function's
zip. A directory ends in ``/``. Add a package every function imports here (a test fails when a
function carries a module it never imports; a package only some functions use goes in their
:attr:`LambdaPackage.shared`)."""

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


@dataclass(frozen=True)
class LambdaPackage:
    """What one deployment package holds besides :data:`DEFAULT_SHARED_PACKAGES`.

    ``requirements`` are distribution names pinned in ``lambda_src/requirements.txt`` (their
    own dependencies included); ``shared`` are extra paths like those of
    :data:`DEFAULT_SHARED_PACKAGES`. Each lists only what the function imports (a test imports
    every handler from its zip alone and checks that nothing in it is left unused).
    ``aws_operations`` are the AWS API operations the package's code calls, by botocore service
    name (``{"ec2": ("DescribeVolumes", ...)}``): the package carries botocore models holding
    only these (:mod:`besu_stack.service_models`); a test derives the calls from the code and
    fails when one is missing here or listed but never called.
    """

    requirements: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()
    aws_operations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


LAMBDA_PACKAGES: Mapping[str, LambdaPackage] = {
    # JSON-RPC over WebSocket to the nodes; the quorum arithmetic, the protocol names and the
    # internal RPC methods (the token's permissions).
    "health": LambdaPackage(
        requirements=("websocket-client",),
        shared=(
            "besu_stack/besu/__init__.py",
            "besu_stack/besu/bft.py",
            "besu_stack/besu/internal_rpc.py",
            "besu_stack/besu/protocol.py",
        ),
        aws_operations={
            "autoscaling": ("DescribeAutoScalingInstances", "SetInstanceHealth"),
            "cloudwatch": ("PutMetricData",),
            "dynamodb": ("Scan", "UpdateItem"),
            "ecs": (
                "DescribeContainerInstances",
                "DescribeTasks",
                "ListContainerInstances",
                "ListTasks",
                "StopTask",
            ),
            # The internal RPC token: KMS signs it (lambda_src/health/rpc_token.py).
            "kms": ("Sign",),
        },
    ),
    # secp256k1 (coincurve) and Keccak-256 (pycryptodome); genesis, extraData RLP, keys.
    "keygen": LambdaPackage(
        requirements=("coincurve", "pycryptodome"),
        shared=tuple(
            f"besu_stack/besu/{module}.py"
            for module in (
                "__init__",
                "errors",
                "extra_data",
                "genesis",
                "keys",
                "protocol",
                "rlp",
            )
        ),
        aws_operations={
            "dynamodb": ("GetItem", "PutItem"),
            "s3": ("GetObject", "PutObject"),
            "secretsmanager": (
                "CreateSecret",
                "DescribeSecret",
                "GetSecretValue",
                "PutSecretValue",
            ),
        },
    ),
    # Launch, termination and reconciler: botocore only, from the runtime.
    # The data-volume ranges only the launch hook applies; the slot secrets' policies.
    "lifecycle": LambdaPackage(
        shared=(
            "besu_stack/lambda_kernel/secret_policy.py",
            "besu_stack/lambda_kernel/volumes.py",
        ),
        aws_operations={
            "autoscaling": ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"),
            "cloudwatch": ("PutMetricData",),
            "dynamodb": ("GetItem", "Scan", "UpdateItem"),
            "ec2": (
                "AttachVolume",
                "CreateSnapshot",
                "CreateTags",
                "CreateVolume",
                "DeleteTags",
                "DeleteVolume",
                "DescribeInstances",
                "DescribeSnapshots",
                "DescribeVolumes",
                "DetachVolume",
            ),
            "ecs": (
                "DescribeContainerInstances",
                "ListContainerInstances",
                "UpdateContainerInstancesState",
            ),
            "route53": ("ChangeResourceRecordSets",),
            "secretsmanager": (
                "DeleteResourcePolicy",
                "GetResourcePolicy",
                "PutResourcePolicy",
            ),
            "ssm": ("GetCommandInvocation", "SendCommand"),
        },
    ),
}
"""Every deployment package, by its directory under ``lambda_src/``."""


class LambdaDependenciesMissing(MissingSetupError):
    """A pinned wheel a package needs is not in the wheels directory (a setup step)."""


def wheels_dir_for(arch: str = DEFAULT_ARCH) -> Path:
    """Where the pinned wheels for ``arch`` live: ``lambda_src/pinned-wheels/<arch>/``."""
    if arch not in _PLATFORMS:
        raise ValueError(f"arch must be one of {', '.join(sorted(_PLATFORMS))}, got {arch!r}")
    return LAMBDA_SOURCE / "pinned-wheels" / arch


def _skipped(path: PurePosixPath) -> bool:
    return any(part in _SKIPPED_DIRS for part in path.parts) or path.suffix in _SKIPPED_SUFFIXES


def _is_executable(name: str, unix_mode: int) -> bool:
    return bool(unix_mode & 0o111) or name.endswith(".so") or ".so." in name


def normalize_distribution(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Websocket_Client`` is ``websocket-client``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_distribution(wheel: Path) -> str:
    """The normalized distribution name of a wheel file (its name's first field)."""
    return normalize_distribution(wheel.name.split("-", 1)[0])


def pinned_requirements(requirements: Path = LAMBDA_REQUIREMENTS) -> dict[str, str]:
    """The ``name==version`` pins of a requirements file, by normalized name."""
    pins: dict[str, str] = {}
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise ValueError(f"{requirements}: {line!r} is not pinned as name==version")
        pins[normalize_distribution(name.strip())] = version.strip()
    return pins


def select_wheels(
    wheels_dir: Path, distributions: Sequence[str], pins: Mapping[str, str] | None = None
) -> list[Path]:
    """The wheels of ``distributions`` at their pinned versions in ``wheels_dir``.

    ``pins`` defaults to ``lambda_src/requirements.txt``; a wheel of another version (left from
    an older pin) is never picked. Raises :class:`LambdaDependenciesMissing` for a missing one.
    """
    pinned = pinned_requirements() if pins is None else pins
    available = {
        (wheel_distribution(w), w.name.split("-")[1]): w for w in sorted(wheels_dir.glob("*.whl"))
    }
    selected, missing = [], []
    for distribution in distributions:
        name = normalize_distribution(distribution)
        if name not in pinned:
            raise ValueError(f"{distribution} is not pinned in {LAMBDA_REQUIREMENTS}")
        wheel = available.get((name, pinned[name]))
        if wheel is None:
            missing.append(f"{name}=={pinned[name]}")
        else:
            selected.append(wheel)
    if missing:
        raise LambdaDependenciesMissing(
            f"the Lambda wheels {', '.join(missing)} are not in {wheels_dir}: run "
            "`besu-stack lambda-wheels` (part of `make setup`) once in a checkout; an installed "
            "besu-stack wheel carries them, and synthesis itself never downloads anything"
        )
    return selected


def source_path(shared: str, source_root: Path | None = None) -> Path:
    """The file or directory a shared-package path names (``source_root`` or the package root)."""
    relative = PurePosixPath(shared.rstrip("/"))
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"shared package {shared!r} must be a path inside the package root")
    return (source_root or PACKAGE_ROOT) / relative


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


def _tree_files(source: Path, archive_path: PurePosixPath) -> list[tuple[Path, PurePosixPath]]:
    """``(file, archive path)`` for a file, or for every file under a directory, sorted."""
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
    return [(file, target) for file, target in files if not _skipped(target)]


def _add_tree(entries: _Entries, source: Path, archive_path: PurePosixPath) -> None:
    """Add a file at ``archive_path``, or every file under a directory below ``archive_path``."""
    for file, target in _tree_files(source, archive_path):
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


def package_inputs(
    function_dir: Path,
    *,
    shared_packages: Sequence[str] = DEFAULT_SHARED_PACKAGES,
    wheels: Sequence[Path] = (),
    source_root: Path | None = None,
) -> list[tuple[str, Path]]:
    """Every file a package is built from, as ``(name, path)``.

    The name is the file's archive path (or the wheel's file name), so the list, and the digest
    of it, is the same for a checkout and for an installation.
    """
    if not function_dir.is_dir():
        raise FileNotFoundError(f"function directory {function_dir} does not exist")
    inputs = [
        (target.as_posix(), file)
        for file, target in _tree_files(function_dir, PurePosixPath(function_dir.name))
    ]
    for shared in shared_packages:
        source = source_path(shared, source_root)
        inputs += [
            (target.as_posix(), file)
            for file, target in _tree_files(source, PurePosixPath(shared.rstrip("/")))
        ]
    inputs += [(wheel.name, wheel) for wheel in wheels]
    return inputs


def inputs_digest(inputs: Sequence[tuple[str, Path]], extra: bytes = b"") -> str:
    """SHA-256 over the names and contents of a package's inputs and ``extra`` (a cache key)."""
    digest = hashlib.sha256()
    for name, path in inputs:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(extra)
    return digest.hexdigest()


def build_lambda_zip(
    function_dir: Path,
    output: Path,
    *,
    shared_packages: Sequence[str] = DEFAULT_SHARED_PACKAGES,
    wheels: Sequence[Path] = (),
    wheels_dir: Path | None = None,
    source_root: Path | None = None,
    generated: Mapping[str, bytes] | None = None,
) -> str:
    """Write the deployment zip of the function in ``function_dir``; return its SHA-256 (hex).

    ``function_dir`` (for instance ``lambda_src/keygen``) becomes the top-level package named
    after the directory. ``shared_packages`` are paths relative to ``source_root`` (default:
    the root holding the installed ``besu_stack``; a file, or a directory ending in ``/``)
    copied at the same relative path. ``wheels`` are unpacked at the root (``*.dist-info``
    kept), and so is every ``*.whl`` in ``wheels_dir`` when it is given. ``generated`` are
    files made for the package (its trimmed service models), by archive path. The output is
    byte-identical for identical inputs.
    """
    entries = _Entries()
    if not function_dir.is_dir():
        raise FileNotFoundError(f"function directory {function_dir} does not exist")
    _add_tree(entries, function_dir, PurePosixPath(function_dir.name))
    for shared in shared_packages:
        _add_tree(entries, source_path(shared, source_root), PurePosixPath(shared.rstrip("/")))
    all_wheels = list(wheels)
    if wheels_dir is not None:
        found = sorted(wheels_dir.glob("*.whl"))
        if not found:
            raise LambdaDependenciesMissing(
                f"no *.whl in {wheels_dir}; run download_lambda_wheels() (setup) first"
            )
        all_wheels += found
    for wheel in all_wheels:
        _add_wheel(entries, wheel)
    for name, content in sorted((generated or {}).items()):
        entries.add(name, content, FILE_MODE, "generated")
    data = entries.zip_bytes()
    output.parent.mkdir(parents=True, exist_ok=True)
    if not output.exists() or output.read_bytes() != data:
        output.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _package_spec(function: str) -> LambdaPackage:
    spec = LAMBDA_PACKAGES.get(function)
    if spec is None:
        raise ValueError(
            f"no Lambda package {function!r}; known: {', '.join(sorted(LAMBDA_PACKAGES))}"
        )
    return spec


def package_service_models(function: str) -> dict[str, bytes]:
    """The trimmed botocore models ``LAMBDA_PACKAGES[function]`` carries, by archive path."""
    from besu_stack.service_models import service_model_files

    return service_model_files(_package_spec(function).aws_operations)


def service_models_key(function: str) -> bytes:
    """What a package's trimmed models are made from (part of the package's cache key).

    The installed botocore's version, the operations, and the code that trims them.
    """
    import botocore

    from besu_stack import service_models

    operations = json.dumps(_package_spec(function).aws_operations, sort_keys=True)
    source = Path(service_models.__file__).read_bytes()
    return b"\0".join([botocore.__version__.encode(), operations.encode(), source])


def function_package_inputs(
    function: str, arch: str = DEFAULT_ARCH, wheels_dir: Path | None = None
) -> tuple[Path, tuple[str, ...], list[Path]]:
    """The function directory, shared paths and wheels of ``LAMBDA_PACKAGES[function]``."""
    spec = _package_spec(function)
    shared = (*DEFAULT_SHARED_PACKAGES, *spec.shared)
    wheels = (
        select_wheels(wheels_dir or wheels_dir_for(arch), spec.requirements)
        if spec.requirements
        else []
    )
    return LAMBDA_SOURCE / function, shared, wheels


def build_function_package(
    function: str, output: Path, arch: str = DEFAULT_ARCH, wheels_dir: Path | None = None
) -> str:
    """Build the deployment zip of ``lambda_src/<function>`` as ``LAMBDA_PACKAGES`` describes it."""
    function_dir, shared, wheels = function_package_inputs(function, arch, wheels_dir)
    return build_lambda_zip(
        function_dir,
        output,
        shared_packages=shared,
        wheels=wheels,
        generated=package_service_models(function),
    )


def lambda_zip_listing(zip_path: Path) -> list[str]:
    """The entry names of a package zip, in archive order."""
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def download_lambda_wheels(
    dest: Path | None = None,
    arch: str = DEFAULT_ARCH,
    python: str = LAMBDA_PYTHON,
    requirements: Path = LAMBDA_REQUIREMENTS,
) -> list[Path]:
    """Download the Lambdas' pinned third-party wheels for ``arch`` (setup time).

    Runs ``pip download --only-binary=:all:`` for the Lambda platform (manylinux, CPython
    ``python``) into ``dest`` (default :func:`wheels_dir_for` ``arch``); never called during
    synthesis. Returns the wheels in ``dest``.
    """
    platforms = _PLATFORMS.get(arch)
    if platforms is None:
        raise ValueError(f"arch must be one of {', '.join(sorted(_PLATFORMS))}, got {arch!r}")
    target = dest if dest is not None else wheels_dir_for(arch)
    target.mkdir(parents=True, exist_ok=True)
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
        str(target),
    ]
    subprocess.run(command, check=True)
    return sorted(target.glob("*.whl"))
