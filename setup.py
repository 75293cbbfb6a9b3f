"""Build hook of besu-stack: never build a wheel or sdist without the Lambdas' pinned wheels.

The package metadata is in pyproject.toml. The wheel carries ``lambda_src/pinned-wheels/arm64/*.whl``
(package data), which synthesis unpacks into the Lambda deployment packages; a wheel built
without them would install and then fail at the first synth. ``besu-stack lambda-wheels``
(part of ``make setup``) downloads them into a checkout; an sdist carries them, so building a
wheel from it needs no network.
"""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "lambda_src" / "requirements.txt"
WHEELS = ROOT / "lambda_src" / "pinned-wheels" / "arm64"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_lambda_wheels() -> list[str]:
    """The ``name==version`` pins with no wheel in ``lambda_src/pinned-wheels/arm64``."""
    present = {
        (_normalize(w.name.split("-")[0]), w.name.split("-")[1]) for w in WHEELS.glob("*.whl")
    }
    missing = []
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            if (_normalize(name.strip()), version.strip()) not in present:
                missing.append(line)
    return missing


def _require_lambda_wheels() -> None:
    missing = missing_lambda_wheels()
    if missing:
        raise SystemExit(
            f"besu-stack: the Lambda wheels {', '.join(missing)} are not in {WHEELS}; "
            "run `besu-stack lambda-wheels` (or `make setup`) first: the package ships them"
        )


class BuildPy(build_py):
    """``build_py`` that first checks the pinned Lambda wheels are there."""

    def run(self) -> None:
        """Refuse to build without the wheels, then build as setuptools does.

        An editable install (``pip install -e``, as ``make setup`` does before it downloads
        the wheels) reads the checkout in place, so it is not refused.
        """
        if not getattr(self, "editable_mode", False):
            _require_lambda_wheels()
        super().run()


class Sdist(sdist):
    """``sdist`` that first checks the pinned Lambda wheels are there."""

    def run(self) -> None:
        """Refuse to build without the wheels, then build as setuptools does."""
        _require_lambda_wheels()
        super().run()


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
