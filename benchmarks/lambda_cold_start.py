"""Benchmark: each Lambda handler's cold import against a bare ``import boto3``.

For every function of the default network (or of an already synthesized ``--outdir``):

* the deployment zip as synthesized (arm64) and its size;
* the same package made runnable on this machine: the zip is unpacked, and each wheel in it that
  carries native code (a ``.so`` in its ``RECORD``) is swapped for the same version built for
  this machine's platform and Python (``pip download``, cached in ``.build/bench-wheels``);
* the handler module imported in a fresh ``python -S -B`` process whose ``sys.path`` is the
  unpacked package and a stand-in for the Lambda runtime (boto3 and its dependencies only, as
  the python3.12 runtime provides them), with the function's synthesized environment (Terraform
  references replaced by plausible values, variables by their defaults). ``-B`` and a package
  without ``__pycache__``: the Lambda task directory is read-only, so nothing is cached there.

The time is the median of ``--runs`` runs, interleaved with the same number of ``import boto3``
runs in the same setup; the ratio is handler / boto3. Target: at most 1.5x for every handler.
A benchmark prints numbers; no test asserts on them.

    .venv/bin/python benchmarks/lambda_cold_start.py [--runs 7] [--outdir cdktf.out]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5
WHEEL_CACHE = ROOT / ".build" / "bench-wheels"
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "six", "urllib3")
"""What the Lambda Python runtime provides besides the standard library (the AWS SDK)."""
PLACEHOLDERS = {
    "name": "besu-placeholder",
    "bucket": "besu-placeholder-bucket",
    "arn": "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    "zone_id": "Z0123456789ABCDEFGHIJ",
    "partition": "aws",
    "account_id": "123456789012",
    "id": "placeholder-id",
}
_TOKEN = re.compile(r"\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def _synthesize(outdir: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from besu_stack.node_runtime import use_project_node\n"
        "use_project_node()\n"
        "from besu_stack.app import build_app\n"
        "from besu_stack.settings import Settings\n"
        f"build_app([Settings()], outdir=Path({str(outdir)!r})).synth()\n"
    )
    outdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


def _resolve(expression: str, variables: dict[str, Any]) -> str:
    """A plausible value for one Terraform expression of the synthesized environment."""
    if expression.startswith("var."):
        value = variables[expression[4:]]["default"]
        return value if isinstance(value, str) else json.dumps(value)
    if expression.startswith("jsonencode("):
        body = expression[len("jsonencode(") : -1]
        body = re.sub(r"var\.(\w+)", lambda m: json.dumps(variables[m.group(1)]["default"]), body)
        return json.dumps(json.loads(body.replace(" = ", ": ")))
    attribute = expression.rsplit(".", 1)[-1]
    return PLACEHOLDERS[attribute]


def _environment(function: dict[str, Any], variables: dict[str, Any]) -> dict[str, str]:
    values = function.get("environment", {}).get("variables", {})
    return {
        key: _TOKEN.sub(lambda m: _resolve(m.group(1), variables), value)
        for key, value in values.items()
    }


def _host_wheel(name: str, version: str) -> Path:
    """The wheel of ``name==version`` for this machine's platform and Python (downloaded once)."""
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = [w for w in WHEEL_CACHE.glob(pattern) if _fits_host(w)]
    if not found:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--only-binary=:all:", "-d", str(WHEEL_CACHE), f"{name}=={version}"),
            ],
            check=True,
        )
        found = [w for w in WHEEL_CACHE.glob(pattern) if _fits_host(w)]
    if not found:
        sys.exit(f"no wheel of {name}=={version} for this machine in {WHEEL_CACHE}")
    return sorted(found)[0]


def _fits_host(wheel: Path) -> bool:
    tags = wheel.name.removesuffix(".whl").split("-")[-3:]
    machine = platform.machine()
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return machine in tags[2] and (tags[0] == py or tags[1] == "abi3")


def _make_runnable_here(zip_path: Path, task: Path) -> None:
    """Unpack a deployment zip and swap its native wheels for this machine's builds."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    if platform.machine() in ("aarch64", "arm64") and sys.version_info[:2] == (3, 12):
        return
    for record in sorted(task.glob("*.dist-info/RECORD")):
        members = [line.split(",", 1)[0] for line in record.read_text().splitlines()]
        if not any(m.endswith(".so") or ".so." in m for m in members):
            continue
        dist_info = record.parent
        for member in members:
            (task / member).unlink(missing_ok=True)
        shutil.rmtree(dist_info, ignore_errors=True)
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        with zipfile.ZipFile(_host_wheel(name, version)) as host:
            for member in host.namelist():
                if ".data/" not in member:
                    host.extract(member, task)


def _runtime_dir(target: Path) -> Path:
    """A directory holding only the runtime-provided packages (links to this interpreter's)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            sys.exit(f"{name} is not installed in {sys.executable}")
        source = Path(spec.origin)
        source = source.parent if source.name == "__init__.py" else source
        (target / source.name).symlink_to(source)
    return target


_CLIENT_TIMER = """
import botocore.session
_create = botocore.session.Session.create_client
_spent = [0.0]
def _timed(self, *args, **kwargs):
    started = time.perf_counter()
    try:
        return _create(self, *args, **kwargs)
    finally:
        _spent[0] += time.perf_counter() - started
botocore.session.Session.create_client = _timed
"""


def _import_seconds(
    module: str, paths: list[Path], env: dict[str, str], *, clients: bool = False
) -> float:
    """Seconds to import ``module`` in a fresh process; with ``clients``, the seconds of that
    import spent constructing boto3 clients instead (botocore is then loaded beforehand)."""
    code = (
        "import sys, time\n"
        f"sys.path[:0] = {[str(p) for p in paths]!r}\n"
        "import importlib\n" + (_CLIENT_TIMER if clients else "") + "t = time.perf_counter()\n"
        f"importlib.import_module({module!r})\n"
        + ("print(_spent[0])\n" if clients else "print(time.perf_counter() - t)\n")
    )
    base = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    aws = {
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",  # not a secret: no request is ever sent
    }
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code],
        env={**base, **aws, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"importing {module} failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--outdir", type=Path, help="an already synthesized cdktf.out")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="besu-cold-start-") as tmp:
        work = Path(tmp)
        outdir = args.outdir
        if outdir is None:
            outdir = work / "cdktf.out"
            _synthesize(outdir)
        stack_dir = outdir / "stacks" / "besu"
        stack = json.loads((stack_dir / "cdk.tf.json").read_text())
        variables = stack.get("variable", {})
        runtime = _runtime_dir(work / "runtime")

        rows = []
        for key, function in sorted(stack["resource"]["aws_lambda_function"].items()):
            zip_path = stack_dir / function["filename"]
            task = work / "task" / key
            _make_runnable_here(zip_path, task)
            module = function["handler"].rsplit(".", 1)[0]
            env = _environment(function, variables)
            handler_runs, boto3_runs, client_runs = [], [], []
            for _ in range(args.runs):
                boto3_runs.append(_import_seconds("boto3", [runtime], {}))
                handler_runs.append(_import_seconds(module, [task, runtime], env))
                client_runs.append(_import_seconds(module, [task, runtime], env, clients=True))
            rows.append(
                (
                    function["function_name"],
                    module,
                    zip_path.stat().st_size,
                    int(function["memory_size"]),
                    statistics.median(handler_runs),
                    statistics.median(boto3_runs),
                    statistics.median(client_runs),
                )
            )

    print(
        f"cold import, median of {args.runs} runs (python {platform.python_version()}, "
        f"{platform.machine()}); target <= {TARGET_RATIO}x boto3"
    )
    print(
        f"{'function':<20} {'handler module':<30} {'zip MiB':>7} {'MB':>5} {'import s':>8} "
        f"{'clients s':>9} {'boto3 s':>7} {'ratio':>6} {'w/o clients':>11}"
    )
    for name, module, size, memory, handler_s, boto3_s, clients_s in rows:
        ratio = handler_s / boto3_s
        mark = "" if ratio <= TARGET_RATIO else "  over target"
        print(
            f"{name:<20} {module:<30} {size / 2**20:>7.2f} {memory:>5} {handler_s:>8.3f} "
            f"{clients_s:>9.3f} {boto3_s:>7.3f} {ratio:>5.2f}x "
            f"{(handler_s - clients_s) / boto3_s:>10.2f}x{mark}"
        )
    print(
        "clients s: the part of the import spent constructing boto3 clients at module level "
        "(loading their service models); w/o clients: the ratio without it."
    )


if __name__ == "__main__":
    main()
