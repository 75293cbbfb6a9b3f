"""``besu-stack doctor``: what a deploy needs on this machine, checked one item at a time.

Each check is a small function returning a :class:`CheckResult`. Every interaction with the
outside world (running a program, the environment, the filesystem locations of the project's
tools, AWS) goes through a :class:`Probe`, so the tests replace it at the process boundary.
Synthesis needs only Python, a Node for jsii and the Lambda wheels; the rest (cdktf-cli,
Terraform, credentials, the Besu image in ECR) is needed to deploy, so its absence is a warning.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from besu_stack.node_runtime import PROJECT_NODE
from besu_stack.variables import NETWORK_VARIABLES

Status = Literal["pass", "warn", "fail"]

MIN_PYTHON = (3, 11)
SUPPORTED_NODE_MAJOR = 22
EOL_NODE_MAJOR = 20
CDKTF_CLI_VERSION = "0.21.0"
MIN_TERRAFORM = (1, 10)
PROJECT_CDKTF = PROJECT_NODE.parents[2] / "cdktf" / "node_modules" / ".bin" / "cdktf"
COMMAND_TIMEOUT_S = 60.0

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")

RunResult = tuple[int, str, str]
RunCommand = Callable[[Sequence[str]], RunResult | None]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: what was found, and how to fix it when it is not a pass."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def run_command(argv: Sequence[str]) -> RunResult | None:
    """Run ``argv`` and return (exit code, stdout, stderr); None when the program is missing."""
    # Terraform asks checkpoint.hashicorp.com whether it is outdated unless told not to.
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "NO_UPDATE_NOTIFIER": "1"}
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT_S,
            env=env,
        )
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {COMMAND_TIMEOUT_S:.0f} s"
    except OSError as exc:  # not executable, for example
        return 126, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def _boto3_session() -> Any:
    import boto3

    return boto3.Session()


def _find_checkov() -> Path | None:
    from besu_stack.policy.gate import find_checkov

    return find_checkov()


def _wheels_dir() -> Path:
    from besu_stack.lambda_paths import DEFAULT_WHEELS_DIR

    return DEFAULT_WHEELS_DIR


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Probe:
    """Everything the checks read from the machine; the defaults are the real thing."""

    run_command: RunCommand = run_command
    session_factory: Callable[[], Any] = _boto3_session
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    version_info: tuple[int, int, int] = tuple(sys.version_info[:3])  # type: ignore[assignment]
    project_node: Path = PROJECT_NODE
    project_cdktf: Path = PROJECT_CDKTF
    find_checkov: Callable[[], Path | None] = _find_checkov
    wheels_dir: Callable[[], Path] = _wheels_dir
    progress: Callable[[str], None] = _progress


def _parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def _dotted(version: Sequence[int]) -> str:
    return ".".join(str(part) for part in version)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def variable_default(name: str) -> str:
    """The default of one of the network stack's Terraform variables, as a string."""
    for spec in NETWORK_VARIABLES:
        if spec.name == name:
            return str(spec.default)
    raise KeyError(name)


# --- checks -----------------------------------------------------------------------------------


def check_python(probe: Probe) -> CheckResult:
    """Python 3.11 or newer runs besu-stack."""
    found = _dotted(probe.version_info)
    if tuple(probe.version_info[:2]) >= MIN_PYTHON:
        return CheckResult("python", "pass", f"Python {found}")
    return CheckResult(
        "python",
        "fail",
        f"Python {found} is older than {_dotted(MIN_PYTHON)}",
        "install Python 3.11 or newer, then `make setup`",
    )


def _jsii_node(probe: Probe) -> tuple[str, str]:
    """The Node jsii will run and where that choice came from."""
    chosen = probe.environ.get("JSII_NODE")
    if chosen:
        return chosen, "$JSII_NODE"
    if _is_executable(probe.project_node):
        return str(probe.project_node), "the project's .tools/node"
    return "node", "PATH"


def check_node(probe: Probe) -> CheckResult:
    """The Node.js that runs jsii: 22+ passes, 20 is end-of-life, older or missing fails."""
    node, source = _jsii_node(probe)
    fix = "`make tools` (installs Node 22 into .tools/node), or point $JSII_NODE at Node 22+"
    ran = probe.run_command([node, "--version"])
    if ran is None:
        return CheckResult("node", "fail", f"no Node.js for jsii ({node} from {source})", fix)
    code, out, err = ran
    version = _parse_version(out) if code == 0 else None
    if version is None:
        reason = (err or out).strip().splitlines()[-1:] or [f"exit {code}"]
        return CheckResult(
            "node", "fail", f"`{node} --version` failed ({source}): {reason[0]}", fix
        )
    where = f"Node {_dotted(version)} ({node}, from {source})"
    if version[0] >= SUPPORTED_NODE_MAJOR:
        return CheckResult("node", "pass", where)
    if version[0] >= EOL_NODE_MAJOR:
        return CheckResult(
            "node", "warn", f"{where} is end-of-life: jsii prints a warning on every synth", fix
        )
    return CheckResult("node", "fail", f"{where} is too old for jsii (20 or newer)", fix)


def check_cdktf_cli(probe: Probe) -> CheckResult:
    """cdktf-cli, only needed for ``cdktf deploy``; the pinned version matches the library."""
    fix = f"`make cdktf-cli` (installs cdktf-cli {CDKTF_CLI_VERSION} into .tools/cdktf)"
    for cdktf in ("cdktf", str(probe.project_cdktf)):
        ran = probe.run_command([cdktf, "--version"])
        if ran is None:
            continue
        code, out, err = ran
        version = _parse_version(out) if code == 0 else None
        if version is None:
            reason = (err or out).strip().splitlines()[-1:] or [f"exit {code}"]
            return CheckResult("cdktf-cli", "warn", f"`{cdktf} --version` failed: {reason[0]}", fix)
        if _dotted(version) == CDKTF_CLI_VERSION:
            return CheckResult("cdktf-cli", "pass", f"cdktf-cli {CDKTF_CLI_VERSION} ({cdktf})")
        return CheckResult(
            "cdktf-cli",
            "warn",
            f"cdktf-cli {_dotted(version)} ({cdktf}), but the library is cdktf {CDKTF_CLI_VERSION}",
            fix,
        )
    return CheckResult(
        "cdktf-cli",
        "warn",
        "cdktf-cli not found (needed only for `cdktf deploy`; synth and terraform work without it)",
        fix,
    )


def _terraform_version(probe: Probe) -> tuple[int, int, int] | str | None:
    """Terraform's version, None when it is not installed, or why it could not be read."""
    ran = probe.run_command(["terraform", "version", "-json"])
    if ran is None:
        return None
    code, out, _ = ran
    if code == 0:
        try:
            parsed = _parse_version(str(json.loads(out)["terraform_version"]))
        except (ValueError, KeyError, TypeError):
            parsed = None
        if parsed is not None:
            return parsed
    ran = probe.run_command(["terraform", "--version"])
    if ran is None:
        return None
    code, out, err = ran
    first = out.strip().splitlines()[:1]
    parsed = _parse_version(first[0]) if code == 0 and first else None
    if parsed is not None:
        return parsed
    return ((err or out).strip().splitlines()[-1:] or [f"exit {code}"])[0]


def check_terraform(probe: Probe) -> CheckResult:
    """Terraform 1.10+ (S3 native state locking); needed to deploy, not to synthesize."""
    fix = f"install Terraform {_dotted(MIN_TERRAFORM)} or newer (https://developer.hashicorp.com/terraform/install)"
    version = _terraform_version(probe)
    if version is None:
        return CheckResult(
            "terraform", "warn", "terraform not found (needed to deploy, not to synthesize)", fix
        )
    if isinstance(version, str):
        return CheckResult("terraform", "fail", f"`terraform version` failed: {version}", fix)
    if version[:2] >= MIN_TERRAFORM:
        return CheckResult("terraform", "pass", f"Terraform {_dotted(version)}")
    return CheckResult(
        "terraform",
        "fail",
        f"Terraform {_dotted(version)} is older than {_dotted(MIN_TERRAFORM)} (S3 native state locking needs it)",
        fix,
    )


def check_checkov(probe: Probe) -> CheckResult:
    """Checkov for ``besu-stack check``."""
    checkov = probe.find_checkov()
    if checkov is not None:
        return CheckResult("checkov", "pass", f"checkov at {checkov}")
    return CheckResult(
        "checkov",
        "warn",
        "checkov not found (needed by `besu-stack check`)",
        "`make tools` (installs checkov into .tools/checkov), or set $CHECKOV",
    )


def check_lambda_wheels(probe: Probe) -> CheckResult:
    """The Lambdas' pinned third-party wheels, which the synth packages (it never downloads)."""
    from besu_stack.lambda_package import pinned_requirements, wheel_distribution

    wheels_dir = probe.wheels_dir()
    wheels = sorted(wheels_dir.glob("*.whl")) if wheels_dir.is_dir() else []
    present = {(wheel_distribution(w), w.name.split("-")[1]) for w in wheels}
    missing = [f"{n}=={v}" for n, v in pinned_requirements().items() if (n, v) not in present]
    if not missing:
        return CheckResult("lambda-wheels", "pass", f"{len(wheels)} pinned wheels in {wheels_dir}")
    return CheckResult(
        "lambda-wheels",
        "fail",
        f"Lambda wheels missing from {wheels_dir}: {', '.join(missing)} (the synth packages them)",
        "`make setup`, or `besu-stack lambda-wheels`",
    )


@dataclass(frozen=True)
class AwsContext:
    """What the credentials check learned, for the checks that call AWS after it."""

    session: Any
    account: str
    region: str


def _client_config() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1})


def _aws_error(exc: Exception) -> tuple[str, str]:
    """A short description of an AWS call's failure and the fix for it."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoRegionError,
        ProfileNotFound,
        ReadTimeoutError,
        SSOError,
        TokenRetrievalError,
    )

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
        if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
            return code, "refresh the credentials (`aws sso login`, or new session keys)"
        if code in {"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"}:
            return code, "the access key is unknown or wrong: check AWS_PROFILE / the keys in use"
        if code in {"AccessDenied", "AccessDeniedException"}:
            return code, "the identity lacks the permission; use a role allowed to deploy"
        return code, "check the credentials and the region"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return type(exc).__name__, "check the network path to AWS (proxy, VPN) and the region"
    if isinstance(exc, ConnectionError):
        return type(exc).__name__, "check the network path to AWS (proxy, VPN)"
    if isinstance(exc, SSOError | TokenRetrievalError):
        return type(exc).__name__, "the SSO session has expired: `aws sso login`"
    if isinstance(exc, ProfileNotFound):
        return type(exc).__name__, "AWS_PROFILE names a profile that is not configured"
    if isinstance(exc, NoRegionError):
        return type(exc).__name__, "set AWS_REGION (or a region in the profile)"
    return type(exc).__name__, "check the AWS configuration (`aws configure list`)"


def check_aws_credentials(probe: Probe) -> tuple[CheckResult, AwsContext | None]:
    """Credentials boto3 can find, verified with STS; the context is set when this passed."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = "aws-credentials"
    try:
        session = probe.session_factory()
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        code, fix = _aws_error(exc)
        return CheckResult(name, "fail", f"cannot load AWS credentials: {code}", fix), None
    if credentials is None:
        return (
            CheckResult(
                name,
                "warn",
                "no AWS credentials found (needed to deploy, not to synthesize)",
                "configure credentials: `aws configure`, `aws sso login`, or AWS_PROFILE",
            ),
            None,
        )
    region = session.region_name
    try:
        # STS answers on its global endpoint when no region is configured.
        sts = session.client("sts", region_name=region or "us-east-1", config=_client_config())
        account = str(sts.get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as exc:
        code, fix = _aws_error(exc)
        return CheckResult(name, "fail", f"STS GetCallerIdentity failed: {code}", fix), None
    if not region:
        return (
            CheckResult(
                name,
                "warn",
                f"account {account}, region not set",
                "set AWS_REGION (or a region in the profile) to the region to deploy into",
            ),
            None,
        )
    return (
        CheckResult(name, "pass", f"account {account}, region {region}"),
        AwsContext(session, account, region),
    )


def check_besu_image(aws: AwsContext, repository: str, tag: str) -> CheckResult:
    """The Besu image the nodes pull, present in this account's ECR."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = "besu-image"
    if "/" in repository:
        return CheckResult(
            name, "warn", f"{repository}:{tag} is not an ECR repository name; not checked"
        )
    registry = f"{aws.account}.dkr.ecr.{aws.region}.amazonaws.com"
    image_id = {"imageDigest": tag} if tag.startswith("sha256:") else {"imageTag": tag}
    mirror = (
        f"mirror hyperledger/besu:{tag} into ECR: `aws ecr create-repository --repository-name {repository}` "
        f"(if missing), `aws ecr get-login-password | docker login --username AWS --password-stdin {registry}`, "
        f"`docker buildx imagetools create --tag {registry}/{repository}:{tag} hyperledger/besu:{tag}`"
    )
    try:
        ecr = aws.session.client("ecr", region_name=aws.region, config=_client_config())
        ecr.describe_images(repositoryName=repository, imageIds=[image_id])
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
        if code == "RepositoryNotFoundException":
            return CheckResult(
                name, "fail", f"no ECR repository {repository!r} in {aws.region}", mirror
            )
        if code == "ImageNotFoundException":
            return CheckResult(
                name, "fail", f"{repository}:{tag} not found in ECR ({aws.region})", mirror
            )
        _, fix = _aws_error(exc)
        return CheckResult(name, "fail", f"ECR DescribeImages failed: {code}", fix)
    except BotoCoreError as exc:
        code, fix = _aws_error(exc)
        return CheckResult(name, "fail", f"ECR DescribeImages failed: {code}", fix)
    return CheckResult(name, "pass", f"{registry}/{repository}:{tag}")


# --- running and reporting --------------------------------------------------------------------


def run_checks(
    probe: Probe | None = None,
    *,
    image_repository: str | None = None,
    image_tag: str | None = None,
) -> list[CheckResult]:
    """Every check, in order; the ECR image check runs only once STS has answered."""
    probe = probe or Probe()
    repository = image_repository or variable_default("besu_image_repository")
    tag = image_tag or variable_default("besu_image_tag")
    results = [check_python(probe)]
    probe.progress("checking the Node.js that runs jsii")
    results.append(check_node(probe))
    probe.progress("checking cdktf-cli")
    results.append(check_cdktf_cli(probe))
    probe.progress("checking Terraform")
    results.append(check_terraform(probe))
    results.append(check_checkov(probe))
    results.append(check_lambda_wheels(probe))
    probe.progress("checking AWS credentials (STS GetCallerIdentity)")
    aws_result, aws = check_aws_credentials(probe)
    results.append(aws_result)
    if aws is not None:
        probe.progress(f"checking the Besu image {repository}:{tag} in ECR")
        results.append(check_besu_image(aws, repository, tag))
    return results


def failed(results: Sequence[CheckResult]) -> bool:
    """True when any check failed."""
    return any(result.status == "fail" for result in results)


def _counts(results: Sequence[CheckResult]) -> dict[str, int]:
    return {
        status: sum(1 for r in results if r.status == status) for status in ("pass", "warn", "fail")
    }


def format_text(results: Sequence[CheckResult]) -> str:
    """One line per check: marker, name, what was found and, unless it passed, the fix."""
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for result in results:
        line = f"{result.status.upper()}  {result.name:<{width}}  {result.detail}"
        if result.fix:
            line += f" -> fix: {result.fix}"
        lines.append(line)
    counts = _counts(results)
    lines.append(
        f"\n{counts['pass']} passed, {counts['warn']} warning{'' if counts['warn'] == 1 else 's'}, "
        f"{counts['fail']} failed: "
        + ("not ready to deploy" if failed(results) else "nothing failed")
    )
    return "\n".join(lines)


def format_json(results: Sequence[CheckResult]) -> str:
    """The results as a JSON document for pipelines."""
    return json.dumps(
        {
            "ok": not failed(results),
            "summary": _counts(results),
            "checks": [{**asdict(result), "fix": result.fix or None} for result in results],
        },
        indent=2,
    )


def doctor(
    *,
    as_json: bool = False,
    image_repository: str | None = None,
    image_tag: str | None = None,
    probe: Probe | None = None,
) -> int:
    """Run the checks, print the report and return the exit code (1 when a check failed)."""
    results = run_checks(probe, image_repository=image_repository, image_tag=image_tag)
    print(format_json(results) if as_json else format_text(results))
    return 1 if failed(results) else 0
