"""Running a Lambda function's deployed package on this machine, as the Lambda runtime would.

Used by the moto shim that stands in for Lambda's ``Invoke`` (moto runs functions only in
Docker). Each invocation is a fresh Python process (a cold start: module-level code runs again)
whose ``sys.path`` holds exactly what the function has on Lambda:

1. the deployment package, extracted from the zip Terraform uploaded;
2. what the Lambda Python runtime provides besides the standard library (boto3 and its
   dependencies; see https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html), taken
   from this environment;
3. for each distribution in the package built for another architecture (the packages carry
   arm64 wheels), the same distribution at the same version built for this machine, taken from
   this environment; a version mismatch is an error, never a silent substitution.

Nothing else of this environment is importable (``python -S -E -s``), so a module missing from
the package fails here as it would on Lambda. The process gets the function's configured
environment, fake credentials, ``AWS_ENDPOINT_URL`` pointing at the moto server, and the
function's timeout.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

RUNTIME_PROVIDED = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
"""Distributions the Lambda Python runtime ships (AWS SDK for Python and its dependencies)."""

_CACHE = Path(tempfile.gettempdir()) / "besu-stack-lambda-executor"
_PREPARE_LOCK = threading.Lock()

_BOOTSTRAP = """
import importlib, json, sys, time, uuid
module_name, _, function_name = sys.argv[1].rpartition(".")
deadline = time.monotonic() + float(sys.argv[2])
class Context:
    function_name = sys.argv[3]
    function_version = "$LATEST"
    aws_request_id = str(uuid.uuid4())
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:" + sys.argv[4] + ":123456789012:function:" + sys.argv[3]
    log_group_name = "/aws/lambda/" + sys.argv[3]
    log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.monotonic()) * 1000))
event = json.loads(sys.stdin.buffer.read() or b"null")
out = sys.stdout
sys.stdout = sys.stderr
try:
    handler = getattr(importlib.import_module(module_name), function_name)
    result = handler(event, Context())
    out.write(json.dumps({"ok": True, "result": result}))
except Exception as exc:
    import traceback
    traceback.print_exc()
    out.write(json.dumps({"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc)}))
"""


@dataclass(frozen=True)
class Invocation:
    """One local run of a function: its answer and what it printed."""

    function_name: str
    event: bytes
    result: bytes
    function_error: bool
    logs: str
    duration_seconds: float

    def as_json(self) -> dict[str, object]:
        """The invocation as a JSON-ready dict."""
        return {
            "function_name": self.function_name,
            "event": self.event.decode(errors="replace"),
            "result": self.result.decode(errors="replace"),
            "function_error": self.function_error,
            "logs": self.logs,
            "duration_seconds": round(self.duration_seconds, 3),
        }


class PackageError(RuntimeError):
    """The deployment package cannot be run on this machine as it would run on Lambda."""


def _host_arch_tags() -> tuple[str, ...]:
    machine = platform.machine().lower()
    return ("aarch64", "arm64") if machine in {"aarch64", "arm64"} else (machine, "amd64")


def _distribution_files(name: str) -> list[Path]:
    """Top-level files and directories of an installed distribution of this environment."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise PackageError(f"{name} is not installed in this environment") from exc
    tops: set[Path] = set()
    for file in dist.files or ():
        first = Path(file.parts[0])
        if first.name.endswith(".dist-info") or first.name == "..":
            continue
        tops.add(Path(str(dist.locate_file(first))))
    return sorted(tops)


def _foreign_distributions(package_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """Distributions in the package built for another architecture: name -> (version, tops)."""
    host = _host_arch_tags()
    found: dict[str, tuple[str, list[str]]] = {}
    for wheel_file in package_dir.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel_file.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        platforms = {tag.rsplit("-", 1)[-1] for tag in tags}
        if platforms <= {"any"} or any(h in p for p in platforms for h in host):
            continue
        info = wheel_file.parent
        metadata = (info / "METADATA").read_text(errors="replace")
        fields = dict(
            line.split(": ", 1)
            for line in metadata.splitlines()
            if line.startswith(("Name: ", "Version: "))
        )
        tops = set()
        for line in (info / "RECORD").read_text().splitlines():
            top = line.split(",", 1)[0].split("/", 1)[0]
            if top and not top.endswith(".dist-info"):
                tops.add(top)
        found[fields["Name"]] = (fields["Version"], sorted(tops))
    return found


def prepare_package(code_zip: bytes, runtime_sdk: Path | None = None) -> tuple[Path, Path]:
    """Extract a package once (cached by digest); return (package dir, runtime overlay dir).

    ``runtime_sdk`` is a directory (``pip install --target``) whose top-level packages stand in
    for this environment's of the same name in the runtime overlay: for instance the older
    botocore of a Lambda runtime, to run a package as that runtime would.
    """
    key = hashlib.sha256(code_zip)
    if runtime_sdk is not None:
        key.update(str(runtime_sdk.resolve()).encode())
    root = _CACHE / key.hexdigest()[:24]
    package_dir, overlay_dir = root / "package", root / "overlay"
    with _PREPARE_LOCK:
        if not (root / ".ready").exists():
            _extract(code_zip, root, runtime_sdk)
    return package_dir, overlay_dir


def _extract(code_zip: bytes, root: Path, runtime_sdk: Path | None = None) -> None:
    if root.exists():
        shutil.rmtree(root)
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(code_zip)) as archive:
        archive.extractall(staging / "package")
    (staging / "overlay").mkdir()
    replaced: list[str] = []
    for name, (version, tops) in _foreign_distributions(staging / "package").items():
        host_version = importlib.metadata.version(name)
        if host_version != version:
            raise PackageError(
                f"the package carries {name} {version} for another architecture; this "
                f"environment has {host_version}: install {name}=={version} to run it here"
            )
        for top in tops:
            target = staging / "package" / top
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        replaced.append(name)
    for path in sorted(runtime_sdk.iterdir()) if runtime_sdk is not None else ():
        (staging / "overlay" / path.name).symlink_to(path.resolve())
    for name in (*RUNTIME_PROVIDED, *replaced):
        for path in _distribution_files(name):
            link = staging / "overlay" / path.name
            if not link.exists():
                link.symlink_to(path)
    staging.rename(root)
    (root / ".ready").touch()


def run_function(
    *,
    function_name: str,
    code_zip: bytes,
    handler: str,
    environment: dict[str, str],
    timeout_seconds: int,
    event: bytes,
    endpoint: str,
    region: str,
    runtime_sdk: Path | None = None,
) -> Invocation:
    """Run ``handler`` of the package once on ``event`` and return what it answered.

    ``runtime_sdk``: see :func:`prepare_package` (default: this environment's SDK).
    """
    started = time.monotonic()
    package_dir, overlay_dir = prepare_package(code_zip, runtime_sdk)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **environment,
        "PYTHONPATH": f"{package_dir}{os.pathsep}{overlay_dir}",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_seconds),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    # -S: no site-packages of this environment; PYTHONPATH (not -E) carries the two directories.
    command = [
        sys.executable,
        "-S",
        "-s",
        "-c",
        _BOOTSTRAP,
        handler,
        str(timeout_seconds),
        function_name,
        region,
    ]
    try:
        done = subprocess.run(
            command,
            input=event,
            capture_output=True,
            env=env,
            cwd=package_dir,
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        logs = (exc.stderr or b"").decode(errors="replace")
        message = f"Task timed out after {timeout_seconds:.2f} seconds"
        result = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
        return Invocation(function_name, event, result, True, logs, time.monotonic() - started)
    logs = done.stderr.decode(errors="replace")
    try:
        answer = json.loads(done.stdout or b"{}")
    except json.JSONDecodeError:
        answer = {
            "ok": False,
            "errorType": "Runtime.ExitError",
            "errorMessage": done.stdout.decode(errors="replace")[-500:],
        }
    if answer.get("ok"):
        result = json.dumps(answer.get("result")).encode()
        return Invocation(function_name, event, result, False, logs, time.monotonic() - started)
    if not answer:
        answer = {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"exit status {done.returncode}",
        }
    error = {"errorType": answer.get("errorType"), "errorMessage": answer.get("errorMessage")}
    return Invocation(
        function_name, event, json.dumps(error).encode(), True, logs, time.monotonic() - started
    )
