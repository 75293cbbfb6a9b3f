"""Benchmark: the default synth against the floor (provider import + a one-resource synth).

Runs each as separate processes several times and prints median wall time and peak resident
memory (Python plus its Node child, summed) and their ratios. Target: the default network at most
1.15x the floor in both. A benchmark prints numbers; no test asserts on them.

    .venv/bin/python benchmarks/synth.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.15


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids += [p for child in task.read_text().split() for p in _tree(int(child))]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak summed RSS (MiB) of a command and its descendants."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        with contextlib.suppress(FileNotFoundError):
            peak = max(peak, sum(_rss_kib(p) for p in _tree(proc.pid)))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{command} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return wall, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "floor": [python, str(ROOT / "benchmarks" / "floor_app.py"), f"{tmp}/floor"],
            "default network": [
                python,
                "-m",
                "besu_stack.cli",
                "synth",
                "--outdir",
                f"{tmp}/network",
            ],
        }
        results: dict[str, tuple[float, float]] = {}
        for name, command in commands.items():
            walls, peaks = [], []
            for run in range(1, args.runs + 1):
                wall, peak = measure(command)
                walls.append(wall)
                peaks.append(peak)
                print(f"  {name:<16} run {run}: {wall:6.2f} s  {peak:7.1f} MiB", flush=True)
            results[name] = (statistics.median(walls), statistics.median(peaks))
    floor_wall, floor_rss = results["floor"]
    net_wall, net_rss = results["default network"]
    print()
    print(f"{'':<16} {'median wall':>12} {'median peak RSS':>16}")
    for name, (wall, rss) in results.items():
        print(f"{name:<16} {wall:>10.2f} s {rss:>12.1f} MiB")
    wall_ratio, rss_ratio = net_wall / floor_wall, net_rss / floor_rss
    print(f"{'ratio':<16} {wall_ratio:>11.3f}x {rss_ratio:>15.3f}x   (target <= {TARGET_RATIO}x)")
    verdict = "within" if max(wall_ratio, rss_ratio) <= TARGET_RATIO else "ABOVE"
    print(f"default network synth is {verdict} the target")


if __name__ == "__main__":
    main()
