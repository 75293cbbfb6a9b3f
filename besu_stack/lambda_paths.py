"""Where the Lambda sources and their pinned third-party wheels live.

Both are located from the installed ``besu_stack`` package, never from a source checkout: in a
checkout they are ``lambda_src/`` and ``lambda_src/pinned-wheels/arm64/`` next to ``besu_stack/``, and
in an installed wheel they are the same paths in ``site-packages``.
"""

from __future__ import annotations

from besu_stack.lambda_package import DEFAULT_ARCH, LAMBDA_SOURCE, wheels_dir_for

__all__ = ["DEFAULT_WHEELS_DIR", "LAMBDA_SOURCE"]

DEFAULT_WHEELS_DIR = wheels_dir_for(DEFAULT_ARCH)
"""Filled by ``besu-stack lambda-wheels`` (``make setup``) in a checkout, shipped in the wheel;
read by the synth."""
