"""Lint every IAM policy document of a synthesized ``cdktf.out`` tree with parliament.

parliament (https://github.com/duo-labs/parliament, from PyPI) checks policy documents against
the IAM service definitions: unknown actions, resources that do not fit an action, condition keys
an action does not support, malformed statements, ``*`` resources. It lives in its own tool
environment like checkov (``make tools`` installs it in ``.tools/parliament``) and runs as a
process; nothing here imports it.

Every policy document the stacks hold is linted: identity policies, trust policies, and the
resource policies of keys, secrets, buckets, topics, queues, log groups and VPC endpoints. The
documents hold Terraform references; :func:`placeholder_document` replaces each with a value of
the documented shape (an ARN of the referenced resource's type), so parliament judges the
statements, not the tokens. The same rule as checkov's gate applies: every finding must be
accepted in ``besu_stack/policy/suppressions.py`` (``LINT_SUPPRESSIONS``) with its reason, and an
acceptance that matches nothing is stale.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

PROJECT_PARLIAMENT = (
    Path(__file__).resolve().parents[2] / ".tools" / "parliament" / "bin" / "parliament"
)

POLICY_ATTRIBUTES: Mapping[str, str] = {
    "aws_iam_role": "assume_role_policy",
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_kms_key": "policy",
    "aws_secretsmanager_secret_policy": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_sqs_queue_policy": "policy",
    "aws_sqs_queue_redrive_allow_policy": "redrive_allow_policy",
    "aws_cloudwatch_log_resource_policy": "policy_document",
    "aws_vpc_endpoint": "policy",
}
"""Where a policy document lives, by resource type."""

ACCOUNT = "123456789012"
REGION = "eu-west-1"

_ARN_SHAPES: Mapping[str, str] = {
    "aws_iam_role": "arn:aws:iam::{account}:role/{name}",
    "aws_kms_key": "arn:aws:kms:{region}:{account}:key/{name}",
    "aws_secretsmanager_secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}",
    "aws_s3_bucket": "arn:aws:s3:::{name}",
    "aws_sns_topic": "arn:aws:sns:{region}:{account}:{name}",
    "aws_sqs_queue": "arn:aws:sqs:{region}:{account}:{name}",
    "aws_dynamodb_table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "aws_ecs_cluster": "arn:aws:ecs:{region}:{account}:cluster/{name}",
    "aws_cloudwatch_log_group": "arn:aws:logs:{region}:{account}:log-group:{name}",
    "aws_lambda_function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "aws_autoscaling_group": (
        "arn:aws:autoscaling:{region}:{account}:autoScalingGroup:uuid:autoScalingGroupName/{name}"
    ),
    "aws_route53_zone": "arn:aws:route53:::hostedzone/{name}",
    "aws_cloudwatch_event_rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "aws_ebs_volume": "arn:aws:ec2:{region}:{account}:volume/{name}",
    "aws_vpc_endpoint_service": "arn:aws:ec2:{region}:{account}:vpc-endpoint-service/{name}",
    "aws_lb": "arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/net/{name}/0",
}
_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
_RESOURCE_ATTRIBUTE = re.compile(r"^([a-z0-9_]+)\.([A-Za-z0-9_]+)\.([a-z_]+)$")


def placeholder_document(text: str) -> str:
    """``text`` with every Terraform reference replaced by a value of the documented shape.

    Account, region and partition data sources become a fixed account, region and ``aws``; an
    ``arn`` attribute an ARN of the resource's type (``_ARN_SHAPES``); any other reference the
    referenced resource's logical id (a plain name).
    """

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("data.aws_caller_identity."):
            return ACCOUNT
        if expression.startswith("data.aws_region."):
            return REGION
        if expression.startswith("data.aws_partition."):
            return "aws"
        found = _RESOURCE_ATTRIBUTE.match(expression)
        if found is None:
            return "expression"
        kind, name, attribute = found.groups()
        if attribute == "arn" and kind in _ARN_SHAPES:
            return _ARN_SHAPES[kind].format(account=ACCOUNT, region=REGION, name=name)
        if attribute == "arn":
            return f"arn:aws:unknown:{REGION}:{ACCOUNT}:{name}"
        return name

    return _REFERENCE.sub(replace, text)


@dataclass(frozen=True)
class PolicyDocument:
    """One policy document of a stack: where it lives (``<type>.<logical id>``) and its text."""

    stack: str
    resource: str
    text: str


def policy_documents(stacks_dir: Path) -> Iterator[PolicyDocument]:
    """Every policy document in ``stacks_dir/<stack>/cdk.tf.json``, references replaced.

    A ``for_each`` resource whose policy is ``${local.<map>[each.value]}`` contributes each
    value of that local map (the gateway endpoints' policies).
    """
    for path in sorted(stacks_dir.glob("*/cdk.tf.json")):
        stack_name = path.parent.name
        stack = json.loads(path.read_text(encoding="utf-8"))
        for kind, attribute in POLICY_ATTRIBUTES.items():
            for name, body in sorted(stack.get("resource", {}).get(kind, {}).items()):
                value = body.get(attribute)
                if not isinstance(value, str) or not value:
                    continue
                for text in _documents_of(stack, value):
                    yield PolicyDocument(stack_name, f"{kind}.{name}", placeholder_document(text))


def _documents_of(stack: Mapping[str, Any], value: str) -> list[str]:
    local = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\[each\.value\]\}", value)
    if local:
        mapping = stack.get("locals", {}).get(local.group(1), {})
        return [str(v) for _, v in sorted(mapping.items())]
    return [value]


@dataclass(frozen=True)
class LintFinding:
    """One parliament finding on one policy document."""

    issue: str
    severity: str
    detail: str
    stack: str
    resource: str


@dataclass(frozen=True)
class LintSuppression:
    """An accepted parliament finding: its issue code on matching resources, and why."""

    issue: str
    resource: str
    reason: str
    detail: str = "*"
    stack: str = "*"

    def matches(self, finding: LintFinding) -> bool:
        """Whether this entry covers ``finding`` (glob patterns on resource, detail, stack)."""
        return (
            finding.issue == self.issue
            and fnmatchcase(finding.resource, self.resource)
            and fnmatchcase(finding.detail, self.detail)
            and fnmatchcase(finding.stack, self.stack)
        )


@dataclass
class LintResult:
    """Findings split into accepted and unaccepted, plus stale acceptances."""

    documents: int = 0
    accepted: list[tuple[LintFinding, LintSuppression]] = field(default_factory=list)
    unaccepted: list[LintFinding] = field(default_factory=list)
    unused: list[LintSuppression] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every finding is accepted and no acceptance is stale."""
        return not self.unaccepted and not self.unused

    def report(self) -> str:
        """A readable report."""
        lines = [
            f"parliament over {self.documents} policy document(s): {len(self.accepted)} "
            f"accepted (see besu_stack/policy/suppressions.py), {len(self.unaccepted)} failed"
        ]
        for f in self.unaccepted:
            lines.append(f"  FAILED {f.issue} {f.stack}:{f.resource}  {f.detail}")
        for s in self.unused:
            lines.append(f"  STALE lint suppression {s.issue} {s.resource} matches no finding")
        lines.append("IAM lint: " + ("passed" if self.ok else "FAILED"))
        return "\n".join(lines)


def find_parliament() -> Path | None:
    """Find parliament: from ``$PARLIAMENT``, the project's tool environment, or ``PATH``."""
    for candidate in (
        os.environ.get("PARLIAMENT"),
        str(PROJECT_PARLIAMENT),
        shutil.which("parliament"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def lint_document(text: str, parliament: Path) -> list[dict[str, Any]]:
    """The parliament findings (one JSON object per line of ``--json`` output) for one document."""
    proc = subprocess.run(
        [str(parliament), "--string", text, "--json", "--minimum_severity", "LOW"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"parliament failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def run_lint(
    outdir: Path, *, parliament: Path, suppressions: Sequence[LintSuppression] | None = None
) -> LintResult:
    """Run parliament over every policy document of ``outdir/stacks``, judged by the suppressions."""
    if suppressions is None:
        from besu_stack.policy.suppressions import LINT_SUPPRESSIONS

        suppressions = LINT_SUPPRESSIONS
    result = LintResult()
    used: set[LintSuppression] = set()
    for document in policy_documents(outdir / "stacks"):
        result.documents += 1
        for raw in lint_document(document.text, parliament):
            finding = LintFinding(
                issue=str(raw.get("issue", "")),
                severity=str(raw.get("severity", "")),
                detail=json.dumps(raw.get("detail"), sort_keys=True),
                stack=document.stack,
                resource=document.resource,
            )
            match = next((s for s in suppressions if s.matches(finding)), None)
            if match is None:
                result.unaccepted.append(finding)
            else:
                used.add(match)
                result.accepted.append((finding, match))
    result.unused = [s for s in suppressions if s not in used]
    return result
