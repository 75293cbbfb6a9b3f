"""Benchmark: each Lambda handler's cold start against a bare ``import boto3``.

For every function of the default network (or of an already synthesized ``--outdir``):

* the deployment zip as synthesized (arm64) and its size;
* the same package made runnable on this machine: the zip is unpacked, and each wheel in it that
  carries native code (a ``.so`` in its ``RECORD``) is swapped for the same version built for
  this machine's platform and Python (``pip download``, cached in ``.build/bench-wheels``);
* in a fresh ``python -S -B`` process whose ``sys.path`` is the unpacked package and a stand-in
  for the Lambda runtime (boto3 and its dependencies only, as the python3.12 runtime provides
  them), with the function's synthesized environment (Terraform references replaced by
  plausible values, variables by their defaults), two figures:

  - **import**: importing the handler module, which reads the environment and builds the
    function's clients (the part spent building clients is shown too);
  - **+1st call**: that import, then one invocation of the handler on its usual event against a
    stub transport that answers every AWS call at once with an empty success in the call's
    protocol (requests are built, signed and their answers parsed; nothing is sent). A client
    built lazily would cost here; ``built`` shows the clients made during import and during
    the invocation, ``calls`` the AWS calls made (the empty answers end most runs early).

  ``-B`` and a package without ``__pycache__``: the Lambda task directory is read-only, so the
  function's own modules are compiled at every cold start there too.

Times are CPU seconds of the process (``time.process_time``), not wall-clock: on a machine
shared with other work the wall clock mostly measures waiting for a core. Each figure is the
median of ``--runs`` runs, interleaved with as many ``import boto3`` runs in the same setup;
the ratio is handler / boto3. Target: at most 1.5x for every handler on the import figure.
A benchmark prints numbers; no test asserts on them.

    .venv/bin/python benchmarks/lambda_cold_start.py [--runs 9] [--outdir cdktf.out]
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
_CONTAINS = re.compile(r"contains\((\[[^\]]*\]), (\"[^\"]*\")\) \? (\w+) : (\w+)")
"""``contains([...], "value") ? a : b`` once the variables are replaced by their defaults."""
ROLE_ARN_PLACEHOLDER = "arn:aws:iam::123456789012:role/besu-placeholder"
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
        body = _CONTAINS.sub(
            lambda m: (
                m.group(3) if json.loads(m.group(2)) in json.loads(m.group(1)) else m.group(4)
            ),
            body,
        )
        return json.dumps(json.loads(body.replace(" = ", ": ")))
    attribute = expression.rsplit(".", 1)[-1]
    if expression.startswith("aws_iam_role.") and attribute == "arn":
        # The functions check that a role ARN is one (KEY_LAMBDA_ROLE_ARN, INSTANCE_ROLE_ARN).
        return ROLE_ARN_PLACEHOLDER
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


_PROBE = r"""
import json, sys, time
sys.path[:0] = PATHS
# Counted from here: botocore's modules imported below are imported by every handler anyway.
_started = time.process_time()
import importlib
import botocore.endpoint, botocore.session, botocore.awsrequest

_built = {"import": 0, "invocation": 0}
_client_cpu = [0.0]
_phase = ["import"]
_create = botocore.session.Session.create_client


def _counted(self, *args, **kwargs):
    started = time.process_time()
    try:
        return _create(self, *args, **kwargs)
    finally:
        _client_cpu[0] += time.process_time() - started
        _built[_phase[0]] += 1


botocore.session.Session.create_client = _counted

# The stub: every AWS call is answered at once with an empty success in the call's protocol
# (the request is built, signed, "sent" and its response parsed as usual; nothing leaves).
_calls = []
_operation = [None]
_get_response = botocore.endpoint.Endpoint._do_get_response


def _remember(self, request, operation_model, context):
    _operation[0] = operation_model
    return _get_response(self, request, operation_model, context)


class _Raw:
    def __init__(self, body):
        self._body = body

    def stream(self, **_):
        yield self._body

    def read(self, *_, **__):
        body, self._body = self._body, b""
        return body


def _stub_send(self, request):
    operation = _operation[0]
    protocol = operation.service_model.resolved_protocol
    _calls.append(f"{operation.service_model.service_name}.{operation.name}")
    name = operation.name
    headers = {"x-amzn-requestid": "stub"}
    if protocol in ("json", "rest-json"):
        body, headers["content-type"] = b"{}", "application/x-amz-json-1.1"
    elif protocol == "smithy-rpc-v2-cbor":
        body, headers["smithy-protocol"] = b"\xa0", "rpc-v2-cbor"
        headers["content-type"] = "application/cbor"
    elif protocol == "query":
        body = f"<{name}Response><{name}Result/></{name}Response>".encode()
    else:  # ec2, rest-xml
        body = f"<{name}Response/>".encode() if operation.output_shape is not None else b""
    return botocore.awsrequest.AWSResponse(request.url, 200, headers, _Raw(body))


if INVOKE:
    botocore.endpoint.Endpoint._do_get_response = _remember
    botocore.endpoint.Endpoint._send = _stub_send
    time.sleep = lambda _: None  # a wait loop in a handler must not wait in the benchmark

module = importlib.import_module(MODULE)
_imported = time.process_time()
error = ""
if INVOKE:
    _phase[0] = "invocation"

    class Context:
        def get_remaining_time_in_millis(self):
            return 60_000

    try:
        module.handler(EVENT, Context())
    except Exception as exc:  # the stub's empty answers may end a run early: say so
        error = type(exc).__name__
import resource
print(json.dumps({
    "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "import": _imported - _started,
    "total": time.process_time() - _started,
    "clients": _client_cpu[0],
    "built": _built,
    "calls": _calls,
    "error": error,
}))
"""
"""A fresh Lambda process: imports the handler module (CPU time), optionally invokes it once
against a stub transport, and reports the CPU seconds, the clients built in each phase and the
AWS calls made."""

ACCOUNT = "123456789012"
_INSTANCE = "i-0123456789abcdef0"


def _lifecycle_event(transition: str) -> dict[str, Any]:
    detail_type, name = {
        "launch": ("EC2 Instance-launch Lifecycle Action", "autoscaling:EC2_INSTANCE_LAUNCHING"),
        "terminate": (
            "EC2 Instance-terminate Lifecycle Action",
            "autoscaling:EC2_INSTANCE_TERMINATING",
        ),
    }[transition]
    group = "besu-validators"
    return {
        "version": "0",
        "id": f"event-{transition}",
        "detail-type": detail_type,
        "source": "aws.autoscaling",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [
            f"arn:aws:autoscaling:eu-west-1:{ACCOUNT}:autoScalingGroup:uuid:"
            f"autoScalingGroupName/{group}"
        ],
        "detail": {
            "LifecycleActionToken": "00000000-0000-0000-0000-000000000000",
            "AutoScalingGroupName": group,
            "LifecycleHookName": f"{group}-{transition}",
            "EC2InstanceId": _INSTANCE,
            "LifecycleTransition": name,
        },
    }


EVENTS: dict[str, dict[str, Any]] = {
    "health.handler": {},
    "keygen.handler": {"validator_count": 4},
    "lifecycle.launch_handler": _lifecycle_event("launch"),
    "lifecycle.termination_handler": _lifecycle_event("terminate"),
    "lifecycle.reconcile_handler": {"account": ACCOUNT, "region": "eu-west-1", "resources": []},
}
"""The first invocation's event of each handler (as EventBridge or Terraform sends it)."""


def _run(module: str, paths: list[Path], env: dict[str, str], *, invoke: bool) -> dict[str, Any]:
    """One fresh process; see :data:`_PROBE`."""
    code = (
        f"PATHS = {[str(p) for p in paths]!r}\nMODULE = {module!r}\nINVOKE = {invoke!r}\n"
        f"EVENT = {EVENTS.get(module, {})!r}\n" + _PROBE
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
    lines = result.stdout.strip().splitlines()
    return dict(json.loads(lines[-1]))


def _boto3_seconds(runtime: Path) -> float:
    """CPU seconds of a bare ``import boto3`` in a fresh process."""
    code = (
        "import sys, time\n"
        f"sys.path[:0] = [{str(runtime)!r}]\n"
        "t = time.process_time()\nimport boto3\nprint(time.process_time() - t)\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
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
            boto3_runs, imports, firsts = [], [], []
            for _ in range(args.runs):
                boto3_runs.append(_boto3_seconds(runtime))
                imports.append(_run(module, [task, runtime], env, invoke=False))
                firsts.append(_run(module, [task, runtime], env, invoke=True))
            last = firsts[-1]
            rows.append(
                {
                    "function": function["function_name"],
                    "module": module,
                    "zip": zip_path.stat().st_size,
                    "memory": int(function["memory_size"]),
                    "boto3": statistics.median(boto3_runs),
                    "import": statistics.median(r["import"] for r in imports),
                    "clients": statistics.median(r["clients"] for r in imports),
                    "first": statistics.median(r["total"] for r in firsts),
                    "rss": statistics.median(r["rss"] for r in firsts),
                    "built": last["built"],
                    "calls": len(last["calls"]),
                    "error": last["error"],
                }
            )

    print(
        f"cold start in CPU seconds, median of {args.runs} runs (python "
        f"{platform.python_version()}, {platform.machine()}); target <= {TARGET_RATIO}x boto3"
    )
    print(
        f"{'function':<20} {'handler module':<30} {'zip MiB':>7} {'MB':>5} {'boto3':>6} "
        f"{'import':>6} {'clients':>7} {'ratio':>6} {'+1st call':>9} {'ratio':>6} "
        f"{'built':>5} {'calls':>5} {'RSS MiB':>7}"
    )
    for row in rows:
        ratio = row["import"] / row["boto3"]
        first_ratio = row["first"] / row["boto3"]
        mark = "" if ratio <= TARGET_RATIO else "  over target"
        built = f"{row['built']['import']}+{row['built']['invocation']}"
        ended = f" (run ended by {row['error']})" if row["error"] else ""
        print(
            f"{row['function']:<20} {row['module']:<30} {row['zip'] / 2**20:>7.2f} "
            f"{row['memory']:>5} {row['boto3']:>6.3f} {row['import']:>6.3f} "
            f"{row['clients']:>7.3f} {ratio:>5.2f}x {row['first']:>9.3f} {first_ratio:>5.2f}x "
            f"{built:>5} {row['calls']:>5} {row['rss']:>7.0f}{mark}{ended}"
        )
    print(
        "import: the handler module's import with its synthesized environment (the clients it "
        "builds at import included: 'clients'); +1st call: that import plus one invocation "
        "against a stub that answers every AWS call at once with an empty success; built: "
        "clients built at import + during that invocation; calls: AWS calls it made; RSS: "
        "the process's peak resident memory."
    )


if __name__ == "__main__":
    main()
