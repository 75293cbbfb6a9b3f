"""Where the Lambda sources and their downloaded third-party wheels live."""

from __future__ import annotations

from besu_stack.lambda_package import REPO_ROOT

LAMBDA_SOURCE = REPO_ROOT / "lambda_src"
DEFAULT_WHEELS_DIR = REPO_ROOT / ".build" / "lambda-wheels"
"""Filled by ``besu-stack lambda-wheels`` (``make setup`` runs it); read by the synth."""
