"""A Python Lambda function packaged from ``lambda_src/`` with its role and log group."""

from __future__ import annotations

import atexit
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
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from constructs import Construct

from besu_stack.constructs.iam import Statement, policy_document
from besu_stack.constructs.platform import Platform
from besu_stack.errors import MissingSetupError
from besu_stack.lambda_package import build_lambda_zip
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


def build_function_zip(
    function: str, *, with_wheels: bool, wheels_dir: Path = DEFAULT_WHEELS_DIR
) -> tuple[Path, str]:
    """Build ``lambda_src/<function>`` into a deterministic zip; return its path and SHA-256."""
    if with_wheels and not any(wheels_dir.glob("*.whl")):
        raise LambdaDependenciesMissing(
            f"the Lambda dependencies are not in {wheels_dir}: run `make setup` "
            "(or `besu-stack lambda-wheels`) once; synthesis itself never downloads anything"
        )
    output = _staging_dir() / f"{function}.zip"
    digest = build_lambda_zip(
        LAMBDA_SOURCE / function, output, wheels_dir=wheels_dir if with_wheels else None
    )
    return output, digest


class PythonFunction(Construct):
    """A Lambda function (Python 3.12, arm64) built from ``lambda_src/<function>``.

    Creates the execution role with only ``statements`` plus the AWS-managed policies a VPC
    function with X-Ray needs (network interfaces, trace segments: both require ``*``), a log
    group ``/aws/lambda/<name>`` encrypted with ``kms_key_arn`` and kept
    ``log_retention_days``, and the function itself: in the given subnets and security group,
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
        subnet_ids: Sequence[str],
        security_group_ids: Sequence[str],
        with_wheels: bool = True,
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
        IamRolePolicy(
            self,
            "policy",
            role=self.role.id,
            name=function_name,
            policy=policy_document([logs, *statements]),
        )
        for managed in ("service-role/AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess"):
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
            handler=f"{source}.handler.handler",
            filename=asset.path,
            source_code_hash=_base64_sha256(digest),
            timeout=timeout_seconds,
            memory_size=memory_mb,
            reserved_concurrent_executions=reserved_concurrency,
            kms_key_arn=kms_key_arn,
            environment=LambdaFunctionEnvironment(variables=dict(environment)),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            vpc_config=LambdaFunctionVpcConfig(
                subnet_ids=list(subnet_ids), security_group_ids=list(security_group_ids)
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
