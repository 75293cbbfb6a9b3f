"""``pip install besu-stack`` is the whole product: the wheel synthesizes with no checkout.

One test, as a new user would: build the sdist and then the wheel from that sdist
(``python -m build``, offline), install the wheel into a fresh virtual environment, and
synthesize the README's app from a directory outside the repository. Its network stack (the
Terraform JSON and the Lambda packages) must be byte-identical to the default network
synthesized from this checkout (the session's ``default_outdir``). Where the machine allows it
(``unshare -rn``), the synth from the wheel runs with no network at all.

To keep it within a minute, the fresh environment gets the heavy third-party distributions
(cdktf, the AWS provider bindings, jsii, boto3, ...) by a ``.pth`` line naming this
environment's ``site-packages``, and the wheel is installed with ``--no-deps``. A ``.pth`` line
adds a directory to ``sys.path`` without running the ``.pth`` files in it, so the development
install of besu-stack there is not loaded; the test asserts that ``besu_stack`` and
``lambda_src`` come from the installed wheel.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.synth]

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "besu_stack", "lambda_src")
NODE = ROOT / ".tools" / "node" / "bin" / "node"

APP = """\
import json, sys
from cdktf import App
from besu_stack.settings import Settings
from besu_stack.stacks.network_stack import BesuNetworkStack

app = App(outdir=sys.argv[1], stack_traces=False)
BesuNetworkStack(app, "besu", settings=Settings())
app.synth()

import besu_stack
from besu_stack import lambda_package
print(json.dumps({"besu_stack": besu_stack.__file__, "lambda_src": str(lambda_package.LAMBDA_SOURCE)}))
"""


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _copy_sources(target: Path) -> Path:
    """The files the build reads, without caches (the build writes into its source tree)."""
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".complete")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def _build(sources: Path, dist: Path) -> tuple[Path, Path]:
    missing = [m for m in ("build", "setuptools") if importlib.util.find_spec(m) is None]
    import setuptools

    if missing or int(setuptools.__version__.split(".")[0]) < 77:
        pytest.fail(
            "building offline needs the dev extras (build, setuptools>=77): "
            "pip install -e '.[dev]' (make setup)"
        )
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(sources)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return sdist, wheel


def _fresh_venv(root: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        check=True,
        timeout=300,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _offline_prefix() -> list[str]:
    """``unshare -rn`` (a network namespace with no interface) where this machine allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
    return [unshare, "-rn"] if probe.returncode == 0 else []


def _synth(python: Path, app_dir: Path, outdir: Path, cache: Path) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(app_dir)),
        "XDG_CACHE_HOME": str(cache),  # an empty package cache: the packages are built here
        "NODE_OPTIONS": "--no-deprecation",
        "CHECKPOINT_DISABLE": "1",
    }
    if NODE.is_file():
        env["JSII_NODE"] = str(NODE)
    elif os.environ.get("JSII_NODE"):
        env["JSII_NODE"] = os.environ["JSII_NODE"]
    return subprocess.Popen(
        [*_offline_prefix(), str(python), "app.py", str(outdir)],
        cwd=app_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_installed_wheel_synthesizes_the_same_bytes_as_the_checkout(
    tmp_path: Path, default_outdir: Path
) -> None:
    sdist, wheel = _build(_copy_sources(tmp_path / "src"), tmp_path / "dist")

    with tarfile.open(sdist) as archive:
        sdist_names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = set(archive.namelist())
    for names in (sdist_names, wheel_names):
        for required in (
            "lambda_src/__init__.py",
            "lambda_src/requirements.txt",
            "lambda_src/health/handler.py",
            "lambda_src/keygen/handler.py",
            "lambda_src/lifecycle/launch_handler.py",
            "besu_stack/besu/rlp.py",
            "besu_stack/py.typed",
        ):
            assert required in names
        shipped = [n for n in names if n.startswith("lambda_src/pinned-wheels/arm64/")]
        assert len(shipped) == 3, shipped

    python = _fresh_venv(tmp_path / "venv", wheel)
    app_dir = tmp_path / "my-app"  # outside the repository, as a user's project is
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)
    process = _synth(python, app_dir, tmp_path / "out-wheel", tmp_path / "cache")
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]

    wheel_paths = json.loads(stdout.strip().splitlines()[-1])
    venv = python.parent.parent.resolve()
    for name in ("besu_stack", "lambda_src"):
        assert Path(wheel_paths[name]).resolve().is_relative_to(venv), wheel_paths

    import besu_stack

    assert Path(besu_stack.__file__).resolve().is_relative_to(ROOT)
    wheel_tree = _tree(tmp_path / "out-wheel" / "stacks" / "besu")
    checkout_tree = _tree(default_outdir / "stacks" / "besu")
    assert sorted(wheel_tree) == sorted(checkout_tree)
    differing = [name for name in wheel_tree if wheel_tree[name] != checkout_tree[name]]
    assert not differing, f"differs between wheel and checkout: {differing}"
    assert any(name.endswith("/keygen.zip") for name in wheel_tree)
