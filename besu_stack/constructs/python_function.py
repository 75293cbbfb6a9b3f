"""A Python Lambda function packaged from ``lambda_src/`` with its role and log group."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionDeadLetterConfig,
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from constructs import Construct

from besu_stack.constructs.iam import Statement, policy_document
from besu_stack.constructs.platform import Platform
from besu_stack.errors import MissingSetupError
from besu_stack.lambda_package import DEFAULT_SHARED_PACKAGES, build_lambda_zip
from besu_stack.lambda_paths import DEFAULT_WHEELS_DIR, LAMBDA_SOURCE

LAMBDA_RUNTIME = "python3.12"
LAMBDA_ARCHITECTURE = "arm64"

_staging: Path | None = None


class LambdaDependenciesMissing(MissingSetupError):
    """The Lambda's third-party wheels were not downloaded (a setup step, never the synth)."""


def _staging_dir() -> Path:
    """A per-process directory for built zips; cdktf copies them into the output on synth."""
    global _staging
    if _staging is None:
        _staging = Path(tempfile.mkdtemp(prefix="besu-stack-lambda-"))
        atexit.register(shutil.rmtree, _staging, ignore_errors=True)
    return _staging


ZIP_CACHE_DIR = DEFAULT_WHEELS_DIR.parent / "lambda-zips"
"""Built packages, addressed by a digest of everything that goes into them: building a package
with its wheels takes seconds, so a synth reuses one whose inputs have not changed."""

_built: dict[tuple[str, bool, Path], tuple[Path, str]] = {}


def _inputs_digest(function: str, wheels: list[Path]) -> str:
    """SHA-256 over the names and bytes of every file a package is built from."""
    digest = hashlib.sha256()
    # The same sources build_lambda_zip reads: the function, the shared packages, the wheels.
    root = LAMBDA_SOURCE.parent
    sources = [LAMBDA_SOURCE / function, *(root / shared for shared in DEFAULT_SHARED_PACKAGES)]
    files = [
        p
        for source in sources
        for p in ([source] if source.is_file() else sorted(source.rglob("*")))
        if p.is_file() and "__pycache__" not in p.parts
    ]
    files += wheels
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_function_zip(
    function: str, *, with_wheels: bool, wheels_dir: Path = DEFAULT_WHEELS_DIR
) -> tuple[Path, str]:
    """Build ``lambda_src/<function>`` into a deterministic zip; return its path and SHA-256.

    The zip is reused from :data:`ZIP_CACHE_DIR` when nothing it is built from has changed
    (same bytes either way: the build is deterministic).
    """
    key = (function, with_wheels, wheels_dir)
    if key in _built:
        return _built[key]
    wheels = sorted(wheels_dir.glob("*.whl")) if with_wheels else []
    if with_wheels and not wheels:
        raise LambdaDependenciesMissing(
            f"the Lambda dependencies are not in {wheels_dir}: run `make setup` "
            "(or `besu-stack lambda-wheels`) once; synthesis itself never downloads anything"
        )
    cached = ZIP_CACHE_DIR / f"{function}-{_inputs_digest(function, wheels)[:24]}.zip"
    if cached.is_file():
        result = cached, hashlib.sha256(cached.read_bytes()).hexdigest()
    else:
        try:
            ZIP_CACHE_DIR.mkdir(parents=True, exist_ok=True)
            output = cached
        except OSError:  # a read-only installation: build into the per-process staging dir
            output = _staging_dir() / f"{function}.zip"
        digest = build_lambda_zip(
            LAMBDA_SOURCE / function, output, wheels_dir=wheels_dir if with_wheels else None
        )
        result = output, digest
    _built[key] = result
    return result


class PythonFunction(Construct):
    """A Lambda function (Python 3.12, arm64) built from ``lambda_src/<function>``.

    Creates the execution role with only ``statements`` plus the AWS-managed policies the
    function needs (X-Ray trace segments; for a VPC function also its network interfaces: both
    require ``*``), a log group ``/aws/lambda/<name>`` encrypted with ``kms_key_arn`` and kept
    ``log_retention_days``, and the function itself: in the given subnets and security groups
    (or, when ``subnet_ids`` is ``None``, outside any VPC: Lambda's own network reaches the
    public AWS endpoints, https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html),
    tracing active, environment encrypted with the KMS key, reserved concurrency as given.

    Attributes: ``function`` (the ``LambdaFunction``), ``function_name``, ``function_arn``,
    ``role_arn``, ``role_name``, ``source_code_hash``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function_name: str,
        source: str,
        description: str,
        platform: Platform,
        statements: Sequence[Statement],
        environment: Mapping[str, str],
        kms_key_arn: str,
        log_retention_days: float,
        subnet_ids: Sequence[str] | None,
        security_group_ids: Sequence[str] = (),
        with_wheels: bool = True,
        handler: str = "handler",
        dead_letter_queue_arn: str | None = None,
        timeout_seconds: int = 60,
        memory_mb: int = 256,
        reserved_concurrency: int = 1,
    ) -> None:
        super().__init__(scope, id)
        zip_path, digest = build_function_zip(source, with_wheels=with_wheels)
        asset = TerraformAsset(self, "code", path=str(zip_path), type=AssetType.FILE)
        self.log_group = CloudwatchLogGroup(
            self,
            "log_group",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=log_retention_days,
            kms_key_id=kms_key_arn,
        )
        self.role = IamRole(
            self,
            "role",
            name=function_name,
            description=description,
            assume_role_policy=policy_document(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": platform.account_id}},
                    }
                ]
            ),
        )
        logs: Statement = {
            "Sid": "WriteOwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{self.log_group.arn}:*",
        }
        extra: list[Statement] = []
        if dead_letter_queue_arn is not None:
            extra.append(
                {
                    "Sid": "DeadLetterQueue",
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": dead_letter_queue_arn,
                }
            )
        IamRolePolicy(
            self,
            "policy",
            role=self.role.id,
            name=function_name,
            policy=policy_document([logs, *statements, *extra]),
        )
        managed_policies = ["AWSXRayDaemonWriteAccess"]
        if subnet_ids is not None:
            managed_policies.insert(0, "service-role/AWSLambdaVPCAccessExecutionRole")
        for managed in managed_policies:
            IamRolePolicyAttachment(
                self,
                managed.rsplit("/", 1)[-1],
                role=self.role.name,
                policy_arn=f"arn:{platform.partition}:iam::aws:policy/{managed}",
            )
        self.function = LambdaFunction(
            self,
            "function",
            function_name=function_name,
            description=description,
            role=self.role.arn,
            runtime=LAMBDA_RUNTIME,
            architectures=[LAMBDA_ARCHITECTURE],
            handler=f"{source}.{handler}.handler",
            filename=asset.path,
            source_code_hash=_base64_sha256(digest),
            timeout=timeout_seconds,
            memory_size=memory_mb,
            reserved_concurrent_executions=reserved_concurrency,
            kms_key_arn=kms_key_arn,
            environment=LambdaFunctionEnvironment(variables=dict(environment)),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            vpc_config=(
                LambdaFunctionVpcConfig(
                    subnet_ids=list(subnet_ids), security_group_ids=list(security_group_ids)
                )
                if subnet_ids is not None
                else None
            ),
            dead_letter_config=(
                LambdaFunctionDeadLetterConfig(target_arn=dead_letter_queue_arn)
                if dead_letter_queue_arn is not None
                else None
            ),
            depends_on=[self.log_group],
        )
        self.function_name: str = self.function.function_name
        self.function_arn: str = self.function.arn
        self.role_arn: str = self.role.arn
        self.role_name: str = self.role.name
        self.source_code_hash: str = digest


def _base64_sha256(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def lambda_environment(**values: Any) -> dict[str, str]:
    """Environment variables as strings (tokens are kept as they are)."""
    return {key: value if isinstance(value, str) else str(value) for key, value in values.items()}
