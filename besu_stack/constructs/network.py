"""The network the nodes live in: an isolated VPC (or an existing one) and what it needs.

VPC endpoints, flow logs, and the security groups of the nodes, the VPC endpoints and the
health checker.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import Fn, TerraformCount, TerraformIterator, TerraformLocal, Token
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_availability_zones import (
    DataAwsAvailabilityZones,
    DataAwsAvailabilityZonesFilter,
)
from cdktf_cdktf_provider_aws.data_aws_route_tables import (
    DataAwsRouteTables,
    DataAwsRouteTablesFilter,
)
from cdktf_cdktf_provider_aws.data_aws_vpc import DataAwsVpc
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import (
    VpcSecurityGroupIngressRule,
)
from constructs import Construct

from besu_stack.constructs.endpoints import (
    gateway_endpoint_policy,
    gateway_services,
    interface_endpoint_policy,
    interface_services,
)
from besu_stack.constructs.iam import allow, policy_document
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey
from besu_stack.constructs.ports import ADMIN_RPC_PORT, HTTPS_PORT, METRICS_PORT, P2P_PORT

SUBNET_NEWBITS = 3
"""Each created subnet is 1/8 of the VPC CIDR (a /19 of a /16): room for 6 AZs plus two spare."""


@dataclass(frozen=True)
class CreatedVpc:
    """Create an isolated VPC: ``cidr`` split into one private subnet per availability zone."""

    cidr: str
    availability_zone_count: float


@dataclass(frozen=True)
class ExistingVpc:
    """Deploy into an existing VPC and its private subnets (one per availability zone)."""

    vpc_id: str
    subnet_ids: list[str]


class Network(Construct):
    """Where the nodes run, with no path to the internet.

    With :class:`CreatedVpc` a VPC with private subnets only is created (no internet or NAT
    gateway; its default security group denies everything). With :class:`ExistingVpc` nothing
    of the network itself is created; the given VPC and subnets are used, and the subnets need a
    route table associated explicitly (the S3 and DynamoDB gateway endpoint routes go there).

    In both cases: gateway endpoints for S3 and DynamoDB and interface endpoints (private DNS on)
    for every API in :mod:`besu_stack.constructs.endpoints`; flow logs (of the VPC, or of the
    given subnets) to a log group encrypted with ``key``; and four security groups:

    - nodes: p2p (TCP and UDP) from nodes, metrics from the VPC when it is the network's own
      (not from an existing, shared VPC), the internal RPC port from the health checker; egress only to nodes (p2p), the interface endpoints and the gateway
      endpoints' prefix lists. The RPC ports are opened by :class:`PrivateLink` from its NLB.
    - VPC endpoints: HTTPS from the VPC CIDR only.
    - health checker (for the Lambda added later): no ingress; egress to the nodes' admin RPC
      port and to the endpoints.
    - control plane (Lambdas that only call AWS APIs): no ingress; egress to the endpoints only.

    Attributes: ``vpc_id``, ``vpc_cidr``, ``owns_vpc``, ``subnet_ids``, ``node_security_group_id``,
    ``endpoint_security_group_id``, ``health_checker_security_group_id``,
    ``control_plane_security_group_id``,
    ``flow_log_group_name``, ``interface_endpoint_services``, ``gateway_endpoint_services``.
    """

    vpc_id: str
    vpc_cidr: str
    subnet_ids: list[str]

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        vpc: CreatedVpc | ExistingVpc,
        key: EncryptionKey,
        log_retention_days: float,
    ) -> None:
        super().__init__(scope, id)
        naming, platform = identity.naming, identity.platform
        self._naming = naming
        self._identity = identity
        self.owns_vpc = isinstance(vpc, CreatedVpc)
        """Whether the VPC is the network's own (created here) rather than an existing one."""
        if isinstance(vpc, CreatedVpc):
            route_table_ids = self._create_vpc(vpc)
        else:
            route_table_ids = self._use_existing_vpc(vpc)

        self._flow_logs(key, log_retention_days, isinstance(vpc, CreatedVpc))

        self.node_security_group = SecurityGroup(
            self,
            "node_security_group",
            name=naming.name("node"),
            description="Besu nodes: p2p between nodes, RPC from the NLB, metrics from the VPC",
            vpc_id=self.vpc_id,
            tags={"Name": naming.name("node")},
        )
        self.endpoint_security_group = SecurityGroup(
            self,
            "endpoint_security_group",
            name=naming.name("vpc-endpoints"),
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            vpc_id=self.vpc_id,
            tags={"Name": naming.name("vpc-endpoints")},
        )
        self.health_checker_security_group = SecurityGroup(
            self,
            "health_checker_security_group",
            name=naming.name("health-checker"),
            description="Health checker Lambda: reaches the nodes' admin RPC port and AWS APIs",
            vpc_id=self.vpc_id,
            tags={"Name": naming.name("health-checker")},
        )
        self.control_plane_security_group = SecurityGroup(
            self,
            "control_plane_security_group",
            name=naming.name("control-plane"),
            description="Lambdas that only call AWS APIs (key generation, lifecycle hooks)",
            vpc_id=self.vpc_id,
            tags={"Name": naming.name("control-plane")},
        )
        self.node_security_group_id: str = self.node_security_group.id
        self.control_plane_security_group_id: str = self.control_plane_security_group.id
        self.endpoint_security_group_id: str = self.endpoint_security_group.id
        self.health_checker_security_group_id: str = self.health_checker_security_group.id

        self.gateway_endpoint_services = gateway_services()
        self.interface_endpoint_services = interface_services()
        gateway_policies = TerraformLocal(
            self,
            "gateway_endpoint_policies",
            {
                service: gateway_endpoint_policy(service, platform)
                for service in self.gateway_endpoint_services
            },
        )
        gateways = TerraformIterator.from_list(self.gateway_endpoint_services)
        self.gateway_endpoints = VpcEndpoint(
            self,
            "gateway_endpoint",
            for_each=gateways,
            vpc_id=self.vpc_id,
            vpc_endpoint_type="Gateway",
            service_name=f"com.amazonaws.{platform.region}.{Token.as_string(gateways.value)}",
            route_table_ids=route_table_ids,
            policy=Fn.lookup(gateway_policies.as_any_map, Token.as_string(gateways.value)),
            tags={"Name": f"{naming.name('endpoint')}-{Token.as_string(gateways.value)}"},
        )
        interfaces = TerraformIterator.from_list(self.interface_endpoint_services)
        self.interface_endpoints = VpcEndpoint(
            self,
            "interface_endpoint",
            for_each=interfaces,
            vpc_id=self.vpc_id,
            vpc_endpoint_type="Interface",
            service_name=f"com.amazonaws.{platform.region}.{Token.as_string(interfaces.value)}",
            private_dns_enabled=True,
            subnet_ids=self.subnet_ids,
            security_group_ids=[self.endpoint_security_group_id],
            policy=interface_endpoint_policy(platform.account_id),
            tags={"Name": f"{naming.name('endpoint')}-{Token.as_string(interfaces.value)}"},
        )

        self._security_group_rules()

    # --- VPC ---------------------------------------------------------------------------------

    def _create_vpc(self, props: CreatedVpc) -> list[str]:
        naming = self._naming
        zones = DataAwsAvailabilityZones(
            self,
            "zones",
            state="available",
            filter=[
                DataAwsAvailabilityZonesFilter(name="opt-in-status", values=["opt-in-not-required"])
            ],
        )
        self.vpc = Vpc(
            self,
            "vpc",
            cidr_block=props.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": naming.name("vpc")},
        )
        # No ingress or egress blocks: Terraform removes every rule, so nothing that lands in the
        # default group by accident can talk to anything.
        DefaultSecurityGroup(
            self,
            "default_security_group",
            vpc_id=self.vpc.id,
            tags={"Name": naming.name("default-deny-all")},
        )
        per_zone = TerraformCount.of(props.availability_zone_count)
        subnets = Subnet(
            self,
            "private_subnet",
            count=per_zone,
            vpc_id=self.vpc.id,
            availability_zone=Fn.element(zones.names, per_zone.index),
            cidr_block=Fn.cidrsubnet(props.cidr, SUBNET_NEWBITS, per_zone.index),
            map_public_ip_on_launch=False,
            tags={"Name": f"{naming.name('private')}-${{count.index}}"},
        )
        # One route table with only the local route (and the gateway endpoints' routes): there is
        # no route to an internet or NAT gateway because there is none.
        route_table = RouteTable(
            self,
            "private_route_table",
            vpc_id=self.vpc.id,
            tags={"Name": naming.name("private")},
        )
        # A local holds the splat so that the list is a proper token: functions applied to it
        # (length, element, ...) then render as valid HCL.
        self.subnet_ids = TerraformLocal(
            self,
            "subnet_ids",
            f"${{{subnets.terraform_resource_type}.{subnets.friendly_unique_id}[*].id}}",
        ).as_list
        per_subnet = TerraformCount.of(props.availability_zone_count)
        RouteTableAssociation(
            self,
            "private_route_table_association",
            count=per_subnet,
            subnet_id=Fn.element(self.subnet_ids, per_subnet.index),
            route_table_id=route_table.id,
        )
        self.vpc_id = self.vpc.id
        self.vpc_cidr = self.vpc.cidr_block
        return [route_table.id]

    def _use_existing_vpc(self, props: ExistingVpc) -> list[str]:
        existing = DataAwsVpc(self, "existing_vpc", id=props.vpc_id)
        route_tables = DataAwsRouteTables(
            self,
            "existing_route_tables",
            vpc_id=props.vpc_id,
            filter=[
                DataAwsRouteTablesFilter(name="association.subnet-id", values=props.subnet_ids)
            ],
        )
        self.vpc_id = props.vpc_id
        self.vpc_cidr = existing.cidr_block
        self.subnet_ids = props.subnet_ids
        ids: list[str] = route_tables.ids
        return ids

    # --- flow logs ---------------------------------------------------------------------------

    def _flow_logs(self, key: EncryptionKey, retention_days: float, whole_vpc: bool) -> None:
        naming = self._naming
        platform = self._identity.platform
        log_group = CloudwatchLogGroup(
            self,
            "flow_log_group",
            name=naming.name("vpc-flow-logs"),
            kms_key_id=key.key_arn,
            retention_in_days=retention_days,
        )
        self.flow_log_group_name: str = log_group.name
        account = platform.account_id
        role = IamRole(
            self,
            "flow_log_role",
            name=naming.name("vpc-flow-logs"),
            description="VPC Flow Logs delivers the network's flow logs to CloudWatch Logs",
            assume_role_policy=policy_document(
                [
                    {
                        "Sid": "VpcFlowLogsOfThisAccount",
                        "Effect": "Allow",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": account},
                            "ArnLike": {"aws:SourceArn": self._identity.flow_logs_arn},
                        },
                    }
                ]
            ),
        )
        IamRolePolicy(
            self,
            "flow_log_role_policy",
            name=naming.name("flow-logs-delivery"),
            role=role.id,
            policy=policy_document(
                [
                    allow(
                        ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                        [f"{log_group.arn}:*"],
                        "WriteThisLogGroup",
                    )
                ]
            ),
        )
        common = {
            "iam_role_arn": role.arn,
            "log_destination_type": "cloud-watch-logs",
            "log_destination": log_group.arn,
            "traffic_type": "ALL",
            "max_aggregation_interval": 60,
        }
        if whole_vpc:
            FlowLog(
                self, "flow_log", vpc_id=self.vpc_id, tags={"Name": naming.name("vpc")}, **common
            )
        else:
            # An existing VPC may hold other workloads: log the network's own subnets only.
            per_subnet = TerraformCount.of(Fn.length_of(self.subnet_ids))
            FlowLog(
                self,
                "flow_log",
                count=per_subnet,
                subnet_id=Fn.element(self.subnet_ids, per_subnet.index),
                tags={"Name": naming.name("subnet")},
                **common,
            )

    # --- security group rules ----------------------------------------------------------------

    def _security_group_rules(self) -> None:
        node = self.node_security_group_id
        endpoints = self.endpoint_security_group_id
        checker = self.health_checker_security_group_id

        for protocol in ("tcp", "udp"):
            VpcSecurityGroupIngressRule(
                self,
                f"node_p2p_{protocol}_from_nodes",
                security_group_id=node,
                description=f"Besu p2p ({protocol.upper()}) from other nodes",
                ip_protocol=protocol,
                from_port=P2P_PORT,
                to_port=P2P_PORT,
                referenced_security_group_id=node,
            )
            VpcSecurityGroupEgressRule(
                self,
                f"node_p2p_{protocol}_to_nodes",
                security_group_id=node,
                description=f"Besu p2p ({protocol.upper()}) to other nodes",
                ip_protocol=protocol,
                from_port=P2P_PORT,
                to_port=P2P_PORT,
                referenced_security_group_id=node,
            )
        if self.owns_vpc:
            # Only in a VPC of the network's own: in an existing (shared) VPC the CIDR holds
            # other workloads; an operator's scraper is admitted by a rule of theirs on the
            # node security group (output node_security_group_id).
            VpcSecurityGroupIngressRule(
                self,
                "node_metrics_from_vpc",
                security_group_id=node,
                description="Besu Prometheus metrics from inside the network's VPC",
                ip_protocol="tcp",
                from_port=METRICS_PORT,
                to_port=METRICS_PORT,
                cidr_ipv4=self.vpc_cidr,
            )
        VpcSecurityGroupIngressRule(
            self,
            "node_admin_rpc_from_health_checker",
            security_group_id=node,
            description="Besu admin JSON-RPC from the health checker only",
            ip_protocol="tcp",
            from_port=ADMIN_RPC_PORT,
            to_port=ADMIN_RPC_PORT,
            referenced_security_group_id=checker,
        )
        VpcSecurityGroupEgressRule(
            self,
            "health_checker_admin_rpc_to_nodes",
            security_group_id=checker,
            description="Besu admin JSON-RPC on the nodes",
            ip_protocol="tcp",
            from_port=ADMIN_RPC_PORT,
            to_port=ADMIN_RPC_PORT,
            referenced_security_group_id=node,
        )
        VpcSecurityGroupIngressRule(
            self,
            "endpoints_https_from_vpc",
            security_group_id=endpoints,
            description="HTTPS to the AWS APIs from inside the VPC",
            ip_protocol="tcp",
            from_port=HTTPS_PORT,
            to_port=HTTPS_PORT,
            cidr_ipv4=self.vpc_cidr,
        )
        gateways = TerraformIterator.from_list(self.gateway_endpoint_services)
        gateway_ref = f"{self.gateway_endpoints.terraform_resource_type}.{self.gateway_endpoints.friendly_unique_id}"
        control_plane = self.control_plane_security_group_id
        for who, group in (
            ("node", node),
            ("health_checker", checker),
            ("control_plane", control_plane),
        ):
            VpcSecurityGroupEgressRule(
                self,
                f"{who}_https_to_interface_endpoints",
                security_group_id=group,
                description="HTTPS to the interface VPC endpoints (AWS APIs)",
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                referenced_security_group_id=endpoints,
            )
            VpcSecurityGroupEgressRule(
                self,
                f"{who}_https_to_gateway_endpoints",
                for_each=gateways,
                security_group_id=group,
                description=f"HTTPS to {Token.as_string(gateways.value)} through its gateway endpoint",
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                prefix_list_id=f"${{{gateway_ref}[each.key].prefix_list_id}}",
            )
