"""The default network planned, applied, drilled and destroyed by Terraform in moto.

One ``besu-stack rehearse`` run (:class:`Rehearsal`, exactly what ``make rehearse`` runs) is
shared by the tests of the session (fixture ``rehearsed``); an observer snapshots the emulated
account after each phase. The phases themselves already fail on a broken network (keys,
lifecycle drill, second plan, destroy); the tests below check what the issues name on top of
that, the first ones on the values Terraform computed in the rehearsal's plan (what the
synthesized JSON hides: ``for_each`` expansions, the user data and the container command after
interpolation).

Every test that uses the rehearsal lives in this module: ``make test`` distributes the suite
over its workers by file (``--dist loadfile``), so the minutes-long rehearsal runs once
(``tests/conftest.py`` refuses a test elsewhere that asks for it).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from besu_stack.besu.command_line import (
    RUNTIME_LOAD_BALANCER_IPS,
    RUNTIME_NODE_HOST,
    RUNTIME_PRIVATE_IP,
)
from besu_stack.rehearsal.rehearse import (
    EXPECTED_LEFTOVERS,
    MOTO_ROUND_TRIP_GAPS,
    Rehearsal,
    RehearsalReport,
)
from tests.support.tokens import LocalSigningKey
from tests.synth.test_node_conformance import (
    check_command_line,
    check_environment,
    check_p2p_host,
    check_port_mappings,
    container_environment,
)
from tests.terraform.conftest import Snapshots
from tests.terraform.plans import Plan, assert_fully_evaluated, only, planned

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def default_plan(rehearsed: tuple[RehearsalReport, Snapshots]) -> Plan:
    """The default network's plan, as the rehearsal made it (``terraform show -json``)."""
    return rehearsed[1].plan


# --- the default network's plan --------------------------------------------------------------


def test_one_interface_endpoint_per_service_in_every_node_subnet(default_plan: Plan) -> None:
    subnets = planned(default_plan, "aws_subnet")
    assert len(subnets) == 3
    endpoints = planned(default_plan, "aws_vpc_endpoint")
    interface = [e for e in endpoints if e["values"]["vpc_endpoint_type"] == "Interface"]
    gateway = [e for e in endpoints if e["values"]["vpc_endpoint_type"] == "Gateway"]
    assert {e["values"]["service_name"] for e in gateway} == {
        "com.amazonaws.eu-west-1.s3",
        "com.amazonaws.eu-west-1.dynamodb",
    }
    services = {e["values"]["service_name"] for e in interface}
    assert len(services) == len(interface) >= 8
    assert all(s.startswith("com.amazonaws.eu-west-1.") for s in services)
    for endpoint in interface:
        assert endpoint["values"]["private_dns_enabled"] is True


def test_the_rpc_listener_is_plain_tcp_without_a_certificate(default_plan: Plan) -> None:
    (listener,) = [
        r["values"] for r in planned(default_plan, "aws_lb_listener") if r["values"]["port"] == 8545
    ]
    assert listener["protocol"] == "TCP"
    assert listener.get("certificate_arn") is None and listener.get("ssl_policy") is None


def test_the_rendered_container_passes_besus_rules(default_plan: Plan, tmp_path: Path) -> None:
    task = only(default_plan, "aws_ecs_task_definition")
    assert_fully_evaluated(task["container_definitions"], "container_definitions")
    (container,) = json.loads(task["container_definitions"])
    # The entry point fills the runtime placeholders, and only those (test_node_conformance).
    samples = {
        RUNTIME_PRIVATE_IP: "10.42.64.4",
        RUNTIME_NODE_HOST: "validator-0.besu.besu.internal",
        RUNTIME_LOAD_BALANCER_IPS: "10.42.0.5,10.42.32.6,10.42.64.7",
    }
    command = [_fill(argument, samples) for argument in container["command"]]
    # The entry point puts the slot's verified key at the key path before Besu starts.
    key_file = tmp_path / "key"
    key_file.write_text("0x" + "4d" * 32, encoding="utf-8")
    command = [
        f"--node-private-key-file={key_file}" if a.startswith("--node-private-key-file=") else a
        for a in command
    ]
    assert any(a.startswith("--node-private-key-file=") for a in command)
    # The host bootstrap writes the RPC token key's public key (test_host_bootstrap.py).
    pem = tmp_path / "rpc-token-key.pem"
    pem.write_bytes(LocalSigningKey().public_key_pem)
    option = "--rpc-ws-authentication-jwt-public-key-file="
    assert any(a.startswith(option) for a in command)
    command = [f"{option}{pem}" if a.startswith(option) else a for a in command]
    environment = container_environment(container)
    check_command_line(command, environment)
    ours = {e["name"]: e["value"] for e in container.get("environment", [])}
    image = {k: v for k, v in environment.items() if k not in ours}
    check_environment(command, ours, image)
    check_p2p_host(command)
    service = only(default_plan, "aws_ecs_service")
    check_port_mappings(task, container, service)
    assert container["image"].endswith(".dkr.ecr.eu-west-1.amazonaws.com/besu:25.11.0")


def _fill(argument: str, samples: dict[str, str]) -> str:
    for placeholder, value in samples.items():
        argument = argument.replace(placeholder, value)
    return argument


def test_the_user_data_is_rendered_for_this_cluster(default_plan: Plan) -> None:
    template = only(default_plan, "aws_launch_template")
    script = base64.b64decode(template["user_data"]).decode()
    # Shell ${...} is the script's own; no Terraform reference may be left unevaluated.
    assert not re.search(r"\$\{(var|local|data|aws_[a-z0-9_]+|module)\.", script)
    assert "besu-validators" in script
    assert template["metadata_options"][0]["http_tokens"] == "required"


# --- the rehearsal ----------------------------------------------------------------------------


def test_the_whole_network_is_applied(rehearsed: tuple[RehearsalReport, Snapshots]) -> None:
    report, _ = rehearsed
    assert report.resources_created == report.resources_planned > 150


def test_the_key_lambda_generated_distinct_keys_that_genesis_and_outputs_list(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, snapshots = rehearsed
    assert len(report.keys) == 4 == len(set(report.keys.values()))
    assert all(k.startswith("0x") and len(k) == 66 for k in snapshots.private_keys)


def test_no_private_key_is_in_the_state_or_the_apply_output(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    _, snapshots = rehearsed
    assert snapshots.state_text and snapshots.apply_output
    invocation_logs = "".join(i["logs"] + i["result"] for i in snapshots.invocations)
    for key in snapshots.private_keys:
        for form in (key, key.removeprefix("0x"), key.removeprefix("0x").upper()):
            assert form not in snapshots.state_text
            assert form not in snapshots.apply_output
            assert form not in invocation_logs


def test_a_second_plan_changes_nothing_of_ours(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, snapshots = rehearsed
    assert all(change.explained for change in report.second_plan)
    untouched = {
        c["type"]
        for c in snapshots.second_plan["resource_changes"]
        if c["change"]["actions"] == ["no-op"]
    }
    # The key invocation, the secrets and the genesis bucket are not touched again.
    assert {"aws_lambda_invocation", "aws_secretsmanager_secret", "aws_s3_bucket"} <= untouched
    for change in report.second_plan:
        assert change.type in MOTO_ROUND_TRIP_GAPS


def test_running_the_key_lambda_again_generates_no_key_and_rewrites_no_genesis(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    _, snapshots = rehearsed
    again = snapshots.after_second_invocation
    assert again["error"] is None
    assert again["secret_versions"] == snapshots.secret_versions
    assert again["genesis_version"] == snapshots.genesis_version


def test_the_lifecycle_drill_claimed_every_slot_and_replaced_one(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, _ = rehearsed
    drill = report.drill
    assert drill is not None
    assert sorted(drill.slots) == [0, 1, 2, 3]
    assert drill.replaced_slot == 0 and drill.replacement_instance != drill.replaced_instance
    results = {
        (a["InstanceId"], a["LifecycleActionResult"])
        for a in drill.completed_actions
        if a["Action"] == "CompleteLifecycleAction"
    }
    assert (drill.replaced_instance, "CONTINUE") in results
    assert (drill.replacement_instance, "CONTINUE") in results


def test_destroy_leaves_exactly_what_the_readme_says(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    report, _ = rehearsed
    assert set(report.leftovers) == EXPECTED_LEFTOVERS
    assert all("scheduled for deletion" in s for s in report.leftovers["secretsmanager:secret"])
    assert all("PendingDeletion" in k for k in report.leftovers["kms:key"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Destroying safely") :]
    section = section[: section.index("\n## ", 5)]
    for words in ("Data volumes and snapshots", "KMS key", "Validator key secrets"):
        assert words in section


def test_progress_names_every_phase_and_ends_with_the_report(
    rehearsed: tuple[RehearsalReport, Snapshots],
) -> None:
    _, snapshots = rehearsed
    assert [line for line in snapshots.progress if line.startswith("==> ")] == [
        f"==> {phase}" for phase in Rehearsal.PHASES
    ]
    assert snapshots.progress[-1].startswith("Rehearsal complete")
