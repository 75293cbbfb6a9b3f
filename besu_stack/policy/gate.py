"""Run checkov over a synthesized ``cdktf.out`` tree and judge its findings.

checkov pins an old boto3, so it lives in its own environment (``make tools`` installs it in
``.tools/checkov``); this module only runs it as a process: no checkov import here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from besu_stack.policy.suppressions import SUPPRESSIONS, Suppression

PROJECT_CHECKOV = Path(__file__).resolve().parents[2] / ".tools" / "checkov" / "bin" / "checkov"


@dataclass(frozen=True)
class Finding:
    """One failed check on one resource of one stack."""

    check_id: str
    check_name: str
    stack: str
    resource: str


@dataclass
class GateResult:
    """Findings split into accepted (with their suppression) and unaccepted, plus counts."""

    passed: int = 0
    accepted: list[tuple[Finding, Suppression]] = field(default_factory=list)
    unaccepted: list[Finding] = field(default_factory=list)
    unused: list[Suppression] = field(default_factory=list)
    stacks: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """Stacks in the output that checkov reported nothing for (it could not parse them)."""

    strict: bool = True
    """Whether stale suppressions fail the gate (the test suite) or only warn (other shapes:
    a suppression for a created VPC's resource matches nothing in an existing-VPC synth)."""

    @property
    def ok(self) -> bool:
        """True when every failed check is suppressed (and, when strict, none is stale)."""
        return not self.unaccepted and not self.unchecked and not (self.strict and self.unused)

    def report(self) -> str:
        """A readable report for terminals and CI logs."""
        lines = [
            f"checkov over {len(self.stacks)} stack(s): {self.passed} passed, "
            f"{len(self.accepted)} accepted (see besu_stack/policy/suppressions.py), "
            f"{len(self.unaccepted)} failed"
        ]
        for f in self.unaccepted:
            lines.append(f"  FAILED {f.check_id} {f.stack}:{f.resource}  {f.check_name}")
        for stack in self.unchecked:
            lines.append(f"  UNCHECKED {stack}: checkov reported no check (it could not parse it)")
        for s in self.unused:
            level = "STALE" if self.strict else "unused"
            lines.append(
                f"  {level} suppression {s.check_id} {s.stack}:{s.resource} matches no finding"
                + ("; remove it" if self.strict else " in this shape")
            )
        lines.append("policy gate: " + ("passed" if self.ok else "FAILED"))
        return "\n".join(lines)

    def as_json(self) -> str:
        """The result as JSON."""
        return json.dumps(
            {
                "ok": self.ok,
                "passed": self.passed,
                "stacks": self.stacks,
                "accepted": [
                    {
                        "check_id": f.check_id,
                        "stack": f.stack,
                        "resource": f.resource,
                        "reason": s.reason,
                    }
                    for f, s in self.accepted
                ],
                "failed": [
                    {
                        "check_id": f.check_id,
                        "stack": f.stack,
                        "resource": f.resource,
                        "check_name": f.check_name,
                    }
                    for f in self.unaccepted
                ],
                "stale_suppressions": [
                    {"check_id": s.check_id, "resource": s.resource} for s in self.unused
                ],
            },
            indent=2,
            sort_keys=True,
        )


def find_checkov() -> Path | None:
    """Checkov from ``$CHECKOV``, the project's tool environment, or ``PATH``."""
    for candidate in (os.environ.get("CHECKOV"), str(PROJECT_CHECKOV), shutil.which("checkov")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def run_checkov(stacks_dir: Path, checkov: Path) -> list[dict[str, object]]:
    """Run checkov (no network: ``--skip-download``) and return its JSON reports."""
    proc = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(stacks_dir),
            "--framework",
            "terraform_json",
            "--skip-download",
            "--output",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(
            f"checkov failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    data = json.loads(proc.stdout)
    return data if isinstance(data, list) else [data]


def judge(
    reports: Sequence[dict[str, object]], suppressions: Sequence[Suppression] = SUPPRESSIONS
) -> GateResult:
    """Split checkov's failed checks into accepted and unaccepted ones."""
    result = GateResult()
    used: set[Suppression] = set()
    stacks: set[str] = set()
    for report in reports:
        results = report.get("results", {})
        assert isinstance(results, dict)
        result.passed += len(results.get("passed_checks", []))
        for check in results.get("passed_checks", []) + results.get("failed_checks", []):
            stacks.add(_stack_of(check["file_path"]))
        for check in results.get("failed_checks", []):
            finding = Finding(
                check_id=check["check_id"],
                check_name=check.get("check_name", ""),
                stack=_stack_of(check["file_path"]),
                resource=check["resource"],
            )
            match = next(
                (
                    s
                    for s in suppressions
                    if s.matches(finding.check_id, finding.stack, finding.resource)
                ),
                None,
            )
            if match is None:
                result.unaccepted.append(finding)
            else:
                used.add(match)
                result.accepted.append((finding, match))
    result.stacks = sorted(stacks)
    # A suppression is stale when its stack was scanned but it matched nothing there.
    result.unused = [
        s
        for s in suppressions
        if s not in used and any(fnmatchcase(stack, s.stack) for stack in result.stacks)
    ]
    return result


def run_gate(
    outdir: Path,
    *,
    checkov: Path,
    suppressions: Sequence[Suppression] = SUPPRESSIONS,
    strict: bool = True,
) -> GateResult:
    """Checkov over ``outdir/stacks`` judged against the suppressions.

    ``strict=False`` reports stale suppressions without failing, for shapes other than the
    default one that the suppression list is kept exact against.
    """
    stacks_dir = outdir / "stacks"
    result = judge(run_checkov(stacks_dir, checkov), suppressions)
    result.strict = strict
    present = sorted(p.parent.name for p in stacks_dir.glob("*/cdk.tf.json"))
    result.unchecked = [stack for stack in present if stack not in result.stacks]
    return result


def _stack_of(file_path: str) -> str:
    # checkov reports paths relative to the scanned directory: /<stack>/cdk.tf.json
    parts = [p for p in Path(file_path).parts if p not in ("/", "")]
    return parts[-2] if len(parts) >= 2 else parts[0]
