"""The network stack: one Besu BFT network and everything it runs on."""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from besu_stack.constructs.fleet import (
    FleetReference,
    LifecycleHooks,
    NodeImage,
    NodeSizing,
    SnapshotSchedule,
    ValidatorFleet,
)
from besu_stack.constructs.health_check import HealthCheck, HealthThresholds
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.monitoring import (
    KEY_SERVICE_PRINCIPALS,
    Monitoring,
    SecretPolicyWatch,
)
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.network import CreatedVpc, ExistingVpc, Network
from besu_stack.constructs.network_key import NetworkKey
from besu_stack.constructs.node_lifecycle import (
    LAUNCH_HOOK_TIMEOUT_SECONDS,
    TERMINATE_HOOK_TIMEOUT_SECONDS,
    DataVolumeSpec,
    NodeLifecycle,
    hook_names,
)
from besu_stack.constructs.platform import Platform
from besu_stack.constructs.private_link import PrivateLink, ReadinessCheck
from besu_stack.constructs.registry import ValidatorRegistry
from besu_stack.constructs.rpc_token_key import RpcTokenKey
from besu_stack.constructs.validator_keys import ValidatorKeys, genesis_options_json
from besu_stack.rollout import rollout_policy
from besu_stack.settings import Settings
from besu_stack.stacks.backend import configure_backend
from besu_stack.stacks.inputs import NetworkInputs
from besu_stack.stacks.provider import configure_aws_provider


class BesuNetworkStack(TerraformStack):
    """A complete Besu network in one Terraform root module.

    The shape comes from ``settings`` (synth time); values come from Terraform variables (plan
    time, see :mod:`besu_stack.stacks.inputs`). With ``with_backend=False`` no backend block is
    written, which is how the registry modules are built (their consumer owns the state).

    The stack only composes: each construct creates its resources and writes the permissions on
    them (``grant_*``), and the names and ARNs known before a resource exists come from one
    :class:`~besu_stack.constructs.identity.NetworkIdentity`.
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: Settings, with_backend: bool = True
    ) -> None:
        super().__init__(scope, id)
        self.settings = settings
        self.naming = Naming(settings.network_name)
        self.node_domain = f"{settings.network_name}.besu.internal"
        """Private DNS domain of the nodes: slot i is ``validator-<i>.<node_domain>``."""
        self.inputs = inputs = NetworkInputs(self, settings)
        configure_aws_provider(
            self,
            region=inputs.string("region"),
            network_name=settings.network_name,
            extra_tags=inputs.mapping("tags"),
        )
        if with_backend:
            configure_backend(self, settings.state, stack_name=id)

        self.platform = Platform(self, "platform")
        self.identity = identity = NetworkIdentity(self.naming, self.platform)
        fleet = FleetReference(identity)
        log_retention_days = inputs.number("log_retention_days")

        self.network_key = key = NetworkKey(
            self,
            "network_key",
            identity=identity,
            deletion_window_days=inputs.number("kms_deletion_window_days"),
            # ELB access-log delivery writes SSE-KMS objects to the PrivateLink log bucket.
            extra_service_principals=["delivery.logs.amazonaws.com", *KEY_SERVICE_PRINCIPALS],
        )
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
        self.network = network = Network(
            self,
            "network",
            identity=identity,
            vpc=vpc,
            key=key,
            log_retention_days=log_retention_days,
        )
        self.private_link = PrivateLink(
            self,
            "private_link",
            identity=identity,
            vpc_id=network.vpc_id,
            # Applications in a VPC of the network's own may use the NLB directly; in an
            # existing (shared) VPC only the endpoint service admits them.
            direct_clients_cidr=network.vpc_cidr if network.owns_vpc else None,
            subnet_ids=network.subnet_ids,
            node_security_group_id=network.node_security_group_id,
            key=key,
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
            log_retention_days=log_retention_days,
        )

        self.registry = registry = ValidatorRegistry(self, "registry", identity=identity, key=key)
        self.validator_keys = keys = ValidatorKeys(
            self,
            "validator_keys",
            identity=identity,
            key=key,
            validator_count=settings.validator_count,
            protocol=settings.consensus,
            chain_id=inputs.number("chain_id"),
            genesis_options_json=genesis_options_json(
                inputs.number("block_period_seconds"),
                inputs.number("request_timeout_seconds"),
                inputs.number("epoch_length"),
                inputs.string("genesis_evm_fork"),
            ),
            private_zone_domain=self.node_domain,
            registry=registry,
            log_retention_days=log_retention_days,
            subnet_ids=network.subnet_ids,
            security_group_id=network.control_plane_security_group_id,
            adopt_secrets=settings.key_secrets == "adopt",
        )
        self.node_lifecycle = lifecycle = NodeLifecycle(
            self,
            "node_lifecycle",
            identity=identity,
            fleet=fleet,
            registry=registry,
            keys=keys,
            key=key,
            vpc_id=network.vpc_id,
            node_domain=self.node_domain,
            data_volume=DataVolumeSpec(
                size_gib=inputs.number("data_volume_size_gib"),
                iops=inputs.number("data_volume_iops"),
                throughput_mibps=inputs.number("data_volume_throughput_mibps"),
            ),
            log_retention_days=log_retention_days,
        )
        # The health checker signs its internal RPC tokens with it; the hosts read its public key.
        self.rpc_token_key = rpc_token_key = RpcTokenKey(
            self,
            "rpc_token_key",
            identity=identity,
            deletion_window_days=inputs.number("kms_deletion_window_days"),
        )
        self.health_check = HealthCheck(
            self,
            "health_check",
            identity=identity,
            fleet=fleet,
            registry=registry,
            key=key,
            rpc_token_key=rpc_token_key,
            protocol=settings.consensus,
            validator_count=settings.validator_count,
            block_period_seconds=inputs.number("block_period_seconds"),
            subnet_ids=network.subnet_ids,
            security_group_id=network.health_checker_security_group_id,
            log_retention_days=log_retention_days,
            thresholds=HealthThresholds(
                failures_before_action=inputs.number("health_check_failures_before_action"),
                cooldown_seconds=inputs.number("health_check_cooldown_seconds"),
            ),
            remediation_enabled=inputs.boolean("health_check_remediation_enabled"),
        )
        self.monitoring = Monitoring(
            self,
            "monitoring",
            identity=identity,
            fleet=fleet,
            validator_count=settings.validator_count,
            block_period_seconds=inputs.number("block_period_seconds"),
            key=key,
            lambda_functions={
                "keygen": keys.function.function_name,
                "health": self.health_check.function_name,
                **lifecycle.function_names,
            },
            alarm_email=inputs.string("alarm_email"),
            unhealthy_evaluation_periods=inputs.number("health_check_failures_before_action"),
            # The launch hook opens the slot secrets, the lifecycle functions close them (by
            # deleting the policy), the key Lambda writes their values; any other change alerts,
            # as do every deletion and every change of the two keys whose policy decides alone.
            secret_policy_watch=SecretPolicyWatch(
                secret_name_prefix=identity.secret_name_prefix,
                writer_role_arns=lifecycle.policy_writer_role_arns,
                revoker_role_arns=lifecycle.policy_revoker_role_arns,
                value_writer_role_arns=[keys.key_lambda_role_arn],
                guarding_key_ids=[
                    keys.secrets_key.key_id,
                    keys.secrets_key.key_arn,
                    rpc_token_key.key_id,
                    rpc_token_key.key_arn,
                ],
                guarding_alias_names=[keys.secrets_key.alias_name, rpc_token_key.alias_name],
            ),
        )

        launch_hook, terminate_hook = hook_names(identity)
        self.fleet = ValidatorFleet(
            self,
            "fleet",
            identity=identity,
            reference=fleet,
            key=key,
            rpc_token_key=rpc_token_key,
            validator_count=settings.validator_count,
            protocol=settings.consensus,
            rollout=rollout_policy(settings.validator_count),
            subnet_ids=network.subnet_ids,
            node_security_group_id=network.node_security_group_id,
            target_group_arns=[self.private_link.rpc_target_group_arn],
            # The NLB's literal name (PrivateLink names it so): hosts look up its addresses,
            # which its health check sends as Host (tests/synth/test_node_conformance.py).
            load_balancer_name=identity.name("rpc"),
            log_retention_days=log_retention_days,
            sizing=NodeSizing(
                instance_type=inputs.string("instance_type"),
                besu_memory_mib=inputs.number("besu_memory_mib"),
                besu_jvm_heap_mib=inputs.number("besu_jvm_heap_mib"),
                root_volume_size_gib=inputs.number("root_volume_size_gib"),
            ),
            image=NodeImage(
                repository=inputs.string("besu_image_repository"),
                tag=inputs.string("besu_image_tag"),
            ),
            data_storage_format=inputs.string("besu_data_storage_format"),
            consumer_apis=inputs.strings("rpc_consumer_apis"),
            host_allowlist=inputs.strings("rpc_host_allowlist"),
            snapshots=SnapshotSchedule(
                interval_hours=inputs.number("snapshot_interval_hours"),
                retention_count=inputs.number("snapshot_retention_count"),
            ),
            lifecycle_hooks=LifecycleHooks(
                launch_hook_name=launch_hook,
                terminate_hook_name=terminate_hook,
                launch_timeout_seconds=LAUNCH_HOOK_TIMEOUT_SECONDS,
                terminate_timeout_seconds=TERMINATE_HOOK_TIMEOUT_SECONDS,
            ),
            # A rolling change stops when the network is no longer healthy enough.
            rollout_alarm_names=[
                self.monitoring.alarm_names["network_stalled"],
                self.monitoring.alarm_names["validators_online"],
            ],
            # First apply: no host may launch before its lifecycle events can reach the hooks
            # (rules, targets, permissions), before the key Lambda wrote the genesis and the
            # registry, before Terraform wrote the secrets' initial policies (written later,
            # they would replace the launch hook's grant: ignore_changes does not apply on
            # create), or before the RPC token key it reads by alias exists.
            depends_on=[
                lifecycle.launch_function.function,
                lifecycle.termination_function.function,
                *lifecycle.event_wiring,
                keys.invocation,
                *keys.secret_policies,
                rpc_token_key.key,
                rpc_token_key.alias,
            ],
        )
        hosts = self.fleet.instance_role
        # Besu verifies the checker's tokens with this public key, which each host reads at boot.
        rpc_token_key.grant_public_key_read(hosts)
        keys.artifacts.grant_read(hosts, keys.network_files, sid="ReadNetworkFiles")
        # The key's half of reading a slot key; the secret's policy picks the one host.
        keys.grant_read(hosts)

        self._outputs()

    def _outputs(self) -> None:
        settings = self.settings
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
        self._fleet_outputs()

    def _fleet_outputs(self) -> None:
        fleet = self.fleet
        self._output("ecs_cluster_name", fleet.cluster_name, "ECS cluster running the validators.")
        self._output("ecs_service_name", fleet.service_name, "ECS service of the validator tasks.")
        self._output(
            "autoscaling_group_name",
            fleet.autoscaling_group_name,
            "Auto Scaling group of the validator hosts (one per validator).",
        )
        self._output(
            "node_log_group_name",
            fleet.node_log_group_name,
            "CloudWatch log group of the Besu nodes.",
        )
        policy = rollout_policy(self.settings.validator_count)
        self._output(
            "alarm_topic_arn",
            self.monitoring.topic_arn,
            "SNS topic receiving every alarm of the network (subscribe to it).",
        )
        self._output(
            "node_zone_name",
            self.node_lifecycle.zone_name,
            "Private DNS zone of the validators (validator-<slot>.<zone>).",
        )
        self._output(
            "rolling_change_max_unavailable",
            policy.max_unavailable,
            "Validators a deployment or instance refresh may stop at once (f, or 1 for a single validator).",
        )

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
