"""Finding and running Terraform with the AWS provider, offline where a provider mirror exists.

Terraform is the judge of what besu-stack synthesizes (``tests/terraform``, ``besu-stack
rehearse``). This module finds the binary and, when one exists, a filesystem mirror of the AWS
provider, and runs Terraform commands in a working directory:

* the binary is ``$BESU_STACK_TERRAFORM`` or ``terraform`` on ``PATH``;
* the provider mirror is ``$BESU_STACK_TF_PROVIDER_MIRROR`` or the first of
  :data:`MIRROR_CANDIDATES` that holds ``registry.terraform.io/hashicorp/aws``. With a mirror, a
  CLI configuration whose ``provider_installation`` names it is written next to the working
  directory, so ``terraform init`` needs no network. Without one, Terraform's own configuration
  applies and ``terraform init`` downloads the provider as usual.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TERRAFORM_ENV = "BESU_STACK_TERRAFORM"
MIRROR_ENV = "BESU_STACK_TF_PROVIDER_MIRROR"
AWS_PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"
MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path.home() / ".local" / "share" / "terraform" / "plugins",
    Path("/usr/local/share/terraform/plugins"),
    Path("/usr/share/terraform/plugins"),
)
"""Where a provider mirror is looked for: this project's CI image, then Terraform's implied local
mirror directories (https://developer.hashicorp.com/terraform/cli/config/config-file#implied-local-mirror-directories)."""


class TerraformError(RuntimeError):
    """A Terraform command failed; the message carries its output."""

    def __init__(self, command: Sequence[str], returncode: int, output: str) -> None:
        super().__init__(f"terraform {' '.join(command)} exited {returncode}:\n{output}")
        self.command = list(command)
        self.returncode = returncode
        self.output = output


class TerraformNotFound(RuntimeError):
    """No Terraform binary was found."""


def find_terraform() -> Path:
    """The Terraform binary: ``$BESU_STACK_TERRAFORM``, else ``terraform`` on ``PATH``."""
    configured = os.environ.get(TERRAFORM_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise TerraformNotFound(f"${TERRAFORM_ENV}={configured} is not a file")
        return path
    found = shutil.which("terraform")
    if found is None:
        raise TerraformNotFound(
            f"terraform is not on PATH (install Terraform >= 1.10 or set ${TERRAFORM_ENV})"
        )
    return Path(found)


def find_provider_mirror() -> Path | None:
    """A filesystem mirror holding the AWS provider, or None (then ``init`` downloads it)."""
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        path = Path(configured)
        if not (path / AWS_PROVIDER_ADDRESS).is_dir():
            raise TerraformNotFound(f"${MIRROR_ENV}={configured} holds no {AWS_PROVIDER_ADDRESS}")
        return path
    return next((p for p in MIRROR_CANDIDATES if (p / AWS_PROVIDER_ADDRESS).is_dir()), None)


def mirrored_provider_versions(mirror: Path) -> list[str]:
    """The AWS provider versions a mirror holds (unpacked layout), sorted."""
    return sorted(p.name for p in (mirror / AWS_PROVIDER_ADDRESS).iterdir() if p.is_dir())


def cli_config(mirror: Path) -> str:
    """A Terraform CLI configuration that installs the AWS provider from ``mirror`` only."""
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{AWS_PROVIDER_ADDRESS}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{AWS_PROVIDER_ADDRESS}"]\n  }}\n'
        "}\n"
    )


@dataclass
class Terraform:
    """Terraform commands in one working directory (``-no-color``, never interactive)."""

    workdir: Path
    binary: Path = field(default_factory=find_terraform)
    mirror: Path | None = field(default_factory=find_provider_mirror)
    env: dict[str, str] | None = None
    """The whole environment of the commands (default: this process's)."""

    def _environment(self) -> dict[str, str]:
        base = dict(os.environ) if self.env is None else dict(self.env)
        env = {**base, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        if self.mirror is not None:
            config = self.workdir.parent / f".{self.workdir.name}.terraformrc"
            config.write_text(cli_config(self.mirror), encoding="utf-8")
            env["TF_CLI_CONFIG_FILE"] = str(config)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 1800) -> str:
        """Run ``terraform <args>`` and return its combined output; raise on failure."""
        stdout, stderr = self._run(args, check=check, timeout=timeout)
        return stdout + stderr

    def run_json(self, *args: str, check: bool = True) -> Any:
        """Run a ``-json`` command and parse its standard output (warnings go to stderr)."""
        stdout, _ = self._run(args, check=check, timeout=1800)
        return json.loads(stdout)

    def _run(self, args: Sequence[str], *, check: bool, timeout: float) -> tuple[str, str]:
        command = [args[0], "-no-color", *args[1:]] if args else []
        done = subprocess.run(
            [str(self.binary), *command],
            cwd=self.workdir,
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise TerraformError(command, done.returncode, done.stdout + done.stderr)
        return done.stdout, done.stderr

    def init(self, *, backend: bool = True) -> str:
        """``terraform init`` (``-backend=false`` when ``backend`` is False)."""
        return self.run("init", "-input=false", f"-backend={'true' if backend else 'false'}")

    def validate(self) -> dict[str, Any]:
        """``terraform validate -json``: the diagnostics object (``valid``, ``diagnostics``)."""
        result: dict[str, Any] = self.run_json("validate", "-json", check=False)
        return result

    def plan(self, out: str = "plan.bin", variables: Mapping[str, object] | None = None) -> str:
        """``terraform plan -out=<out>`` with ``variables`` as ``-var`` arguments."""
        return self.run("plan", "-input=false", f"-out={out}", *_var_args(variables))

    def show_plan(self, plan: str = "plan.bin") -> dict[str, Any]:
        """``terraform show -json <plan>``: planned values, changes and configuration."""
        shown: dict[str, Any] = self.run_json("show", "-json", plan)
        return shown

    def show_state(self) -> dict[str, Any]:
        """``terraform show -json``: the current state's values."""
        shown: dict[str, Any] = self.run_json("show", "-json")
        return shown

    def apply(self, plan: str = "plan.bin") -> str:
        """``terraform apply <plan>``."""
        return self.run("apply", "-input=false", "-auto-approve", plan)

    def destroy(self, variables: Mapping[str, object] | None = None) -> str:
        """``terraform destroy -auto-approve``."""
        return self.run("destroy", "-input=false", "-auto-approve", *_var_args(variables))

    def output(self) -> dict[str, Any]:
        """``terraform output -json``: each output's value."""
        raw: dict[str, Any] = self.run_json("output", "-json")
        return {name: item["value"] for name, item in raw.items()}

    def version(self) -> str:
        """Terraform's version, as ``terraform version -json`` reports it."""
        return str(self.run_json("version", "-json")["terraform_version"])


def _var_args(variables: Mapping[str, object] | None) -> list[str]:
    args = []
    for name, value in (variables or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        args.append(f"-var={name}={text}")
    return args
