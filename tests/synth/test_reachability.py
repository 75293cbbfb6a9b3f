"""Every AWS API a function or the host bootstrap calls has a network path from where it runs.

The services each caller uses are derived from the code, not listed by hand: an AST scan of the
function's package (and of the shared kernel it imports) for ``aws_client("<service>")``, the
one client factory (``besu_stack.lambda_kernel.aws``), and a scan of the host bootstrap script
for ``aws <service> ...`` CLI calls. The synthesized network then has to offer a path to each:

* a function outside any VPC reaches every public AWS endpoint through Lambda's own network
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html);
* a function (or host) in the isolated subnets, which have no internet or NAT gateway, needs a
  VPC endpoint for the service *and* an egress rule of its security group to it (443 to the
  interface endpoints' group, or to the gateway endpoint's prefix list). Route 53's API offers
  no VPC endpoint (it is not among
  https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html),
  so a caller of ``route53`` must run outside the VPC.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from besu_stack.constructs.fleet.host_bootstrap import host_bootstrap_script
from tests.conftest import StackJson, resources

pytestmark = pytest.mark.synth

REPO = Path(__file__).resolve().parents[2]
LAMBDA_SRC = REPO / "lambda_src"
KERNEL = REPO / "besu_stack" / "lambda_kernel"

ENDPOINT_SERVICE = {"cloudwatch": "monitoring"}
"""boto3 service name -> VPC endpoint service suffix, where they differ."""

NO_VPC_ENDPOINT = frozenset({"route53"})
"""Services whose API has no VPC endpoint (see the module docstring)."""

FUNCTION_PACKAGE = {
    "launch-hook": "lifecycle",
    "terminate-hook": "lifecycle",
    "reconciler": "lifecycle",
    "health": "health",
    "keygen": "keygen",
}
"""Function name suffix -> the ``lambda_src`` package it is built from."""


def services_called(package: Path) -> set[str]:
    """Every literal ``aws_client("<service>")`` in the package's modules."""
    found: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name != "aws_client":
                continue
            assert node.args and isinstance(node.args[0], ast.Constant), (
                f"{path}: aws_client() must name its service with a literal"
            )
            found.add(str(node.args[0].value))
    return found


def raw_boto3_clients(package: Path) -> list[str]:
    """Client constructions that bypass the factory.

    ``boto3.client(...)``/``boto3.resource(...)``, and a botocore session's
    ``create_client(...)`` (what the factory itself calls).
    """
    hits = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            boto3_call = (
                node.func.attr in ("client", "resource")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "boto3"
            )
            if boto3_call or node.func.attr == "create_client":
                hits.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return hits


def bootstrap_services() -> set[str]:
    """Services the host bootstrap calls with the AWS CLI (``aws [--opt value] <service>``), at
    the start of a line or in a command substitution (``$(aws ...)``)."""
    script = host_bootstrap_script(cluster_name="c", wait_seconds=60, rpc_token_key="alias/k")
    pattern = re.compile(
        r'(?m)(?:^\s*|\$\()aws\s+(?:--[a-z-]+\s+(?:"[^"]*"|\S+)\s+)*([a-z0-9-]+)\s'
    )
    return set(pattern.findall(script))


def _toset(expression: str) -> set[str]:
    match = re.fullmatch(r"\$\{toset\(\[(.*)\]\)\}", expression)
    assert match, f"unexpected for_each {expression!r}"
    return {item.strip().strip('"') for item in match.group(1).split(",")}


def _address(kind: str, logical_id: str) -> str:
    return f"{kind}.{logical_id}"


class Network:
    """The endpoints and security-group egress of a synthesized network stack."""

    def __init__(self, stack: StackJson) -> None:
        endpoints = resources(stack, "aws_vpc_endpoint")
        self.interface: set[str] = set()
        self.gateway: set[str] = set()
        self.gateway_address = ""
        self.interface_groups: set[str] = set()
        for logical_id, endpoint in endpoints.items():
            services = _toset(endpoint["for_each"])
            if endpoint["vpc_endpoint_type"] == "Interface":
                self.interface |= services
                self.interface_groups |= set(endpoint["security_group_ids"])
            elif endpoint["vpc_endpoint_type"] == "Gateway":
                self.gateway |= services
                self.gateway_address = _address("aws_vpc_endpoint", logical_id)
        self.egress = list(resources(stack, "aws_vpc_security_group_egress_rule").values())

    def _https(self, rule: dict[str, Any]) -> bool:
        return rule["ip_protocol"] == "tcp" and rule["from_port"] <= 443 <= rule["to_port"]

    def reaches(self, group_ref: str, service: str) -> bool:
        """Whether members of ``group_ref`` have a path to ``service``'s endpoint."""
        suffix = ENDPOINT_SERVICE.get(service, service)
        group_id = group_ref.removesuffix(".id}") + ".id}"
        rules = [r for r in self.egress if r["security_group_id"] == group_id and self._https(r)]
        if suffix in self.gateway:
            return any(
                self.gateway_address in r.get("prefix_list_id", "")
                and suffix in _toset(r["for_each"])
                for r in rules
            )
        if suffix in self.interface:
            return any(
                r.get("referenced_security_group_id") in self.interface_groups for r in rules
            )
        return False


def _function(stack: StackJson, suffix: str) -> dict[str, Any]:
    found = [
        f
        for f in resources(stack, "aws_lambda_function").values()
        if f["function_name"].endswith("-" + suffix)
    ]
    assert len(found) == 1, f"expected one function *-{suffix}"
    return found[0]


def test_the_scan_finds_what_the_functions_call() -> None:
    """The scan is not vacuous: each package calls what its stores obviously wrap."""
    assert {"dynamodb", "ec2", "route53", "secretsmanager", "autoscaling", "cloudwatch"} <= (
        services_called(LAMBDA_SRC / "lifecycle")
    )
    assert {"dynamodb", "ecs", "autoscaling", "cloudwatch", "kms"} <= services_called(
        LAMBDA_SRC / "health"
    )
    assert {"secretsmanager", "dynamodb", "s3"} <= services_called(LAMBDA_SRC / "keygen")
    # kms: the RPC token key's public key; ec2: the load balancer's interfaces.
    assert {"s3", "secretsmanager", "kms", "ec2"} <= bootstrap_services()


def test_every_client_comes_from_the_shared_factory() -> None:
    """A client built around the factory would escape both the scan and the timeouts."""
    assert raw_boto3_clients(LAMBDA_SRC) == []
    assert [hit.split(":")[0] for hit in raw_boto3_clients(KERNEL)] == [
        "besu_stack/lambda_kernel/aws.py"  # the factory itself
    ]


@pytest.mark.parametrize("suffix", sorted(FUNCTION_PACKAGE))
def test_every_function_reaches_every_service_it_calls(
    default_stack: StackJson, suffix: str
) -> None:
    function = _function(default_stack, suffix)
    services = services_called(LAMBDA_SRC / FUNCTION_PACKAGE[suffix])
    vpc = function.get("vpc_config")
    if vpc is None:
        return  # outside any VPC: every public AWS endpoint is reachable
    network = Network(default_stack)
    (group,) = vpc["security_group_ids"]
    unreachable = sorted(
        s for s in services if s in NO_VPC_ENDPOINT or not network.reaches(group, s)
    )
    assert unreachable == [], f"{function['function_name']} cannot reach {unreachable}"


def test_lifecycle_functions_run_outside_the_vpc(default_stack: StackJson) -> None:
    """They call Route 53's API, which no VPC endpoint serves (finding 1 of issue 12)."""
    assert "route53" in services_called(LAMBDA_SRC / "lifecycle")
    for suffix in ("launch-hook", "terminate-hook", "reconciler"):
        assert _function(default_stack, suffix).get("vpc_config") is None


def test_the_health_checker_stays_in_the_vpc(default_stack: StackJson) -> None:
    """It reads the nodes' internal JSON-RPC port, so its AWS calls need endpoints."""
    assert _function(default_stack, "health").get("vpc_config") is not None


def test_the_host_bootstrap_reaches_every_service_it_calls(default_stack: StackJson) -> None:
    network = Network(default_stack)
    templates = list(resources(default_stack, "aws_launch_template").values())
    assert len(templates) == 1
    groups = templates[0].get("vpc_security_group_ids") or [
        g for ni in templates[0].get("network_interfaces", []) for g in ni["security_groups"]
    ]
    assert groups, "the launch template names no security group"
    unreachable = sorted(
        s
        for s in bootstrap_services()
        if s in NO_VPC_ENDPOINT or not any(network.reaches(g, s) for g in groups)
    )
    assert unreachable == []
