"""The PrivateLink construct: internal NLB, listeners, target groups, endpoint service."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from besu_stack.constructs.ports import RPC_HTTP_PORT, RPC_WS_PORT
from besu_stack.settings import NETWORK_NAME_MAX_LENGTH, Settings
from besu_stack.variables import NETWORK_VARIABLES
from tests.conftest import StackJson, address_of, ref, resource_at, resources

pytestmark = pytest.mark.synth

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
PLAIN = "(length(var.rpc_certificate_arn) < 1)"
WS_COUNT = "${var.rpc_ws_enabled ? 1 : 0}"


@pytest.fixture(scope="module")
def existing_stack(synth_settings: Callable[[Settings], StackJson]) -> StackJson:
    return synth_settings(Settings(vpc_mode="existing"))


def _subnets(stack: StackJson) -> object:
    return stack["output"]["subnet_ids"]["value"]


# --- load balancer ----------------------------------------------------------------------------


def test_nlb_is_internal_cross_zone_in_the_node_subnets_with_its_security_group(
    default_stack: StackJson, existing_stack: StackJson
) -> None:
    for stack in (default_stack, existing_stack):
        nlb = resource_at(stack, "aws_lb", "private_link/nlb")
        assert nlb["internal"] is True
        assert nlb["load_balancer_type"] == "network"
        assert nlb["enable_cross_zone_load_balancing"] is True
        assert nlb["enable_deletion_protection"] == "${var.rpc_nlb_deletion_protection}"
        assert nlb["subnets"] == _subnets(stack)
        assert nlb["security_groups"] == [
            ref(stack, "aws_security_group", "private_link/nlb_security_group", "id")
        ]
    assert existing_stack["output"]["subnet_ids"]["value"] == "${var.existing_subnet_ids}"
    assert default_stack["output"]["subnet_ids"]["value"].startswith("${local.network_subnet_ids")


def test_privatelink_traffic_is_not_filtered_by_the_vpc_only_inbound_rules(
    default_stack: StackJson,
) -> None:
    """PrivateLink traffic carries the consumer's own address (another VPC): filtering it on
    the VPC CIDR would block every consumer; the endpoint service's principals govern it."""
    nlb = resource_at(default_stack, "aws_lb", "private_link/nlb")
    assert nlb["enforce_security_group_inbound_rules_on_private_link_traffic"] == "off"


def test_nlb_access_logs_go_to_an_encrypted_private_bucket(default_stack: StackJson) -> None:
    nlb = resource_at(default_stack, "aws_lb", "private_link/nlb")
    bucket_ref = ref(default_stack, "aws_s3_bucket", "private_link/access_logs/bucket", "id")
    assert nlb["access_logs"] == {
        "bucket": bucket_ref,
        "enabled": "${var.rpc_nlb_access_logs_enabled}",
        "prefix": "nlb",
    }
    assert nlb["depends_on"] == [
        address_of(default_stack, "aws_s3_bucket_policy", "private_link/access_logs/policy")
    ]
    sse = resource_at(
        default_stack,
        "aws_s3_bucket_server_side_encryption_configuration",
        "private_link/access_logs/encryption",
    )["rule"][0]["apply_server_side_encryption_by_default"]
    assert sse == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": ref(default_stack, "aws_kms_key", "network_key/key", "arn"),
    }
    block = resource_at(
        default_stack,
        "aws_s3_bucket_public_access_block",
        "private_link/access_logs/public_access_block",
    )
    assert block["block_public_policy"] is True and block["restrict_public_buckets"] is True
    lifecycle = resource_at(
        default_stack,
        "aws_s3_bucket_lifecycle_configuration",
        "private_link/access_logs/lifecycle",
    )
    assert lifecycle["rule"][0]["expiration"] == [{"days": "${var.log_retention_days}"}]
    bucket = resource_at(default_stack, "aws_s3_bucket", "private_link/access_logs/bucket")
    assert bucket["bucket"].startswith("besu-rpc-logs-${data.aws_caller_identity.")


def test_only_elb_log_delivery_of_this_account_may_write_the_logs(
    default_stack: StackJson,
) -> None:
    policy = json.loads(
        resource_at(default_stack, "aws_s3_bucket_policy", "private_link/access_logs/policy")[
            "policy"
        ]
    )
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert {s["Sid"] for s in allows} == {"ElbLogDeliveryAclCheck", "ElbLogDeliveryWrite"}
    for statement in allows:
        assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"].startswith(
            "${data.aws_caller_identity."
        )
    write = next(s for s in allows if s["Sid"] == "ElbLogDeliveryWrite")
    assert write["Resource"].endswith(
        "/nlb/AWSLogs/" + write["Condition"]["StringEquals"]["aws:SourceAccount"] + "/*"
    )
    key_policy = json.loads(resource_at(default_stack, "aws_kms_key", "network_key/key")["policy"])
    services = [
        s["Principal"]["Service"]
        for s in key_policy["Statement"]
        if s["Sid"] == "AwsServicesOfThisAccountUseKey"
    ]
    (principals,) = services
    assert "delivery.logs.amazonaws.com" in principals


def test_nlb_and_target_group_names_fit_aws_limits_for_the_longest_network_name(
    default_stack: StackJson,
) -> None:
    grow = NETWORK_NAME_MAX_LENGTH - len("besu")
    for kind in ("aws_lb", "aws_lb_target_group"):
        for item in resources(default_stack, kind).values():
            assert item["name"].startswith("besu-")
            assert len(item["name"]) + grow <= 32, item["name"]


# --- security group ---------------------------------------------------------------------------


def test_nlb_security_group_admits_rpc_ports_from_the_vpc_and_sends_only_to_nodes(
    default_stack: StackJson,
) -> None:
    group = ref(default_stack, "aws_security_group", "private_link/nlb_security_group", "id")
    nodes = ref(default_stack, "aws_security_group", "network/node_security_group", "id")
    cidr = ref(default_stack, "aws_vpc", "network/vpc", "cidr_block")
    ingress = [
        r
        for r in resources(default_stack, "aws_vpc_security_group_ingress_rule").values()
        if r["security_group_id"] == group
    ]
    assert sorted(
        (r["from_port"], r["to_port"], r["cidr_ipv4"], r.get("count")) for r in ingress
    ) == [
        (RPC_HTTP_PORT, RPC_HTTP_PORT, cidr, None),
        (RPC_WS_PORT, RPC_WS_PORT, cidr, WS_COUNT),
    ]
    egress = [
        r
        for r in resources(default_stack, "aws_vpc_security_group_egress_rule").values()
        if r["security_group_id"] == group
    ]
    assert sorted(
        (r["from_port"], r["referenced_security_group_id"], r.get("count")) for r in egress
    ) == [(RPC_HTTP_PORT, nodes, None), (RPC_WS_PORT, nodes, WS_COUNT)]


def test_nodes_admit_rpc_and_ws_from_the_nlb_group_only(default_stack: StackJson) -> None:
    group = ref(default_stack, "aws_security_group", "private_link/nlb_security_group", "id")
    for port in (RPC_HTTP_PORT, RPC_WS_PORT):
        rules = [
            r
            for r in resources(default_stack, "aws_vpc_security_group_ingress_rule").values()
            if r["from_port"] == port
            and r["security_group_id"]
            == ref(default_stack, "aws_security_group", "network/node_security_group", "id")
        ]
        assert [r["referenced_security_group_id"] for r in rules] == [group]
        assert "cidr_ipv4" not in rules[0]


# --- listeners and target groups --------------------------------------------------------------


def test_rpc_listener_is_tcp_or_tls_with_a_modern_policy_by_the_certificate_variable(
    default_stack: StackJson,
) -> None:
    listener = resource_at(default_stack, "aws_lb_listener", "private_link/rpc_listener")
    assert listener["port"] == RPC_HTTP_PORT
    assert listener["protocol"] == "${" + PLAIN + ' ? "TCP" : "TLS"}'
    assert listener["ssl_policy"] == "${" + PLAIN + f' ? null : "{TLS_POLICY}"' + "}"
    assert listener["certificate_arn"] == "${" + PLAIN + " ? null : var.rpc_certificate_arn}"
    assert listener["default_action"] == [
        {
            "type": "forward",
            "target_group_arn": ref(
                default_stack, "aws_lb_target_group", "private_link/rpc_target_group", "arn"
            ),
        }
    ]
    assert default_stack["variable"]["rpc_certificate_arn"]["default"] == ""


def test_ws_listener_and_target_group_exist_only_when_ws_is_enabled(
    default_stack: StackJson,
) -> None:
    listener = resource_at(default_stack, "aws_lb_listener", "private_link/ws_listener")
    target_group = resource_at(default_stack, "aws_lb_target_group", "private_link/ws_target_group")
    assert listener["count"] == WS_COUNT and target_group["count"] == WS_COUNT
    assert listener["port"] == RPC_WS_PORT and target_group["port"] == RPC_WS_PORT
    assert listener["protocol"] == "${" + PLAIN + ' ? "TCP" : "TLS"}'
    tg = address_of(default_stack, "aws_lb_target_group", "private_link/ws_target_group")
    assert listener["default_action"][0]["target_group_arn"] == "${" + tg + "[count.index].arn}"
    variable = default_stack["variable"]["rpc_ws_enabled"]
    assert variable["type"] == "bool" and variable["default"] is False


@pytest.mark.parametrize("name", ["rpc_target_group", "ws_target_group"])
def test_target_groups_check_besu_readiness_on_the_http_rpc_port(
    default_stack: StackJson, name: str
) -> None:
    tg = resource_at(default_stack, "aws_lb_target_group", f"private_link/{name}")
    assert tg["target_type"] == "instance"
    assert tg["protocol"] == "TCP"
    assert tg["preserve_client_ip"] == "false"
    assert tg["deregistration_delay"] == "${var.rpc_deregistration_delay_seconds}"
    check = tg["health_check"]
    assert check["protocol"] == "HTTP"
    assert check["port"] == str(RPC_HTTP_PORT)
    assert check["path"] == (
        "/readiness?minPeers=${var.rpc_health_check_min_peers}"
        "&maxBlocksBehind=${var.rpc_health_check_max_blocks_behind}"
    )
    assert check["matcher"] == "200"
    assert check["interval"] == "${var.rpc_health_check_interval_seconds}"
    assert check["healthy_threshold"] == "${var.rpc_health_check_healthy_threshold}"
    assert check["unhealthy_threshold"] == "${var.rpc_health_check_unhealthy_threshold}"
    assert check["timeout"] < 10  # below the smallest allowed interval


def test_health_check_and_drain_variables_have_sensible_validated_defaults(
    default_stack: StackJson,
) -> None:
    expected = {
        "rpc_health_check_min_peers": 1,
        "rpc_health_check_max_blocks_behind": 2,
        "rpc_health_check_interval_seconds": 10,
        "rpc_health_check_healthy_threshold": 3,
        "rpc_health_check_unhealthy_threshold": 3,
        "rpc_deregistration_delay_seconds": 30,
        "rpc_nlb_deletion_protection": True,
        "rpc_nlb_access_logs_enabled": True,
        "privatelink_private_dns_name": "",
    }
    for name, default in expected.items():
        variable = default_stack["variable"][name]
        assert variable["default"] == default, name
        if not isinstance(default, bool):
            assert variable["validation"], name
    specs = {s.name: s for s in NETWORK_VARIABLES}
    assert "10 && " in specs["rpc_health_check_interval_seconds"].validations[0].condition


def test_target_group_arns_are_exposed_for_the_fleet(default_stack: StackJson) -> None:
    rpc = address_of(default_stack, "aws_lb_target_group", "private_link/rpc_target_group")
    ws = address_of(default_stack, "aws_lb_target_group", "private_link/ws_target_group")
    locals_ = default_stack["locals"]
    assert f"${{concat([{rpc}.arn], {ws}[*].arn)}}" in locals_.values()
    assert f"${{one({ws}[*].arn)}}" in locals_.values()
    output = default_stack["output"]["rpc_target_group_arns"]
    assert output["value"].startswith("${local.private_link_target_group_arns")


# --- endpoint service -------------------------------------------------------------------------


def test_endpoint_service_requires_acceptance_and_lists_allowed_principals(
    default_stack: StackJson,
) -> None:
    service = resource_at(
        default_stack, "aws_vpc_endpoint_service", "private_link/endpoint_service"
    )
    assert service["acceptance_required"] == "${var.privatelink_acceptance_required}"
    assert default_stack["variable"]["privatelink_acceptance_required"]["default"] is True
    assert service["allowed_principals"] == "${var.privatelink_allowed_principals}"
    assert service["network_load_balancer_arns"] == [
        ref(default_stack, "aws_lb", "private_link/nlb", "arn")
    ]
    assert service["private_dns_name"] == (
        "${(length(var.privatelink_private_dns_name) < 1) ? null : var.privatelink_private_dns_name}"
    )


def test_privatelink_outputs_give_consumers_what_they_need(default_stack: StackJson) -> None:
    outputs = default_stack["output"]
    service = address_of(default_stack, "aws_vpc_endpoint_service", "private_link/endpoint_service")
    assert outputs["rpc_endpoint_service_name"]["value"] == "${" + service + ".service_name}"
    assert outputs["rpc_endpoint_service_id"]["value"] == "${" + service + ".id}"
    assert outputs["rpc_nlb_dns_name"]["value"] == ref(
        default_stack, "aws_lb", "private_link/nlb", "dns_name"
    )
    assert outputs["rpc_nlb_security_group_id"]["value"] == ref(
        default_stack, "aws_security_group", "private_link/nlb_security_group", "id"
    )
    for name in (
        "rpc_endpoint_service_name",
        "rpc_endpoint_service_id",
        "rpc_nlb_dns_name",
        "rpc_nlb_security_group_id",
        "rpc_target_group_arns",
        "rpc_access_log_bucket_name",
    ):
        assert outputs[name]["description"].endswith("."), name
