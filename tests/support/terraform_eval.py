"""Evaluate expressions of a synthesized stack with Terraform itself (``terraform console``).

Until the plan harness renders whole configurations, conformance tests need the plan-time parts
of a value (``${var.x}``, ``${local.y}``) as Terraform would compute them from the variables'
defaults (or given values). This builds a throwaway configuration of just the variables and
locals an expression needs (transitively), without validations, resources or providers, and
asks ``terraform console`` (no ``init`` needed) for the result.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from besu_stack.rehearsal.terraform import TerraformNotFound, find_terraform

_REFERENCE = re.compile(r"\b(var|local)\.([A-Za-z_][\w-]*)")


def terraform_available() -> bool:
    """Whether a Terraform binary is found; under ``CI=true`` always (a missing one then fails)."""
    if os.environ.get("CI") == "true":
        return True
    try:
        find_terraform()
    except TerraformNotFound:
        return False
    return True


def _closure(stack: Mapping[str, Any], texts: Sequence[str]) -> tuple[set[str], set[str]]:
    variables: set[str] = set()
    locals_: set[str] = set()
    pending = list(texts)
    while pending:
        for kind, name in _REFERENCE.findall(pending.pop()):
            if kind == "var":
                variables.add(name)
            elif name not in locals_:
                locals_.add(name)
                pending.append(json.dumps(stack["locals"][name]))
    return variables, locals_


def evaluate(
    stack: Mapping[str, Any],
    values: Sequence[str],
    overrides: Mapping[str, Any] | None = None,
) -> list[str]:
    """Each string of ``values`` with its ``${...}`` parts evaluated by Terraform."""
    variables, locals_ = _closure(stack, values)
    config: dict[str, Any] = {
        "variable": {
            name: {key: spec[key] for key in ("type", "default") if key in spec}
            for name, spec in stack["variable"].items()
            if name in variables
        },
    }
    for name, value in (overrides or {}).items():
        config["variable"][name]["default"] = value
    # Each value becomes a local of its own: JSON syntax reads it as a template, so its
    # ${...} parts are evaluated whatever quotes they contain.
    config["locals"] = {name: stack["locals"][name] for name in sorted(locals_)}
    probes = [f"besu_stack_probe_{index}" for index in range(len(values))]
    config["locals"].update(zip(probes, values, strict=True))
    expression = "jsonencode([" + ", ".join(f"local.{p}" for p in probes) + "])"
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "main.tf.json").write_text(json.dumps(config), encoding="utf-8")
        result = subprocess.run(
            [str(find_terraform()), "console"],
            input=expression + "\n",
            capture_output=True,
            text=True,
            cwd=directory,
            timeout=60,
            env={**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"},
        )
    if result.returncode != 0:
        raise RuntimeError(f"terraform console failed: {result.stderr}")
    rendered: list[str] = json.loads(json.loads(result.stdout.strip()))
    return rendered
