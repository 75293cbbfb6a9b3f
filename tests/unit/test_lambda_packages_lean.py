"""Each Lambda package carries only what its function imports, pinned, and at most 5 MiB.

The packages are built as the synth builds them (``LAMBDA_PACKAGES``, arm64 wheels shipped in
``lambda_src/pinned-wheels/arm64``). To import them on this machine, whose platform may not be the
Lambda's, the function's third-party packages are taken from this environment (the same pinned
versions, see ``test_pins_agree_with_pyproject``) and nothing else is on ``sys.path``: ``-S``
leaves out site-packages, and a directory holding only boto3 and its dependencies stands in for
the Lambda runtime.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from besu_stack.lambda_kernel.aws import SERVICE_MODELS_DIR
from besu_stack.lambda_package import (
    LAMBDA_PACKAGES,
    LAMBDA_SOURCE,
    PACKAGE_ROOT,
    build_function_package,
    normalize_distribution,
    pinned_requirements,
    wheel_distribution,
    wheels_dir_for,
)

MAX_PACKAGE_BYTES = 5 * 2**20
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "six", "urllib3")
"""The Lambda Python runtime's own packages besides the standard library (the AWS SDK)."""
FIRST_PARTY = ("besu_stack", "lambda_src")
"""Our own top-level packages: a shared package of either (DEFAULT_SHARED_PACKAGES) is checked
like the function's own code."""
HEAVY = ("rlp", "eth_utils", "pydantic", "pydantic_core", "cytoolz", "toolz", "eth_typing")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every package, built once for this module."""
    out = tmp_path_factory.mktemp("packages")
    return {name: _built(name, out) for name in LAMBDA_PACKAGES}


def _built(name: str, out: Path) -> Path:
    path = out / f"{name}.zip"
    build_function_package(name, path)
    return path


def _link(target_dir: Path, module: str) -> None:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"{module} is not installed"
    source = Path(spec.origin)
    source = source.parent if source.name == "__init__.py" else source
    (target_dir / source.name).symlink_to(source)


def _top_levels(names: list[str]) -> set[str]:
    tops = set()
    for name in names:
        top = PurePosixPath(name).parts[0]
        if not top.endswith(".dist-info"):
            tops.add(top.removesuffix(".py"))
    return tops


@pytest.mark.parametrize("name", sorted(LAMBDA_PACKAGES))
def test_every_package_is_at_most_5_mib(name: str, packages: dict[str, Path]) -> None:
    assert packages[name].stat().st_size <= MAX_PACKAGE_BYTES


def test_health_and_lifecycle_carry_no_crypto_rlp_or_pydantic(packages: dict[str, Path]) -> None:
    for name in ("health", "lifecycle"):
        names = zipfile.ZipFile(packages[name]).namelist()
        tops = _top_levels(names)
        assert not tops & {"coincurve", "Crypto", *HEAVY}, (name, tops)
        assert not [
            n for n in names if n.startswith(("besu_stack/besu/keys", "besu_stack/besu/rlp"))
        ]
    keygen_tops = _top_levels(zipfile.ZipFile(packages["keygen"]).namelist())
    assert {"coincurve", "Crypto"} <= keygen_tops
    assert not keygen_tops & set(HEAVY)


@pytest.mark.parametrize("name", sorted(LAMBDA_PACKAGES))
def test_package_carries_only_what_its_function_imports(
    name: str, packages: dict[str, Path], tmp_path: Path
) -> None:
    """Import every module of the function from the package alone; nothing in it goes unused."""
    with zipfile.ZipFile(packages[name]) as archive:
        names = archive.namelist()
        python = [n for n in names if n.endswith(".py") and not n.endswith("_handler.py")]
        own = [n for n in names if n.endswith(".py") and n.split("/")[0] in {name, *FIRST_PARTY}]
        archive.extractall(tmp_path / "task", own)
    # The trimmed botocore models are data, not imported: tests/unit/test_service_models.py
    # checks they hold exactly the operations the function calls.
    third_party = _top_levels(names) - {name, *FIRST_PARTY, SERVICE_MODELS_DIR}
    runtime, deps = tmp_path / "runtime", tmp_path / "deps"
    runtime.mkdir()
    deps.mkdir()
    for module in RUNTIME_PACKAGES:
        _link(runtime, module)
    for module in third_party:
        _link(deps, module)
    # Handler modules read their environment at import; every module they import is below.
    function_modules = [
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in python
        if n.startswith(f"{name}/") and PurePosixPath(n).name != "handler.py"
    ]
    code = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = {[str(tmp_path / 'task'), str(deps), str(runtime)]!r}\n"
        f"for module in {function_modules!r}:\n"
        "    importlib.import_module(module)\n"
        "print(json.dumps({m: getattr(sys.modules[m], '__file__', None) or '' "
        "for m in list(sys.modules)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded: dict[str, str] = json.loads(result.stdout)
    unused_tops = {top for top in third_party if top not in loaded}
    assert not unused_tops, f"{name} carries {sorted(unused_tops)} but never imports them"
    shipped_own = {
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in python
        if n.split("/")[0] in FIRST_PARTY
    }
    unused_own = shipped_own - set(loaded)
    assert not unused_own, f"{name} carries {sorted(unused_own)} but never imports them"
    outside = {
        m
        for m, path in loaded.items()
        if m.split(".")[0] in ({name, *FIRST_PARTY} | third_party)
        and path
        and not path.startswith((str(tmp_path / "task"), str(deps)))
    }
    assert not outside, f"{name} imported {sorted(outside)} from outside its package"


def test_shipped_wheels_are_exactly_the_pins() -> None:
    pins = pinned_requirements()
    wheels = sorted(wheels_dir_for("arm64").glob("*.whl"))
    found = {(wheel_distribution(w), w.name.split("-")[1]) for w in wheels}
    assert found == set(pins.items()), "run `besu-stack lambda-wheels` after changing a pin"
    for wheel in wheels:
        tags = wheel.name.removesuffix(".whl").split("-")[-3:]
        assert tags[2] == "any" or "aarch64" in tags[2], wheel.name
        assert tags[0] in ("py3", "cp312") or tags[1] == "abi3", wheel.name


def test_every_pin_is_used_and_every_requirement_pinned() -> None:
    pins = pinned_requirements()
    used = {normalize_distribution(r) for p in LAMBDA_PACKAGES.values() for r in p.requirements}
    assert used == set(pins)


def test_pins_agree_with_pyproject() -> None:
    project = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())["project"]
    runtime = dict(
        (normalize_distribution(n), v)
        for n, v in (re.split(r"==", d, maxsplit=1) for d in project["dependencies"])
    )
    for name, version in pinned_requirements().items():
        assert runtime.get(name) == version, (
            f"{name}: pyproject {runtime.get(name)}, Lambda {version}"
        )
    assert "rlp" not in runtime


def test_lambda_sources_are_found_next_to_the_besu_stack_in_use() -> None:
    import besu_stack

    assert Path(besu_stack.__file__).resolve().parent.parent == PACKAGE_ROOT
    assert LAMBDA_SOURCE == PACKAGE_ROOT / "lambda_src"
    assert all((LAMBDA_SOURCE / name).is_dir() for name in LAMBDA_PACKAGES)
