"""How applications reach the JSON-RPC API: an internal NLB behind a VPC endpoint service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf import Fn, Op, TerraformCount, TerraformLocal, Token
from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import LbListener, LbListenerDefaultAction
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_endpoint_service import VpcEndpointService
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import (
    VpcSecurityGroupIngressRule,
)
from constructs import Construct

from besu_stack.constructs.iam import Statement
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey
from besu_stack.constructs.ports import RPC_HTTP_PORT, RPC_WS_PORT
from besu_stack.constructs.state_bucket import SecureBucket

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""TLS 1.3 and 1.2 with forward-secret ciphers only: the policy of TLS listeners."""

ACCESS_LOG_PREFIX = "nlb"


@dataclass(frozen=True)
class ReadinessCheck:
    """The target group health check: Besu's ``/readiness`` on the HTTP RPC port.

    Besu answers 200 when the node has at least ``min_peers`` peers and is at most
    ``max_blocks_behind`` blocks behind its best peer, 503 otherwise. A target becomes healthy
    after ``healthy_threshold`` passing checks ``interval_seconds`` apart, unhealthy after
    ``unhealthy_threshold`` failing ones.
    """

    min_peers: float = 1
    max_blocks_behind: float = 2
    interval_seconds: float = 10
    healthy_threshold: float = 3
    unhealthy_threshold: float = 3

    @property
    def path(self) -> str:
        """The health check path with explicit query parameters."""
        return f"/readiness?minPeers={_num(self.min_peers)}&maxBlocksBehind={_num(self.max_blocks_behind)}"


class PrivateLink(Construct):
    """The JSON-RPC API, offered to other VPCs and accounts through AWS PrivateLink only.

    An internal Network Load Balancer across ``subnet_ids`` (cross-zone load balancing on) with a
    listener on the RPC port and, when ``ws_enabled`` is true at plan time, one on the WS port.
    Listeners are TCP when ``certificate_arn`` is empty and TLS (policy :data:`TLS_POLICY`)
    with that ACM certificate otherwise. Their target groups (instance targets, registered later
    by the fleet) check Besu's ``/readiness`` on the HTTP RPC port (:class:`ReadinessCheck`) and
    drain for ``deregistration_delay_seconds``.

    The NLB's security group admits the listener ports from ``direct_clients_cidr`` only (none
    when it is ``None``: in an existing, shared VPC other workloads must not reach the RPC
    around the endpoint service's allow-list) and may send only to the nodes' security group,
    which in turn admits the RPC ports from the NLB's group only.
    Traffic from PrivateLink is not evaluated against the NLB's inbound rules
    (``enforce_security_group_inbound_rules_on_private_link_traffic = "off"``): its source is
    the consumer's own private address in another VPC, unknown here. Access through PrivateLink
    is governed instead by the endpoint service's ``allowed_principals`` and, by default,
    ``acceptance_required`` (the owner accepts each connection).

    NLB access logs (written for TLS listeners only; AWS records no TCP access logs) go to a
    private bucket encrypted with ``key`` whose objects expire after
    ``log_retention_days``; the bucket exists even when ``access_logs_enabled`` is false.

    Attributes: ``nlb_arn``, ``nlb_dns_name``, ``security_group_id``, ``rpc_target_group_arn``,
    ``ws_target_group_arn`` (null when WS is disabled), ``target_group_arns`` (all of them),
    ``endpoint_service_id``, ``endpoint_service_name``, ``access_log_bucket_name``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        vpc_id: str,
        direct_clients_cidr: str | None,
        subnet_ids: Sequence[str],
        node_security_group_id: str,
        key: EncryptionKey,
        allowed_principals: Sequence[str],
        acceptance_required: bool | Any = True,
        private_dns_name: str = "",
        ws_enabled: bool | Any = False,
        certificate_arn: str = "",
        readiness: ReadinessCheck | None = None,
        deregistration_delay_seconds: float = 30,
        deletion_protection: bool | Any = True,
        access_logs_enabled: bool | Any = True,
        log_retention_days: float = 365,
    ) -> None:
        super().__init__(scope, id)
        naming, platform = identity.naming, identity.platform
        readiness = readiness or ReadinessCheck()
        ws_count = Token.as_number(Fn.conditional(ws_enabled, 1, 0))
        # Op.eq(x, "") would render the empty string as `undefined`: test the length instead.
        plain_tcp = Op.lt(Fn.length_of(certificate_arn), 1)

        self.security_group = SecurityGroup(
            self,
            "nlb_security_group",
            name=naming.name("rpc-nlb"),
            description="JSON-RPC NLB: listener ports from inside the VPC, forwards to the nodes",
            vpc_id=vpc_id,
            tags={"Name": naming.name("rpc-nlb")},
        )
        self.security_group_id: str = self.security_group.id
        self._open_port(
            "rpc", RPC_HTTP_PORT, direct_clients_cidr, node_security_group_id, count=None
        )
        self._open_port(
            "ws", RPC_WS_PORT, direct_clients_cidr, node_security_group_id, count=ws_count
        )

        account = platform.account_id
        self.access_logs = SecureBucket(
            self,
            "access_logs",
            bucket_name=f"{naming.name('rpc-logs')}-{account}-{platform.region}",
            encryption_key=key,
            noncurrent_days=30,
            expiration_days=log_retention_days,
            extra_statements=lambda arn: _log_delivery_statements(arn, identity),
        )
        self.access_log_bucket_name: str = self.access_logs.bucket_name

        self.nlb = Lb(
            self,
            "nlb",
            name=naming.name("rpc"),
            internal=True,
            load_balancer_type="network",
            subnets=list(subnet_ids),
            security_groups=[self.security_group_id],
            enforce_security_group_inbound_rules_on_private_link_traffic="off",
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=deletion_protection,
            ip_address_type="ipv4",
            access_logs=LbAccessLogs(
                bucket=self.access_logs.bucket.id,
                enabled=access_logs_enabled,
                prefix=ACCESS_LOG_PREFIX,
            ),
            depends_on=[self.access_logs.policy],
        )
        self.nlb_arn: str = self.nlb.arn
        self.nlb_dns_name: str = self.nlb.dns_name

        target_group = _target_group_settings(vpc_id, readiness, deregistration_delay_seconds)
        self.rpc_target_group = LbTargetGroup(
            self, "rpc_target_group", name=naming.name("rpc"), port=RPC_HTTP_PORT, **target_group
        )
        self.ws_target_group = LbTargetGroup(
            self,
            "ws_target_group",
            count=TerraformCount.of(ws_count),
            name=naming.name("ws"),
            port=RPC_WS_PORT,
            **target_group,
        )
        ws_target_group = _address(self.ws_target_group)
        self.rpc_target_group_arn: str = self.rpc_target_group.arn
        # Locals turn the expressions over the counted target group into proper tokens.
        self.ws_target_group_arn: str = TerraformLocal(
            self, "ws_target_group_arn", f"${{one({ws_target_group}[*].arn)}}"
        ).as_string
        self.target_group_arns: list[str] = TerraformLocal(
            self,
            "target_group_arns",
            f"${{concat([{_address(self.rpc_target_group)}.arn], {ws_target_group}[*].arn)}}",
        ).as_list

        protocol = Token.as_string(Fn.conditional(plain_tcp, "TCP", "TLS"))
        ssl_policy = Token.as_string(Fn.conditional(plain_tcp, Token.null_value(), TLS_POLICY))
        certificate = Token.as_string(
            Fn.conditional(plain_tcp, Token.null_value(), certificate_arn)
        )
        LbListener(
            self,
            "rpc_listener",
            load_balancer_arn=self.nlb_arn,
            port=RPC_HTTP_PORT,
            protocol=protocol,
            ssl_policy=ssl_policy,
            certificate_arn=certificate,
            default_action=[
                LbListenerDefaultAction(type="forward", target_group_arn=self.rpc_target_group_arn)
            ],
        )
        LbListener(
            self,
            "ws_listener",
            count=TerraformCount.of(ws_count),
            load_balancer_arn=self.nlb_arn,
            port=RPC_WS_PORT,
            protocol=protocol,
            ssl_policy=ssl_policy,
            certificate_arn=certificate,
            default_action=[
                LbListenerDefaultAction(
                    type="forward", target_group_arn=f"${{{ws_target_group}[count.index].arn}}"
                )
            ],
        )

        self.endpoint_service = VpcEndpointService(
            self,
            "endpoint_service",
            acceptance_required=acceptance_required,
            allowed_principals=list(allowed_principals),
            network_load_balancer_arns=[self.nlb_arn],
            private_dns_name=Token.as_string(
                Fn.conditional(
                    Op.lt(Fn.length_of(private_dns_name), 1), Token.null_value(), private_dns_name
                )
            ),
            supported_ip_address_types=["ipv4"],
            tags={"Name": naming.name("rpc")},
        )
        self.endpoint_service_id: str = self.endpoint_service.id
        self.endpoint_service_name: str = self.endpoint_service.service_name

    def _open_port(
        self, what: str, port: int, clients_cidr: str | None, node_sg: str, count: float | None
    ) -> None:
        """Listener port from ``clients_cidr`` (if any) into the NLB, and to the nodes only."""
        counted: dict[str, Any] = {} if count is None else {"count": TerraformCount.of(count)}
        label = {"rpc": "JSON-RPC (HTTP)", "ws": "JSON-RPC (WebSocket)"}[what]
        if clients_cidr is not None:
            VpcSecurityGroupIngressRule(
                self,
                f"nlb_{what}_from_vpc",
                security_group_id=self.security_group_id,
                description=f"{label} from inside the VPC (PrivateLink traffic is not filtered here)",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=clients_cidr,
                **counted,
            )
        VpcSecurityGroupEgressRule(
            self,
            f"nlb_{what}_to_nodes",
            security_group_id=self.security_group_id,
            description=f"{label} to the nodes (and the readiness health check)"
            if what == "rpc"
            else f"{label} to the nodes",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=node_sg,
            **counted,
        )
        VpcSecurityGroupIngressRule(
            self,
            f"node_{what}_from_nlb",
            security_group_id=node_sg,
            description=f"{label} from the PrivateLink NLB only",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=self.security_group_id,
            **counted,
        )


def _target_group_settings(
    vpc_id: str, readiness: ReadinessCheck, deregistration_delay_seconds: float
) -> dict[str, Any]:
    return {
        "vpc_id": vpc_id,
        "protocol": "TCP",
        "target_type": "instance",
        # Sources are the NLB's addresses, so the nodes' security group can admit the NLB's group.
        "preserve_client_ip": "false",
        "deregistration_delay": Token.as_string(deregistration_delay_seconds),
        "connection_termination": True,
        "health_check": LbTargetGroupHealthCheck(
            enabled=True,
            protocol="HTTP",
            port=str(RPC_HTTP_PORT),
            path=readiness.path,
            matcher="200",
            interval=readiness.interval_seconds,
            timeout=5,
            healthy_threshold=readiness.healthy_threshold,
            unhealthy_threshold=readiness.unhealthy_threshold,
        ),
    }


def _log_delivery_statements(bucket_arn: str, identity: NetworkIdentity) -> list[Statement]:
    """What ELB log delivery needs on the access-log bucket, for this account's NLBs only."""
    account = identity.platform.account_id
    condition = {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": identity.arn("logs", "*")},
    }
    return [
        {
            "Sid": "ElbLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": condition,
        },
        {
            "Sid": "ElbLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{ACCESS_LOG_PREFIX}/AWSLogs/{account}/*",
            "Condition": {
                **condition,
                "StringEquals": {
                    "aws:SourceAccount": account,
                    "s3:x-amz-acl": "bucket-owner-full-control",
                },
            },
        },
    ]


def _address(resource: LbTargetGroup) -> str:
    return f"{resource.terraform_resource_type}.{resource.friendly_unique_id}"


def _num(value: float) -> str:
    """A number (or number token) in a string: whole numbers without a trailing ``.0``."""
    if Token.is_unresolved(value):
        return Token.as_string(value)
    return str(int(value)) if float(value).is_integer() else str(value)
