"""A local moto server (with the shims of :mod:`besu_stack.rehearsal.moto_shims`) as a process.

The emulated account that ``besu-stack rehearse`` and the Terraform tests apply into. It listens
on loopback only; the environment it gives Terraform and boto3 points every AWS client at it
with fake credentials, so nothing can reach a real account.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

REGION = "eu-west-1"

PROVIDER_OVERRIDE = {
    "provider": {
        "aws": {
            "access_key": "testing",
            "secret_key": "testing",
            "s3_use_path_style": True,
            "skip_credentials_validation": True,
            "skip_metadata_api_check": True,
        }
    }
}
"""Merged into a root module's ``aws`` provider (``moto_override.tf.json``, a Terraform override
file) so the provider talks to moto with fake keys and path-style S3 URLs."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    """A shimmed moto server on a free loopback port; use it as a context manager."""

    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    endpoint: str = ""

    def __enter__(self) -> MotoServer:
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "besu_stack.rehearsal.moto_shims", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.isolated_environment(),
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.2)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client_environment(self) -> dict[str, str]:
        """Environment for Terraform and boto3: this endpoint, fake credentials, the region."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def isolated_environment(self) -> dict[str, str]:
        """The environment of this process less its own AWS settings, plus this server's."""
        own = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return {**own, **self.client_environment()}

    def client(self, service: str, *, read_timeout: int = 60) -> Any:
        """A boto3 client of this server only (explicit endpoint, fake credentials).

        Calls are not retried: a retried ``Invoke`` would run a function twice.
        """
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            region_name=REGION,
        )
        config = Config(read_timeout=read_timeout, retries={"max_attempts": 1, "mode": "standard"})
        return session.client(service, endpoint_url=self.endpoint, config=config)

    def reset(self) -> None:
        """Empty the emulated account (moto's state and the shims')."""
        for path in ("/moto-api/reset", "/_besu_stack/reset"):
            request = urllib.request.Request(f"{self.endpoint}{path}", method="POST")
            with urllib.request.urlopen(request, timeout=30):
                pass

    def report(self, name: str) -> Any:
        """A shim's record: ``lifecycle-actions`` or ``lambda-invocations``."""
        with urllib.request.urlopen(f"{self.endpoint}/_besu_stack/{name}", timeout=30) as answer:
            return json.loads(answer.read())


def write_provider_override(module_dir: Path) -> Path:
    """Write the override file that points a root module's provider at moto."""
    path = module_dir / "moto_override.tf.json"
    path.write_text(json.dumps(PROVIDER_OVERRIDE, indent=2) + "\n", encoding="utf-8")
    return path
