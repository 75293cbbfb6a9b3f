"""A Python Lambda function packaged from ``lambda_src/`` with its role and log group."""

from __future__ import annotations

import atexit
import hashlib
import inspect
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cdktf import AssetType, TerraformAsset, TerraformStack
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionDeadLetterConfig,
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from constructs import Construct

from besu_stack.constructs.dead_letter_queue import DeadLetterQueue
from besu_stack.constructs.iam import Role, Statement, service_trust_policy
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey
from besu_stack.lambda_package import (
    LambdaDependenciesMissing,
    build_lambda_zip,
    function_package_inputs,
    inputs_digest,
    package_inputs,
    package_service_models,
    service_models_key,
)

__all__ = ["LambdaDependenciesMissing", "PythonFunction", "build_function_zip"]

LAMBDA_RUNTIME = "python3.12"
LAMBDA_ARCHITECTURE = "arm64"

# Memory of each package's functions, from a measurement. Lambda gives CPU in proportion to
# memory, one vCPU at 1,769 MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html),
# and a cold first invocation is mostly CPU: benchmarks/lambda_first_invocation.py measured each
# function's whole first invocation (a fresh process: interpreter, imports, clients, the run,
# against moto) at 0.37-0.42 CPU-s on one x86_64 core here (median of 5; 0.67-0.93 s before the
# trimmed service models and per-handler clients), so about x 1769/M at M MB: about 1.4 s at 512.
# Peak resident memory is under 40 MiB (benchmarks/lambda_cold_start.py), so CPU decides.
# * lifecycle (512): nearly every run of the hooks is cold; ~1.3 s of CPU at 512 MB, less than
#   the ~1.6 s the previous 1024 MB took, and the rest of a run waits on AWS (volume states, the
#   SSM unmount, the drain), which memory does not shorten and 1024 MB would bill twice over.
# * keygen (512): once per apply, always cold: ~1.4 s at 512 (~1.2 s before at 1024).
# * health (512, unchanged): warm almost always (every minute), and its RPC timeouts must time
#   the nodes, not a CPU starved among its concurrent checks; a cold run's CPU is now ~1.4 s of
#   its 50 s budget (~2.3 s before).
# These are estimates: Graviton's speed relative to the measuring core, and the CPU Lambda gives
# the init phase, are not measured here.
MEMORY_MB = {"lifecycle": 512, "keygen": 512, "health": 512}

_staging: Path | None = None


def _staging_dir() -> Path:
    """A per-process directory for built zips; cdktf copies them into the output on synth."""
    global _staging
    if _staging is None:
        _staging = Path(tempfile.mkdtemp(prefix="besu-stack-lambda-"))
        atexit.register(shutil.rmtree, _staging, ignore_errors=True)
    return _staging


def zip_cache_dir() -> Path:
    """Built packages, addressed by a digest of everything that goes into them.

    ``$XDG_CACHE_HOME/besu-stack/lambda-zips`` (default ``~/.cache/...``): the user's own cache,
    like pip's. Building the key package takes seconds (its native wheels are recompressed), so
    a synth reuses a package whose inputs have not changed; the bytes are the same either way.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "besu-stack" / "lambda-zips"


_built: dict[tuple[str, str], tuple[Path, str]] = {}
_BUILDER = Path(inspect.getfile(build_lambda_zip))


def build_function_zip(function: str, arch: str = LAMBDA_ARCHITECTURE) -> tuple[Path, str]:
    """Build ``lambda_src/<function>`` into a deterministic zip; return its path and SHA-256.

    What goes in is ``LAMBDA_PACKAGES[function]``. The zip is reused from
    :func:`zip_cache_dir` when nothing it is built from (nor the code that builds it) has
    changed; it is written as ``<digest>/<function>.zip`` so the file name in the synthesized
    output is ``<function>.zip`` wherever besu-stack is installed.
    """
    key = (function, arch)
    if key in _built:
        return _built[key]
    function_dir, shared, wheels = function_package_inputs(function, arch)
    inputs = package_inputs(function_dir, shared_packages=shared, wheels=wheels)
    digest_key = inputs_digest([*inputs, ("builder", _BUILDER)], service_models_key(function))[:32]
    cached = zip_cache_dir() / digest_key / f"{function}.zip"
    if cached.is_file():
        result = cached, hashlib.sha256(cached.read_bytes()).hexdigest()
    else:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            # A name of this process's own: synths running side by side may build the same one.
            output = cached.parent / f".{function}.{os.getpid()}.partial"
        except OSError:  # no writable cache: build into the per-process staging dir
            output = _staging_dir() / digest_key / f"{function}.zip"
        digest = build_lambda_zip(
            function_dir,
            output,
            shared_packages=shared,
            wheels=wheels,
            generated=package_service_models(function),
        )
        if output.name.endswith(".partial"):
            output = output.replace(cached)
        result = output, digest
    _built[key] = result
    return result


def _package_asset(scope: Construct, function: str) -> tuple[TerraformAsset, str]:
    """The stack's one asset for a package: functions sharing a package share its file."""
    stack = TerraformStack.of(scope)
    asset_id = f"lambda_package_{function}"
    existing = stack.node.try_find_child(asset_id)
    zip_path, digest = build_function_zip(function)
    if isinstance(existing, TerraformAsset):
        return existing, digest
    return TerraformAsset(stack, asset_id, path=str(zip_path), type=AssetType.FILE), digest


class PythonFunction(Construct):
    """A Lambda function (Python 3.12, arm64) built from ``lambda_src/<source>``.

    Its deployment package holds what ``LAMBDA_PACKAGES[source]`` lists
    (:mod:`besu_stack.lambda_package`); functions of one stack built from the same package share
    one asset, so the synthesized output and ``modules/`` store each package once.

    Creates:

    * the execution :class:`~besu_stack.constructs.iam.Role` (``role``), trusted by Lambda for
      this account only, whose one inline policy starts with what every function needs and
      grows with each grant other constructs give it: writing its own log group, sending trace
      segments (X-Ray's two actions, which have no resource-level permissions), and, for a
      function in a VPC, managing its network interfaces in this account (the actions Lambda's
      VPC guide lists; no AWS-managed policy, so no ``logs:CreateLogGroup`` on ``*``);
    * a log group ``/aws/lambda/<name>`` encrypted with ``key`` and kept ``log_retention_days``;
    * the function: in the given subnets and security groups (or, when ``subnet_ids`` is
      ``None``, outside any VPC: Lambda's own network reaches the public AWS endpoints,
      https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html), tracing
      active, environment encrypted with ``key``, reserved concurrency as given, memory as
      measured for its package (:data:`MEMORY_MB`) unless ``memory_mb`` is given, and, with a
      ``dead_letter_queue``, that queue for events it could not process (the role may send to
      it).

    Attributes: ``function`` (the ``LambdaFunction``), ``role`` (a ``Role``: grant to it),
    ``function_name``, ``function_arn``, ``role_arn``, ``role_name``, ``source_code_hash``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        function_name: str,
        source: str,
        description: str,
        environment: Mapping[str, str],
        key: EncryptionKey,
        log_retention_days: float,
        subnet_ids: Sequence[str] | None,
        security_group_ids: Sequence[str] = (),
        handler: str = "handler",
        dead_letter_queue: DeadLetterQueue | None = None,
        timeout_seconds: int = 60,
        memory_mb: int | None = None,
        reserved_concurrency: int = 1,
    ) -> None:
        super().__init__(scope, id)
        asset, digest = _package_asset(self, source)
        self.log_group = CloudwatchLogGroup(
            self,
            "log_group",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=log_retention_days,
            kms_key_id=key.key_arn,
        )
        self.role = Role(
            self,
            "role",
            name=function_name,
            description=description,
            assume_role_policy=service_trust_policy(
                "lambda.amazonaws.com",
                condition={"StringEquals": {"aws:SourceAccount": identity.platform.account_id}},
            ),
            policy_id="policy",
        )
        self.role.add_statements(
            [
                {
                    "Sid": "WriteOwnLogGroup",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"{self.log_group.arn}:*",
                },
                {
                    # Active tracing: Lambda sends the segments with the execution role
                    # (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html, "Execution
                    # role permissions"); neither action has resource-level permissions.
                    "Sid": "SendTraceSegmentsNoResourceLevelPermissions",
                    "Effect": "Allow",
                    "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                    "Resource": "*",
                },
            ]
        )
        if subnet_ids is not None:
            self.role.add_statements(vpc_network_interface_statements(identity))
        if dead_letter_queue is not None:
            dead_letter_queue.grant_send(self.role)
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
            memory_size=MEMORY_MB[source] if memory_mb is None else memory_mb,
            reserved_concurrent_executions=reserved_concurrency,
            # Lambda decrypts the environment with a grant it creates on the key for the
            # execution role when the function is created, so the role needs no key statement
            # (terraform-provider-aws 5.100.0 docs, resources/lambda_function, the
            # KMSAccessDeniedException note).
            kms_key_arn=key.key_arn,
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
                LambdaFunctionDeadLetterConfig(target_arn=dead_letter_queue.queue_arn)
                if dead_letter_queue is not None
                else None
            ),
            depends_on=[self.log_group],
        )
        self.function_name: str = self.function.function_name
        self.function_arn: str = self.function.arn
        self.role_arn: str = self.role.arn
        self.role_name: str = self.role.name
        self.source_code_hash: str = digest


LAMBDA_VPC_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html"


def vpc_network_interface_statements(identity: NetworkIdentity) -> list[Statement]:
    """What Lambda does with a VPC function's role: its network interfaces, in this account.

    The actions of Lambda's VPC guide ("Execution role permissions", ``LAMBDA_VPC_DOC``):
    ``DescribeNetworkInterfaces`` (and ``DescribeSubnets``) work only on ``*``; the others are
    limited to this account and region's interfaces, subnets and security groups.
    """
    interfaces = identity.arn("ec2", "network-interface/*")
    return [
        {
            "Sid": "CreateNetworkInterfacesInThisAccount",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            "Resource": [
                interfaces,
                identity.arn("ec2", "security-group/*"),
                identity.arn("ec2", "subnet/*"),
            ],
        },
        {
            "Sid": "ManageNetworkInterfacesOfThisAccount",
            "Effect": "Allow",
            "Action": [
                "ec2:AssignPrivateIpAddresses",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": interfaces,
        },
        {
            "Sid": "DescribeNetworkNoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            "Resource": "*",
        },
    ]


def _base64_sha256(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def lambda_environment(**values: Any) -> dict[str, str]:
    """Environment variables as strings (tokens are kept as they are)."""
    return {key: value if isinstance(value, str) else str(value) for key, value in values.items()}
