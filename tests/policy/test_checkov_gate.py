"""The policy gate: checkov over every synthesized stack, failing on unjustified findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from besu_stack.policy.gate import Finding, find_checkov, judge, run_gate
from besu_stack.policy.suppressions import SUPPRESSIONS, Suppression


def _report(failed: list[tuple[str, str, str]], passed: int = 0) -> dict[str, object]:
    return {
        "check_type": "terraform_json",
        "results": {
            "passed_checks": [
                {"check_id": "CKV_OK", "resource": "x.y", "file_path": "/s/cdk.tf.json"}
            ]
            * passed,
            "failed_checks": [
                {
                    "check_id": c,
                    "resource": r,
                    "file_path": f"/{stack}/cdk.tf.json",
                    "check_name": "n",
                }
                for c, stack, r in failed
            ],
        },
    }


def test_unsuppressed_failure_fails_the_gate() -> None:
    result = judge([_report([("CKV_AWS_1", "net", "aws_s3_bucket.b_1234")])], suppressions=())
    assert not result.ok
    assert result.unaccepted == [Finding("CKV_AWS_1", "n", "net", "aws_s3_bucket.b_1234")]


def test_a_stack_checkov_could_not_parse_fails_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # checkov 3.3.30 logs a parse error and reports nothing for a stack it cannot read (a
    # string such as required_version in the terraform block did that): never a silent pass.
    import besu_stack.policy.gate as gate

    for stack in ("net", "net-state"):
        (tmp_path / "stacks" / stack).mkdir(parents=True)
        (tmp_path / "stacks" / stack / "cdk.tf.json").write_text("{}", encoding="utf-8")
    report = _report([])
    report["results"]["passed_checks"] = [  # type: ignore[index]
        {"check_id": "CKV_OK", "resource": "x.y", "file_path": "/net/cdk.tf.json"}
    ]
    monkeypatch.setattr(gate, "run_checkov", lambda *_: [report])
    result = run_gate(tmp_path, checkov=Path("checkov"), suppressions=())
    assert result.unchecked == ["net-state"] and not result.ok
    assert "UNCHECKED net-state" in result.report()


def test_suppression_is_scoped_to_check_stack_and_resource() -> None:
    s = Suppression("CKV_AWS_1", "aws_s3_bucket.b_*", "reason", stack="*-state")
    result = judge(
        [
            _report(
                [
                    ("CKV_AWS_1", "net-state", "aws_s3_bucket.b_1234"),
                    ("CKV_AWS_1", "net", "aws_s3_bucket.b_1234"),
                    ("CKV_AWS_2", "net-state", "aws_s3_bucket.b_1234"),
                    ("CKV_AWS_1", "net-state", "aws_s3_bucket.other_1"),
                ]
            )
        ],
        suppressions=[s],
    )
    assert len(result.accepted) == 1
    assert len(result.unaccepted) == 3
    assert not result.ok


def test_stale_suppression_fails_the_gate() -> None:
    s = Suppression("CKV_AWS_9", "aws_s3_bucket.gone_*", "reason", stack="*-state")
    result = judge(
        [_report([], passed=1), _report([("CKV_AWS_1", "net-state", "x.y")])],
        suppressions=[s, Suppression("CKV_AWS_1", "x.y", "r")],
    )
    assert result.unused == [s]
    assert not result.ok
    result.strict = False  # besu-stack check on another shape: reported, not failing
    assert result.ok
    assert "unused suppression CKV_AWS_9" in result.report()


def test_every_suppression_has_a_reason_and_a_resource_scope() -> None:
    for s in SUPPRESSIONS:
        assert len(s.reason) > 40, s
        assert s.resource != "*" and "." in s.resource, s


@pytest.mark.policy
@pytest.mark.synth
def test_checkov_passes_every_synthesized_stack(default_outdir: Path) -> None:
    checkov = find_checkov()
    assert checkov is not None, "checkov is missing: `make tools` installs it into .tools/checkov"
    result = run_gate(default_outdir, checkov=checkov)
    assert set(result.stacks) == {"besu", "besu-state"}
    assert result.passed > 0
    assert result.ok, result.report()
