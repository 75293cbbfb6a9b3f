"""A moto server process shared by the Lambda tests, reset before each test.

The Lambda code talks to it through ``AWS_ENDPOINT_URL`` exactly as it talks to AWS, so the
tests exercise the real boto3 serialization and error codes. The clients the Lambda code builds
(``besu_stack.lambda_kernel.aws.aws_client``) load the trimmed botocore models its deployment
package carries (:mod:`besu_stack.service_models`), as they do on Lambda: a test module named
after a package (``test_lifecycle_*``, ``test_health_*``, ``test_keygen``) gets that package's
models. Clients the tests build to arrange and inspect the account are plain boto3 clients with
botocore's full models.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from besu_stack.lambda_kernel import aws as kernel_aws
from besu_stack.lambda_package import LAMBDA_PACKAGES, package_service_models

REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port; stop it at the end of the session."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server with fake credentials; start from an empty account."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_endpoint


@dataclass(frozen=True)
class Clients:
    secretsmanager: Any
    dynamodb: Any
    s3: Any
    kms: Any


@pytest.fixture
def clients(aws: str) -> Clients:
    """boto3 clients on the moto server, for arranging and inspecting state."""
    return Clients(
        secretsmanager=boto3.client("secretsmanager", region_name=REGION),
        dynamodb=boto3.client("dynamodb", region_name=REGION),
        s3=boto3.client("s3", region_name=REGION),
        kms=boto3.client("kms", region_name=REGION),
    )


@pytest.fixture(scope="session")
def package_models(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The trimmed botocore data directory of a Lambda package (written once per session)."""
    root = tmp_path_factory.mktemp("service-models")

    def models(package: str) -> Path:
        target = root / package
        if not target.exists():
            for name, data in package_service_models(package).items():
                path = target / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        return target / kernel_aws.SERVICE_MODELS_DIR

    return models


def package_under_test(module_name: str) -> str | None:
    """The Lambda package a test module exercises, from its name (``test_keygen`` -> keygen)."""
    stem = module_name.rsplit(".", 1)[-1]
    found = [name for name in LAMBDA_PACKAGES if stem.startswith(f"test_{name}")]
    return found[0] if found else None


@pytest.fixture(autouse=True)
def lambda_service_models(
    request: pytest.FixtureRequest,
    package_models: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """Point the Lambda clients at the trimmed models of the package under test."""
    package = package_under_test(request.module.__name__)
    if package is None:
        yield
        return
    models = package_models(package)
    monkeypatch.setattr(kernel_aws, "service_models_dir", lambda: models)
    kernel_aws.botocore_session.cache_clear()
    yield
    kernel_aws.botocore_session.cache_clear()
