"""Benchmark: wall time of Terraform on the default network (init, validate, plan, apply, destroy).

Synthesizes the default network once, then runs a rehearsal (``besu_stack.rehearsal``) into a
local moto server and prints the wall time of each Terraform phase, plus ``terraform validate``
timed on its own. A benchmark prints numbers; no test asserts on them.

    .venv/bin/python benchmarks/terraform.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from besu_stack.node_runtime import use_project_node
from besu_stack.rehearsal.rehearse import Rehearsal
from besu_stack.rehearsal.terraform import Terraform


def main() -> None:
    use_project_node()
    with tempfile.TemporaryDirectory(prefix="besu-stack-tf-bench-") as tmp:
        rehearsal = Rehearsal(Path(tmp), progress=lambda _line: None)
        report = rehearsal.run()
        # validate on a fresh copy: init is cached by then, so time validate alone.
        tf = Terraform(rehearsal.module_dir)
        started = time.monotonic()
        tf.validate()
        validate_seconds = time.monotonic() - started
        version = tf.version()
    print(f"Terraform {version}, AWS provider from {tf.mirror or 'the registry'}")
    print(f"default network: {report.resources_planned} resources")
    for phase in ("synth", "init", "plan", "apply", "drill", "second_plan", "destroy"):
        print(f"  {phase:<12} {report.seconds[phase]:7.1f} s")
    print(f"  {'validate':<12} {validate_seconds:7.1f} s")


if __name__ == "__main__":
    main()
