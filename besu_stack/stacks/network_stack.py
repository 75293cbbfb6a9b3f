"""The network stack: one Besu BFT network and everything it runs on."""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from besu_stack.constructs.naming import Naming
from besu_stack.constructs.network import CreatedVpc, ExistingVpc, Network
from besu_stack.constructs.network_key import NetworkKey
from besu_stack.constructs.platform import Platform
from besu_stack.constructs.private_link import PrivateLink, ReadinessCheck
from besu_stack.constructs.registry import ValidatorRegistry
from besu_stack.constructs.validator_keys import ValidatorKeys, genesis_options_json
from besu_stack.settings import Settings
from besu_stack.stacks.backend import configure_backend
from besu_stack.stacks.inputs import NetworkInputs
from besu_stack.stacks.provider import configure_aws_provider


class BesuNetworkStack(TerraformStack):
    """A complete Besu network in one Terraform root module.

    The shape comes from ``settings`` (synth time); values come from Terraform variables (plan
    time, see :mod:`besu_stack.stacks.inputs`). With ``with_backend=False`` no backend block is
    written, which is how the registry modules are built (their consumer owns the state).
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: Settings, with_backend: bool = True
    ) -> None:
        super().__init__(scope, id)
        self.settings = settings
        self.naming = Naming(settings.network_name)
        self.node_domain = f"{settings.network_name}.besu.internal"
        """Private DNS domain of the nodes: slot i is ``validator-<i>.<node_domain>``."""
        self.inputs = NetworkInputs(self, settings)
        configure_aws_provider(
            self,
            region=self.inputs.string("region"),
            network_name=settings.network_name,
            extra_tags=self.inputs.mapping("tags"),
        )
        if with_backend:
            configure_backend(self, settings.state, stack_name=id)

        self.platform = Platform(self, "platform")
        self.network_key = NetworkKey(
            self,
            "network_key",
            naming=self.naming,
            platform=self.platform,
            deletion_window_days=self.inputs.number("kms_deletion_window_days"),
            # ELB access-log delivery writes SSE-KMS objects to the PrivateLink log bucket.
            extra_service_principals=["delivery.logs.amazonaws.com"],
        )
        inputs = self.inputs
        vpc: CreatedVpc | ExistingVpc = (
            CreatedVpc(
                cidr=inputs.string("vpc_cidr"),
                availability_zone_count=inputs.number("availability_zone_count"),
            )
            if settings.vpc_mode == "create"
            else ExistingVpc(
                vpc_id=inputs.string("existing_vpc_id"),
                subnet_ids=inputs.strings("existing_subnet_ids"),
            )
        )
        self.network = Network(
            self,
            "network",
            naming=self.naming,
            platform=self.platform,
            vpc=vpc,
            kms_key_arn=self.network_key.key_arn,
            log_retention_days=inputs.number("log_retention_days"),
        )
        self.private_link = PrivateLink(
            self,
            "private_link",
            naming=self.naming,
            platform=self.platform,
            vpc_id=self.network.vpc_id,
            vpc_cidr=self.network.vpc_cidr,
            subnet_ids=self.network.subnet_ids,
            node_security_group_id=self.network.node_security_group_id,
            kms_key_arn=self.network_key.key_arn,
            allowed_principals=inputs.strings("privatelink_allowed_principals"),
            acceptance_required=inputs.boolean("privatelink_acceptance_required"),
            private_dns_name=inputs.string("privatelink_private_dns_name"),
            ws_enabled=inputs.boolean("rpc_ws_enabled"),
            certificate_arn=inputs.string("rpc_certificate_arn"),
            readiness=ReadinessCheck(
                min_peers=inputs.number("rpc_health_check_min_peers"),
                max_blocks_behind=inputs.number("rpc_health_check_max_blocks_behind"),
                interval_seconds=inputs.number("rpc_health_check_interval_seconds"),
                healthy_threshold=inputs.number("rpc_health_check_healthy_threshold"),
                unhealthy_threshold=inputs.number("rpc_health_check_unhealthy_threshold"),
            ),
            deregistration_delay_seconds=inputs.number("rpc_deregistration_delay_seconds"),
            deletion_protection=inputs.boolean("rpc_nlb_deletion_protection"),
            access_logs_enabled=inputs.boolean("rpc_nlb_access_logs_enabled"),
            log_retention_days=inputs.number("log_retention_days"),
        )

        self.registry = ValidatorRegistry(
            self, "registry", naming=self.naming, kms_key_arn=self.network_key.key_arn
        )
        self.validator_keys = ValidatorKeys(
            self,
            "validator_keys",
            naming=self.naming,
            platform=self.platform,
            validator_count=settings.validator_count,
            protocol=settings.consensus,
            chain_id=inputs.number("chain_id"),
            genesis_options_json=genesis_options_json(
                inputs.number("block_period_seconds"),
                inputs.number("request_timeout_seconds"),
                inputs.number("epoch_length"),
            ),
            private_zone_domain=self.node_domain,
            registry=self.registry,
            kms_key_arn=self.network_key.key_arn,
            log_retention_days=inputs.number("log_retention_days"),
            subnet_ids=self.network.subnet_ids,
            security_group_id=self.network.control_plane_security_group_id,
        )

        self._output(
            "network_name",
            settings.network_name,
            "Name of the Besu network; prefix of every AWS resource name.",
        )
        self._output(
            "consensus_protocol",
            settings.consensus,
            "BFT consensus protocol of the network (ibft2 or qbft).",
        )
        self._output("validator_count", settings.validator_count, "Number of validators n.")
        self._output(
            "fault_tolerance",
            settings.max_faulty,
            "f = floor((n-1)/3): validators that may fail while the network keeps producing blocks.",
        )
        self._output(
            "kms_key_arn",
            self.network_key.key_arn,
            "ARN of the customer-managed KMS key that encrypts the network's data.",
        )
        self._network_outputs()
        self._key_outputs()

    def _key_outputs(self) -> None:
        keys = self.validator_keys
        self._output(
            "validator_addresses",
            keys.validator_addresses_expression(),
            "Validator addresses by slot, from the key Lambda's result (public data only).",
        )
        self._output(
            "validator_secret_arns",
            keys.secret_arns,
            "ARNs of the Secrets Manager secrets holding each slot's node key, by slot.",
        )
        self._output(
            "registry_table_name",
            self.registry.table_name,
            "DynamoDB table mapping validator slots to keys and nodes.",
        )
        self._output(
            "artifact_bucket_name",
            keys.artifact_bucket_name,
            "S3 bucket holding genesis.json and static-nodes.json.",
        )

    def _network_outputs(self) -> None:
        network, link = self.network, self.private_link
        self._output("vpc_id", network.vpc_id, "ID of the VPC the nodes run in.")
        self._output("vpc_cidr_block", network.vpc_cidr, "IPv4 CIDR block of that VPC.")
        self._output(
            "subnet_ids", network.subnet_ids, "IDs of the private subnets of the nodes and the NLB."
        )
        self._output(
            "node_security_group_id",
            network.node_security_group_id,
            "Security group of the Besu nodes.",
        )
        self._output(
            "vpc_endpoint_security_group_id",
            network.endpoint_security_group_id,
            "Security group of the interface VPC endpoints (HTTPS from the VPC only).",
        )
        self._output(
            "health_checker_security_group_id",
            network.health_checker_security_group_id,
            "Security group whose members may reach the nodes' admin RPC port.",
        )
        self._output(
            "flow_log_group_name",
            network.flow_log_group_name,
            "CloudWatch log group receiving the network's VPC flow logs.",
        )
        self._output(
            "rpc_nlb_dns_name",
            link.nlb_dns_name,
            "DNS name of the internal JSON-RPC load balancer (reachable from inside the VPC).",
        )
        self._output(
            "rpc_nlb_security_group_id",
            link.security_group_id,
            "Security group of the JSON-RPC load balancer.",
        )
        self._output(
            "rpc_endpoint_service_name",
            link.endpoint_service_name,
            "Service name consumers put in their interface VPC endpoint (see docs/privatelink.md).",
        )
        self._output(
            "rpc_endpoint_service_id",
            link.endpoint_service_id,
            "ID of the JSON-RPC VPC endpoint service (to accept connection requests).",
        )
        self._output(
            "rpc_target_group_arns",
            link.target_group_arns,
            "ARNs of the JSON-RPC target groups (HTTP, and WebSocket when enabled).",
        )
        self._output(
            "rpc_access_log_bucket_name",
            link.access_log_bucket_name,
            "Bucket receiving the load balancer's access logs.",
        )

    def _output(self, name: str, value: object, description: str) -> TerraformOutput:
        return TerraformOutput(self, name, value=value, description=description)
