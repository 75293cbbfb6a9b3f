"""The Network construct: isolated VPC or an existing one, endpoints, flow logs, security groups."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from besu_stack.constructs.endpoints import (
    GATEWAY_ENDPOINTS,
    INTERFACE_ENDPOINTS,
    gateway_services,
    interface_services,
)
from besu_stack.constructs.ports import ADMIN_RPC_PORT, METRICS_PORT, P2P_PORT
from besu_stack.settings import Settings
from tests.conftest import StackJson, address_of, ref, resource_at, resources

pytestmark = pytest.mark.synth

NETWORK_CREATING_TYPES = {
    "aws_vpc",
    "aws_subnet",
    "aws_route_table",
    "aws_route_table_association",
    "aws_default_security_group",
}
INTERNET_PATH_TYPES = {
    "aws_internet_gateway",
    "aws_egress_only_internet_gateway",
    "aws_nat_gateway",
    "aws_eip",
    "aws_route",
    "aws_vpn_gateway",
}
REQUIRED_INTERFACE_SERVICES = {
    "ecr.api",
    "ecr.dkr",
    "logs",
    "monitoring",
    "secretsmanager",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "ecs",
    "ecs-agent",
    "ecs-telemetry",
    "ec2",
    "autoscaling",
    "kms",
    "sts",
}
OPEN = {"0.0.0.0/0", "::/0"}


@pytest.fixture(scope="module")
def existing_stack(synth_settings: Callable[[Settings], StackJson]) -> StackJson:
    return synth_settings(Settings(vpc_mode="existing"))


@pytest.fixture(scope="module", params=["create", "existing"])
def any_stack(
    request: pytest.FixtureRequest, default_stack: StackJson, existing_stack: StackJson
) -> StackJson:
    return default_stack if request.param == "create" else existing_stack


def _toset(items: list[str]) -> str:
    return "${toset([" + ", ".join(json.dumps(i) for i in items) + "])}"


def _rules(stack: StackJson, kind: str, group_path: str) -> list[dict[str, Any]]:
    group = ref(stack, "aws_security_group", group_path, "id")
    return [r for r in resources(stack, kind).values() if r["security_group_id"] == group]


def _summary(stack: StackJson, rule: dict[str, Any]) -> tuple[object, ...]:
    """(protocol, from, to, peer, counted?) with the peer named by its construct path."""
    peer = rule.get("cidr_ipv4") or rule.get("cidr_ipv6") or rule.get("prefix_list_id")
    if "referenced_security_group_id" in rule:
        peer = next(
            r["//"]["metadata"]["path"].split("/", 1)[1]
            for r in resources(stack, "aws_security_group").values()
            if rule["referenced_security_group_id"].endswith(
                ".".join(["", r["//"]["metadata"]["uniqueId"], "id}"])
            )
        )
    return (rule["ip_protocol"], rule["from_port"], rule["to_port"], peer, "count" in rule)


# --- created VPC ------------------------------------------------------------------------------


def test_created_vpc_spans_the_selected_zones_with_private_subnets_only(
    default_stack: StackJson,
) -> None:
    vpc = resource_at(default_stack, "aws_vpc", "network/vpc")
    assert vpc["cidr_block"] == "${var.vpc_cidr}"
    assert vpc["enable_dns_support"] is True and vpc["enable_dns_hostnames"] is True
    (subnet,) = resources(default_stack, "aws_subnet").values()
    assert subnet["count"] == "${var.availability_zone_count}"
    assert subnet["cidr_block"] == "${cidrsubnet(var.vpc_cidr, 3, count.index)}"
    zones = address_of(default_stack, "aws_availability_zones", "network/zones", block="data")
    assert subnet["availability_zone"] == "${element(" + zones + ".names, count.index)}"
    assert subnet["map_public_ip_on_launch"] is False
    data = default_stack["data"]["aws_availability_zones"]
    (zone_query,) = data.values()
    assert zone_query["state"] == "available"
    assert zone_query["filter"] == [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]
    assert default_stack["variable"]["availability_zone_count"]["default"] == 3


def test_created_vpc_has_no_path_to_the_internet(default_stack: StackJson) -> None:
    assert not INTERNET_PATH_TYPES & set(default_stack["resource"])
    (route_table,) = resources(default_stack, "aws_route_table").values()
    assert "route" not in route_table
    (association,) = resources(default_stack, "aws_route_table_association").values()
    assert association["count"] == "${var.availability_zone_count}"
    assert association["route_table_id"] == ref(
        default_stack, "aws_route_table", "network/private_route_table", "id"
    )


def test_default_security_group_of_the_created_vpc_allows_nothing(
    default_stack: StackJson,
) -> None:
    default_sg = resource_at(
        default_stack, "aws_default_security_group", "network/default_security_group"
    )
    assert default_sg["vpc_id"] == ref(default_stack, "aws_vpc", "network/vpc", "id")
    assert "ingress" not in default_sg and "egress" not in default_sg


def test_vpc_flow_logs_go_to_an_encrypted_log_group_with_retention(
    default_stack: StackJson,
) -> None:
    group = resource_at(default_stack, "aws_cloudwatch_log_group", "network/flow_log_group")
    assert group["kms_key_id"] == ref(default_stack, "aws_kms_key", "network_key/key", "arn")
    assert group["retention_in_days"] == "${var.log_retention_days}"
    flow_log = resource_at(default_stack, "aws_flow_log", "network/flow_log")
    assert flow_log["vpc_id"] == ref(default_stack, "aws_vpc", "network/vpc", "id")
    assert flow_log["traffic_type"] == "ALL"
    assert flow_log["log_destination"] == ref(
        default_stack, "aws_cloudwatch_log_group", "network/flow_log_group", "arn"
    )
    role = resource_at(default_stack, "aws_iam_role", "network/flow_log_role")
    trust = json.loads(role["assume_role_policy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "vpc-flow-logs.amazonaws.com"}]
    assert "aws:SourceAccount" in trust[0]["Condition"]["StringEquals"]
    policy = json.loads(
        resource_at(default_stack, "aws_iam_role_policy", "network/flow_log_role_policy")["policy"]
    )
    (statement,) = policy["Statement"]
    assert statement["Resource"] == [
        ref(default_stack, "aws_cloudwatch_log_group", "network/flow_log_group", "arn") + ":*"
    ]


# --- endpoints --------------------------------------------------------------------------------


def test_endpoint_table_covers_every_api_the_nodes_and_lambdas_call() -> None:
    assert set(interface_services()) >= REQUIRED_INTERFACE_SERVICES
    assert set(gateway_services()) == {"s3", "dynamodb"}
    rows = GATEWAY_ENDPOINTS + INTERFACE_ENDPOINTS
    assert len({r.service for r in rows}) == len(rows)
    assert all(r.used_by for r in rows)


def test_interface_endpoints_for_every_service_in_the_table_with_private_dns(
    any_stack: StackJson,
) -> None:
    endpoint = resource_at(any_stack, "aws_vpc_endpoint", "network/interface_endpoint")
    assert endpoint["for_each"] == _toset(interface_services())
    assert endpoint["vpc_endpoint_type"] == "Interface"
    assert endpoint["private_dns_enabled"] is True
    assert endpoint["service_name"].startswith("com.amazonaws.${data.aws_region.")
    assert endpoint["service_name"].endswith(".${each.value}")
    assert endpoint["security_group_ids"] == [
        ref(any_stack, "aws_security_group", "network/endpoint_security_group", "id")
    ]


def test_gateway_endpoints_for_s3_and_dynamodb_on_the_subnets_route_tables(
    default_stack: StackJson, existing_stack: StackJson
) -> None:
    created = resource_at(default_stack, "aws_vpc_endpoint", "network/gateway_endpoint")
    assert created["for_each"] == _toset(["dynamodb", "s3"])
    assert created["vpc_endpoint_type"] == "Gateway"
    assert created["route_table_ids"] == [
        ref(default_stack, "aws_route_table", "network/private_route_table", "id")
    ]
    existing = resource_at(existing_stack, "aws_vpc_endpoint", "network/gateway_endpoint")
    tables = address_of(
        existing_stack, "aws_route_tables", "network/existing_route_tables", block="data"
    )
    assert existing["route_table_ids"] == "${" + tables + ".ids}"
    (query,) = existing_stack["data"]["aws_route_tables"].values()
    assert query["filter"] == [
        {"name": "association.subnet-id", "values": "${var.existing_subnet_ids}"}
    ]


def test_endpoint_security_group_admits_https_from_the_vpc_only(any_stack: StackJson) -> None:
    cidr = resource_at(
        any_stack, "aws_vpc_security_group_ingress_rule", "network/endpoints_https_from_vpc"
    )["cidr_ipv4"]
    ingress = _rules(
        any_stack, "aws_vpc_security_group_ingress_rule", "network/endpoint_security_group"
    )
    assert [_summary(any_stack, r) for r in ingress] == [("tcp", 443, 443, cidr, False)]
    assert not _rules(
        any_stack, "aws_vpc_security_group_egress_rule", "network/endpoint_security_group"
    )


# --- security groups --------------------------------------------------------------------------


def test_node_ingress_is_p2p_from_nodes_rpc_from_the_nlb_metrics_from_the_vpc_admin_from_checker(
    any_stack: StackJson,
) -> None:
    cidr = _vpc_cidr(any_stack)
    ingress = {
        _summary(any_stack, r)
        for r in _rules(
            any_stack, "aws_vpc_security_group_ingress_rule", "network/node_security_group"
        )
    }
    expected = {
        ("tcp", P2P_PORT, P2P_PORT, "network/node_security_group", False),
        ("udp", P2P_PORT, P2P_PORT, "network/node_security_group", False),
        ("tcp", ADMIN_RPC_PORT, ADMIN_RPC_PORT, "network/health_checker_security_group", False),
        ("tcp", 8545, 8545, "private_link/nlb_security_group", False),
        ("tcp", 8546, 8546, "private_link/nlb_security_group", True),
    }
    if "aws_vpc" in any_stack.get("resource", {}):
        # Metrics from the VPC only when the VPC is the network's own (issue 13 item 7).
        expected.add(("tcp", METRICS_PORT, METRICS_PORT, cidr, False))
    assert ingress == expected


def test_an_existing_vpcs_cidr_reaches_neither_the_rpc_nor_the_metrics(
    existing_stack: StackJson, default_stack: StackJson
) -> None:
    """Issue 13 item 7: in an existing (shared) VPC, other workloads of the VPC reach neither
    the NLB's listeners (around the endpoint service's allow-list) nor the nodes' metrics."""
    cidr = _vpc_cidr(existing_stack)
    from_cidr = {
        (rule["from_port"], rule["to_port"])
        for rule in resources(existing_stack, "aws_vpc_security_group_ingress_rule").values()
        if rule.get("cidr_ipv4") == cidr
    }
    assert from_cidr == {(443, 443)}  # the interface endpoints only
    own = _vpc_cidr(default_stack)
    from_own_cidr = {
        (rule["from_port"], rule["to_port"])
        for rule in resources(default_stack, "aws_vpc_security_group_ingress_rule").values()
        if rule.get("cidr_ipv4") == own
    }
    assert from_own_cidr == {(443, 443), (8545, 8545), (8546, 8546), (METRICS_PORT, METRICS_PORT)}


def test_node_egress_only_to_nodes_and_the_vpc_endpoints(any_stack: StackJson) -> None:
    egress = {
        _summary(any_stack, r)
        for r in _rules(
            any_stack, "aws_vpc_security_group_egress_rule", "network/node_security_group"
        )
    }
    gateway = address_of(any_stack, "aws_vpc_endpoint", "network/gateway_endpoint")
    assert egress == {
        ("tcp", P2P_PORT, P2P_PORT, "network/node_security_group", False),
        ("udp", P2P_PORT, P2P_PORT, "network/node_security_group", False),
        ("tcp", 443, 443, "network/endpoint_security_group", False),
        ("tcp", 443, 443, "${" + gateway + "[each.key].prefix_list_id}", False),
    }
    via_prefix_list = resource_at(
        any_stack, "aws_vpc_security_group_egress_rule", "network/node_https_to_gateway_endpoints"
    )
    assert via_prefix_list["for_each"] == _toset(gateway_services())


def test_health_checker_group_reaches_the_admin_port_and_nothing_else_on_the_nodes(
    any_stack: StackJson,
) -> None:
    assert not _rules(
        any_stack, "aws_vpc_security_group_ingress_rule", "network/health_checker_security_group"
    )
    egress = {
        _summary(any_stack, r)
        for r in _rules(
            any_stack, "aws_vpc_security_group_egress_rule", "network/health_checker_security_group"
        )
    }
    to_nodes = {e for e in egress if e[3] == "network/node_security_group"}
    assert to_nodes == {
        ("tcp", ADMIN_RPC_PORT, ADMIN_RPC_PORT, "network/node_security_group", False)
    }
    admin = [
        r
        for r in resources(any_stack, "aws_vpc_security_group_ingress_rule").values()
        if r.get("from_port") == ADMIN_RPC_PORT
    ]
    assert [_summary(any_stack, r)[3] for r in admin] == ["network/health_checker_security_group"]


def test_every_rule_has_a_description_and_no_inline_rules_are_used(any_stack: StackJson) -> None:
    for kind in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        for name, rule in resources(any_stack, kind).items():
            assert len(rule.get("description", "")) > 10, name
    assert "aws_security_group_rule" not in any_stack["resource"]
    for group in resources(any_stack, "aws_security_group").values():
        assert "ingress" not in group and "egress" not in group
        assert group["name"].startswith("besu-")


def test_no_security_group_admits_the_internet(any_stack: StackJson) -> None:
    """Scan every rule and group in the stack, whatever its type, for open ingress."""
    kinds = (
        "aws_vpc_security_group_ingress_rule",
        "aws_security_group_rule",
        "aws_security_group",
        "aws_default_security_group",
    )
    scanned = 0
    for kind in kinds:
        for name, item in resources(any_stack, kind).items():
            if kind == "aws_security_group_rule" and item.get("type") != "ingress":
                continue
            blocks = item.get("ingress", [item]) if kind.endswith("group") else [item]
            for block in blocks:
                scanned += 1
                text = json.dumps(block)
                assert not any(cidr in text for cidr in OPEN), (kind, name)
    assert scanned >= 8
    # Egress is as narrow: no rule sends anywhere on the internet either.
    for name, rule in resources(any_stack, "aws_vpc_security_group_egress_rule").items():
        assert rule.get("cidr_ipv4") not in OPEN and rule.get("cidr_ipv6") not in OPEN, name


# --- existing VPC -----------------------------------------------------------------------------


def test_existing_vpc_mode_creates_nothing_of_the_network_and_uses_the_variables(
    default_stack: StackJson, existing_stack: StackJson
) -> None:
    created_types, existing_types = set(default_stack["resource"]), set(existing_stack["resource"])
    assert created_types - existing_types == NETWORK_CREATING_TYPES
    assert existing_types <= created_types
    assert "aws_availability_zones" not in existing_stack["data"]
    (vpc,) = existing_stack["data"]["aws_vpc"].values()
    assert vpc["id"] == "${var.existing_vpc_id}"
    endpoint = resource_at(existing_stack, "aws_vpc_endpoint", "network/interface_endpoint")
    assert endpoint["vpc_id"] == "${var.existing_vpc_id}"
    assert endpoint["subnet_ids"] == "${var.existing_subnet_ids}"
    for group in resources(existing_stack, "aws_security_group").values():
        assert group["vpc_id"] == "${var.existing_vpc_id}"
    outputs = existing_stack["output"]
    assert outputs["vpc_id"]["value"] == "${var.existing_vpc_id}"
    assert outputs["subnet_ids"]["value"] == "${var.existing_subnet_ids}"


def test_existing_vpc_rules_use_the_vpcs_own_cidr(existing_stack: StackJson) -> None:
    vpc = address_of(existing_stack, "aws_vpc", "network/existing_vpc", block="data")
    assert _vpc_cidr(existing_stack) == "${" + vpc + ".cidr_block}"


def test_existing_vpc_flow_logs_cover_the_networks_subnets_only(existing_stack: StackJson) -> None:
    flow_log = resource_at(existing_stack, "aws_flow_log", "network/flow_log")
    assert flow_log["count"] == "${length(var.existing_subnet_ids)}"
    assert flow_log["subnet_id"] == "${element(var.existing_subnet_ids, count.index)}"
    assert "vpc_id" not in flow_log
    group = resource_at(existing_stack, "aws_cloudwatch_log_group", "network/flow_log_group")
    assert group["kms_key_id"].startswith("${aws_kms_key.")


def test_both_modes_declare_only_their_own_network_variables(
    default_stack: StackJson, existing_stack: StackJson
) -> None:
    assert {"vpc_cidr", "availability_zone_count"} <= set(default_stack["variable"])
    assert not {"existing_vpc_id", "existing_subnet_ids"} & set(default_stack["variable"])
    assert {"existing_vpc_id", "existing_subnet_ids"} <= set(existing_stack["variable"])
    assert not {"vpc_cidr", "availability_zone_count"} & set(existing_stack["variable"])


def test_network_outputs_are_documented(any_stack: StackJson) -> None:
    outputs = any_stack["output"]
    for name in (
        "vpc_id",
        "vpc_cidr_block",
        "subnet_ids",
        "node_security_group_id",
        "vpc_endpoint_security_group_id",
        "health_checker_security_group_id",
        "flow_log_group_name",
    ):
        assert outputs[name]["description"].endswith("."), name
    assert outputs["health_checker_security_group_id"]["value"] == ref(
        any_stack, "aws_security_group", "network/health_checker_security_group", "id"
    )


def test_synthesized_expressions_are_well_formed(any_stack: StackJson) -> None:
    """cdktf renders some literals inside functions as `undefined` and nests `${` when a raw
    expression string is passed to a function; neither is valid HCL."""
    text = json.dumps(any_stack)
    assert "undefined" not in text
    for value in _strings(any_stack):
        assert not _nested_interpolation(value), value


def _nested_interpolation(value: str) -> bool:
    """Whether a ``${`` opens inside another ``${...}`` (HCL object braces are tracked apart)."""
    depth = braces = 0
    i = 0
    while i < len(value):
        if value.startswith("${", i):
            if depth:
                return True
            depth, i = 1, i + 2
            continue
        if depth and value[i] == "{":
            braces += 1
        elif depth and value[i] == "}":
            if braces:
                braces -= 1
            else:
                depth = 0
        i += 1
    return False


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _vpc_cidr(stack: StackJson) -> str:
    rule = resource_at(
        stack, "aws_vpc_security_group_ingress_rule", "network/endpoints_https_from_vpc"
    )
    cidr: str = rule["cidr_ipv4"]
    return cidr
