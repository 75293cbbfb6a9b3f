"""The policy gate's IAM linter: parliament over every synthesized policy document.

Same rule as checkov's gate: zero findings that ``LINT_SUPPRESSIONS`` does not accept with a
reason, and no stale acceptance. parliament comes from its tool environment (``make tools``) or
``$PARLIAMENT``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from besu_stack.policy.iam_lint import (
    LintFinding,
    LintSuppression,
    find_parliament,
    lint_document,
    placeholder_document,
    policy_documents,
    run_lint,
)
from besu_stack.policy.suppressions import LINT_SUPPRESSIONS

pytestmark = pytest.mark.policy


def _parliament() -> Path:
    parliament = find_parliament()
    assert parliament is not None, (
        "parliament is missing: `make tools` installs it into .tools/parliament"
    )
    return parliament


@pytest.mark.synth
def test_parliament_passes_every_synthesized_policy(default_outdir: Path) -> None:
    result = run_lint(default_outdir, parliament=_parliament())
    assert result.documents >= 30
    assert result.ok, result.report()


@pytest.mark.synth
def test_every_policy_document_of_the_stacks_is_linted(default_outdir: Path) -> None:
    linted = {
        (d.stack, d.resource.split(".")[0]) for d in policy_documents(default_outdir / "stacks")
    }
    for kind in (
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_kms_key",
        "aws_secretsmanager_secret_policy",
        "aws_s3_bucket_policy",
        "aws_sns_topic_policy",
        "aws_vpc_endpoint",
    ):
        assert ("besu", kind) in linted, kind
    documents = list(policy_documents(default_outdir / "stacks"))
    assert not any("${" in d.text for d in documents)


def test_the_linter_catches_an_overbroad_or_wrong_policy() -> None:
    """An oracle we did not write: parliament flags a typo'd action and a mismatched resource."""
    parliament = _parliament()

    def issues(action: str, resource: str) -> set[str]:
        document = (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            f'"Action": "{action}", "Resource": "{resource}"}}]}}'
        )
        return {f["issue"] for f in lint_document(document, parliament)}

    assert "UNKNOWN_ACTION" in issues("s3:GetObjekt", "arn:aws:s3:::bucket/key")
    assert "RESOURCE_MISMATCH" in issues("ecs:RegisterContainerInstance", "arn:aws:s3:::bucket/key")
    assert "RESOURCE_STAR" in issues("secretsmanager:GetSecretValue", "*")
    assert issues("ecs:DiscoverPollEndpoint", "*") == set()


def test_every_accepted_finding_has_a_reason() -> None:
    for suppression in LINT_SUPPRESSIONS:
        assert len(suppression.reason) > 40, suppression


def test_acceptance_is_scoped_to_issue_and_resource() -> None:
    entry = LintSuppression("RESOURCE_STAR", "aws_kms_key.*", "why")
    on_key = LintFinding("RESOURCE_STAR", "LOW", "[]", "besu", "aws_kms_key.k_1")
    on_role = LintFinding("RESOURCE_STAR", "LOW", "[]", "besu", "aws_iam_role_policy.p_1")
    assert entry.matches(on_key)
    assert not entry.matches(on_role)


def test_references_become_values_of_the_documented_shape() -> None:
    text = (
        '{"Resource": "${aws_kms_key.k_1.arn}", "Account": '
        '"${data.aws_caller_identity.c.account_id}", "Name": "${aws_iam_role.r.name}"}'
    )
    assert placeholder_document(text) == (
        '{"Resource": "arn:aws:kms:eu-west-1:123456789012:key/k_1", '
        '"Account": "123456789012", "Name": "r"}'
    )
