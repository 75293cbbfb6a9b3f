"""`besu-stack doctor`: each check against fakes at the process and AWS boundary, and a real run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from besu_stack import doctor as doctor_module
from besu_stack.cli import main
from besu_stack.doctor import (
    CheckResult,
    Probe,
    check_besu_image,
    format_json,
    format_text,
    run_checks,
    variable_default,
)
from besu_stack.lambda_package import pinned_requirements

GOOD_COMMANDS: dict[tuple[str, ...], tuple[int, str, str]] = {
    ("node", "--version"): (0, "v22.23.3\n", ""),
    ("cdktf", "--version"): (0, "0.21.0\n", ""),
    ("terraform", "version", "-json"): (0, json.dumps({"terraform_version": "1.11.4"}), ""),
    ("terraform", "--version"): (0, "Terraform v1.11.4\non linux_amd64\n", ""),
}


class FakeCommands:
    """run_command at the process boundary: a table of argv -> result; absent -> missing."""

    def __init__(self, table: dict[tuple[str, ...], tuple[int, str, str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str] | None:
        self.calls.append(tuple(argv))
        return self.table.get(tuple(argv))


class FakeClient:
    def __init__(self, name: str, session: FakeSession, config: Any) -> None:
        self.name = name
        self.session = session
        self.config = config

    def get_caller_identity(self) -> dict[str, str]:
        if self.session.sts_error is not None:
            raise self.session.sts_error
        return {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/dev"}

    def describe_images(self, **kwargs: Any) -> dict[str, Any]:
        self.session.ecr_calls.append(kwargs)
        if self.session.ecr_error is not None:
            raise self.session.ecr_error
        return {"imageDetails": [{"imageTags": ["25.11.0"]}]}


class FakeSession:
    def __init__(
        self,
        *,
        credentials: object | None = object(),
        region_name: str | None = "eu-west-1",
        sts_error: Exception | None = None,
        ecr_error: Exception | None = None,
    ) -> None:
        self.credentials = credentials
        self.region_name = region_name
        self.sts_error = sts_error
        self.ecr_error = ecr_error
        self.clients: list[FakeClient] = []
        self.ecr_calls: list[dict[str, Any]] = []

    def get_credentials(self) -> object | None:
        return self.credentials

    def client(self, name: str, region_name: str | None = None, config: Any = None) -> FakeClient:
        client = FakeClient(name, self, config)
        self.clients.append(client)
        return client


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "the message"}}, operation)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    directory = tmp_path / "wheels"
    directory.mkdir()
    for name, version in pinned_requirements().items():
        (directory / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(b"")
    return directory


def make_probe(
    tmp_path: Path,
    wheels_dir: Path,
    *,
    commands: dict[tuple[str, ...], tuple[int, str, str]] | None = None,
    session: FakeSession | None = None,
    environ: dict[str, str] | None = None,
    progress: list[str] | None = None,
) -> Probe:
    messages = progress if progress is not None else []
    fake_session = session or FakeSession()
    return Probe(
        run_command=FakeCommands(GOOD_COMMANDS if commands is None else commands),
        session_factory=lambda: fake_session,
        environ=environ or {},
        version_info=(3, 12, 3),
        project_node=tmp_path / "absent" / "node",
        project_cdktf=tmp_path / "absent" / "cdktf",
        find_checkov=lambda: Path("/opt/checkov/bin/checkov"),
        wheels_dir=lambda: wheels_dir,
        progress=messages.append,
    )


def by_name(results: Sequence[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def without(*argvs: tuple[str, ...]) -> dict[tuple[str, ...], tuple[int, str, str]]:
    return {argv: result for argv, result in GOOD_COMMANDS.items() if argv not in argvs}


def with_(
    **changes: tuple[tuple[str, ...], tuple[int, str, str]],
) -> dict[tuple[str, ...], tuple[int, str, str]]:
    table = dict(GOOD_COMMANDS)
    for argv, result in changes.values():
        table[argv] = result
    return table


# --- all good ---------------------------------------------------------------------------------


def test_everything_present_passes_and_checks_the_image(tmp_path: Path, wheels: Path) -> None:
    session = FakeSession()
    progress: list[str] = []
    results = run_checks(make_probe(tmp_path, wheels, session=session, progress=progress))
    assert [r.name for r in results] == [
        "python",
        "node",
        "cdktf-cli",
        "terraform",
        "checkov",
        "lambda-wheels",
        "aws-credentials",
        "besu-image",
    ]
    assert {r.status for r in results} == {"pass"}, results
    checks = by_name(results)
    assert checks["aws-credentials"].detail == "account 123456789012, region eu-west-1"
    assert (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/besu:25.11.0" in checks["besu-image"].detail
    )
    assert session.ecr_calls == [
        {"repositoryName": "besu", "imageIds": [{"imageTag": variable_default("besu_image_tag")}]}
    ]
    # Short timeouts and a single attempt on every AWS call: doctor must not hang.
    for client in session.clients:
        assert client.config.connect_timeout == 3 and client.config.read_timeout == 5
        assert client.config.retries == {"max_attempts": 1}
    # Every slow step is announced (on stderr by default) before it runs.
    assert any("Node" in m for m in progress) and any("Terraform" in m for m in progress)
    assert any("STS" in m for m in progress) and any("ECR" in m for m in progress)


def test_image_defaults_come_from_the_network_variables() -> None:
    assert variable_default("besu_image_repository") == "besu"
    assert variable_default("besu_image_tag") == "25.11.0"


def test_image_options_are_used(tmp_path: Path, wheels: Path) -> None:
    session = FakeSession()
    run_checks(
        make_probe(tmp_path, wheels, session=session),
        image_repository="mirror/besu",
        image_tag="sha256:" + "a" * 64,
    )
    assert session.ecr_calls == []  # a registry path is not ECR: skipped
    session = FakeSession()
    run_checks(
        make_probe(tmp_path, wheels, session=session),
        image_repository="besu-mirror",
        image_tag="sha256:" + "a" * 64,
    )
    assert session.ecr_calls == [
        {"repositoryName": "besu-mirror", "imageIds": [{"imageDigest": "sha256:" + "a" * 64}]}
    ]


# --- tools --------------------------------------------------------------------------------------


def test_missing_node_fails(tmp_path: Path, wheels: Path) -> None:
    results = by_name(
        run_checks(make_probe(tmp_path, wheels, commands=without(("node", "--version"))))
    )
    assert results["node"].status == "fail"
    assert "make tools" in results["node"].fix


def test_end_of_life_node_warns(tmp_path: Path, wheels: Path) -> None:
    commands = with_(node=(("node", "--version"), (0, "v20.20.2\n", "")))
    node = by_name(run_checks(make_probe(tmp_path, wheels, commands=commands)))["node"]
    assert node.status == "warn"
    assert "20.20.2" in node.detail and "end-of-life" in node.detail


def test_old_node_fails(tmp_path: Path, wheels: Path) -> None:
    commands = with_(node=(("node", "--version"), (0, "v18.19.0\n", "")))
    assert by_name(run_checks(make_probe(tmp_path, wheels, commands=commands)))["node"].status == (
        "fail"
    )


def test_jsii_node_then_project_node_then_path(tmp_path: Path, wheels: Path) -> None:
    project_node = tmp_path / "tools" / "node"
    project_node.parent.mkdir()
    project_node.write_text("#!/bin/sh\n")
    project_node.chmod(0o755)
    commands = {
        ("/opt/node24/bin/node", "--version"): (0, "v24.1.0\n", ""),
        (str(project_node), "--version"): (0, "v22.23.3\n", ""),
        ("node", "--version"): (0, "v20.20.2\n", ""),
    }
    probe = make_probe(tmp_path, wheels, commands=commands)
    chosen = replace(probe, environ={"JSII_NODE": "/opt/node24/bin/node"})
    assert "24.1.0" in by_name(run_checks(chosen))["node"].detail
    project = replace(probe, project_node=project_node)
    assert by_name(run_checks(project))["node"].status == "pass"
    assert by_name(run_checks(probe))["node"].status == "warn"  # PATH's node 20


def test_missing_cdktf_cli_warns_with_make_target(tmp_path: Path, wheels: Path) -> None:
    results = by_name(
        run_checks(make_probe(tmp_path, wheels, commands=without(("cdktf", "--version"))))
    )
    assert results["cdktf-cli"].status == "warn"
    assert "make cdktf-cli" in results["cdktf-cli"].fix


def test_project_cdktf_cli_is_found_and_version_mismatch_warns(
    tmp_path: Path, wheels: Path
) -> None:
    probe = make_probe(tmp_path, wheels, commands=without(("cdktf", "--version")))
    project = str(probe.project_cdktf)
    probe = replace(
        probe,
        run_command=FakeCommands(
            {**without(("cdktf", "--version")), (project, "--version"): (0, "0.20.11\n", "")}
        ),
    )
    cdktf = by_name(run_checks(probe))["cdktf-cli"]
    assert cdktf.status == "warn"
    assert "0.20.11" in cdktf.detail and project in cdktf.detail


def test_missing_terraform_warns(tmp_path: Path, wheels: Path) -> None:
    commands = without(("terraform", "version", "-json"), ("terraform", "--version"))
    terraform = by_name(run_checks(make_probe(tmp_path, wheels, commands=commands)))["terraform"]
    assert terraform.status == "warn"
    assert "not to synthesize" in terraform.detail


def test_old_terraform_fails_even_without_json_output(tmp_path: Path, wheels: Path) -> None:
    commands = with_(
        json=(("terraform", "version", "-json"), (1, "", "flag provided but not defined: -json")),
        text=(("terraform", "--version"), (0, "Terraform v0.12.31\n", "")),
    )
    terraform = by_name(run_checks(make_probe(tmp_path, wheels, commands=commands)))["terraform"]
    assert terraform.status == "fail"
    assert "0.12.31" in terraform.detail and "1.10" in terraform.fix


def test_terraform_1_9_fails_for_s3_native_locking(tmp_path: Path, wheels: Path) -> None:
    commands = with_(
        json=(("terraform", "version", "-json"), (0, '{"terraform_version": "1.9.8"}', ""))
    )
    terraform = by_name(run_checks(make_probe(tmp_path, wheels, commands=commands)))["terraform"]
    assert terraform.status == "fail" and "locking" in terraform.detail


def test_a_missing_pinned_wheel_fails(tmp_path: Path, wheels: Path) -> None:
    next(iter(sorted(wheels.glob("coincurve-*.whl")))).unlink()
    result = by_name(run_checks(make_probe(tmp_path, wheels)))["lambda-wheels"]
    assert result.status == "fail" and "coincurve==" in result.detail


def test_missing_checkov_warns_and_missing_wheels_fail(tmp_path: Path, wheels: Path) -> None:
    probe = replace(
        make_probe(tmp_path, wheels),
        find_checkov=lambda: None,
        wheels_dir=lambda: tmp_path / "no-wheels",
    )
    results = by_name(run_checks(probe))
    assert results["checkov"].status == "warn" and "make tools" in results["checkov"].fix
    assert results["lambda-wheels"].status == "fail"
    assert "make setup" in results["lambda-wheels"].fix
    assert "besu-stack lambda-wheels" in results["lambda-wheels"].fix


def test_old_python_fails(tmp_path: Path, wheels: Path) -> None:
    probe = replace(make_probe(tmp_path, wheels), version_info=(3, 10, 14))
    assert by_name(run_checks(probe))["python"].status == "fail"


# --- AWS ----------------------------------------------------------------------------------------


def test_no_credentials_warns_and_skips_the_image(tmp_path: Path, wheels: Path) -> None:
    session = FakeSession(credentials=None)
    results = by_name(run_checks(make_probe(tmp_path, wheels, session=session)))
    assert results["aws-credentials"].status == "warn"
    assert "needed to deploy, not to synthesize" in results["aws-credentials"].detail
    assert "besu-image" not in results
    assert session.clients == []


def test_region_not_set_warns(tmp_path: Path, wheels: Path) -> None:
    session = FakeSession(region_name=None)
    results = by_name(run_checks(make_probe(tmp_path, wheels, session=session)))
    assert results["aws-credentials"].status == "warn"
    assert "123456789012" in results["aws-credentials"].detail
    assert "region not set" in results["aws-credentials"].detail
    assert "besu-image" not in results


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (_client_error("ExpiredToken", "GetCallerIdentity"), "ExpiredToken"),
        (_client_error("InvalidClientTokenId", "GetCallerIdentity"), "InvalidClientTokenId"),
        (
            EndpointConnectionError(endpoint_url="https://sts.eu-west-1.amazonaws.com/"),
            "EndpointConnectionError",
        ),
    ],
)
def test_sts_failure_fails_with_the_error_code(
    tmp_path: Path, wheels: Path, error: Exception, shown: str
) -> None:
    session = FakeSession(sts_error=error)
    results = by_name(run_checks(make_probe(tmp_path, wheels, session=session)))
    assert results["aws-credentials"].status == "fail"
    assert shown in results["aws-credentials"].detail
    assert results["aws-credentials"].fix
    assert "besu-image" not in results


@pytest.mark.parametrize("code", ["RepositoryNotFoundException", "ImageNotFoundException"])
def test_missing_image_fails_with_mirror_instructions(
    tmp_path: Path, wheels: Path, code: str
) -> None:
    session = FakeSession(ecr_error=_client_error(code, "DescribeImages"))
    image = by_name(run_checks(make_probe(tmp_path, wheels, session=session)))["besu-image"]
    assert image.status == "fail"
    assert "hyperledger/besu:25.11.0" in image.fix
    assert "123456789012.dkr.ecr.eu-west-1.amazonaws.com/besu:25.11.0" in image.fix


def test_ecr_access_denied_fails_with_the_code(tmp_path: Path, wheels: Path) -> None:
    session = FakeSession(ecr_error=_client_error("AccessDeniedException", "DescribeImages"))
    image = by_name(run_checks(make_probe(tmp_path, wheels, session=session)))["besu-image"]
    assert image.status == "fail" and "AccessDeniedException" in image.detail


def test_registry_path_is_not_checked_in_ecr() -> None:
    aws = doctor_module.AwsContext(FakeSession(), "123456789012", "eu-west-1")
    result = check_besu_image(aws, "public.ecr.aws/hyperledger/besu", "25.11.0")
    assert result.status == "warn" and "not checked" in result.detail


# --- output and exit codes ---------------------------------------------------------------------

MIXED = [
    CheckResult("python", "pass", "Python 3.12.3"),
    CheckResult("node", "warn", "Node 20.20.2 is end-of-life", "make tools"),
    CheckResult("lambda-wheels", "fail", "no Lambda wheels", "make setup"),
]


def test_text_output_one_line_per_check_with_marker_and_fix() -> None:
    lines = format_text(MIXED).splitlines()
    assert lines[0].startswith("PASS  python ")
    assert lines[1].startswith("WARN  node ") and lines[1].endswith("-> fix: make tools")
    assert lines[2].startswith("FAIL  lambda-wheels ") and "fix: make setup" in lines[2]
    assert lines[3] == ""
    assert lines[4] == "1 passed, 1 warning, 1 failed: not ready to deploy"


def test_json_output_is_parseable_with_statuses() -> None:
    shown = json.loads(format_json(MIXED))
    assert shown["ok"] is False
    assert shown["summary"] == {"pass": 1, "warn": 1, "fail": 1}
    assert [(c["name"], c["status"]) for c in shown["checks"]] == [
        ("python", "pass"),
        ("node", "warn"),
        ("lambda-wheels", "fail"),
    ]
    assert shown["checks"][0]["fix"] is None and shown["checks"][2]["fix"] == "make setup"


def test_exit_code_is_1_only_when_a_check_failed(
    tmp_path: Path, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warn_only = make_probe(tmp_path, wheels, session=FakeSession(credentials=None))
    assert doctor_module.doctor(probe=warn_only) == 0
    assert "WARN  aws-credentials" in capsys.readouterr().out
    failing = replace(warn_only, wheels_dir=lambda: tmp_path / "none")
    assert doctor_module.doctor(probe=failing, as_json=True) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_cli_passes_the_options_and_returns_the_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def fake_run_checks(probe: Probe | None = None, **kwargs: Any) -> list[CheckResult]:
        seen.update(kwargs)
        return MIXED

    monkeypatch.setattr(doctor_module, "run_checks", fake_run_checks)
    assert main(["doctor", "--image-repository", "besu-mirror", "--image-tag", "25.10.0"]) == 1
    assert seen == {"image_repository": "besu-mirror", "image_tag": "25.10.0"}
    assert "FAIL  lambda-wheels" in capsys.readouterr().out


def test_real_doctor_without_aws_credentials_never_crashes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    # No instance metadata lookups either: this test must not touch the network.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code = main(["doctor", "--json"])
    captured = capsys.readouterr()
    shown = json.loads(captured.out)
    assert code == (1 if shown["summary"]["fail"] else 0)
    checks = {c["name"]: c for c in shown["checks"]}
    assert checks["aws-credentials"]["status"] == "warn"
    assert "besu-image" not in checks
    assert {c["status"] for c in shown["checks"]} <= {"pass", "warn", "fail"}
    assert "==> checking" in captured.err
