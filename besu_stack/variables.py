"""Plan-time variables of the network stack, as data: names, types, defaults, validations.

These are the values a Terraform pipeline changes between environments without re-synthesizing:
the region, sizes, the Besu image, CIDRs, who may connect through PrivateLink, tags. They are
declared from this one table (:data:`NETWORK_VARIABLES`) by :mod:`besu_stack.stacks.inputs`, and
``terraform.tfvars.example`` and the README tables are generated from it. Pure data: importing it
does not load the AWS provider bindings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from besu_stack.lambda_kernel import volumes
from besu_stack.settings import Settings


@dataclass(frozen=True)
class Validation:
    """A Terraform ``validation`` block: an HCL condition and the message shown when it fails."""

    condition: str
    error_message: str


@dataclass(frozen=True)
class VariableSpec:
    """One plan-time input: its Terraform name, type, default, description and validations."""

    name: str
    type: str
    default: Any
    description: str
    group: str
    validations: tuple[Validation, ...] = ()
    nullable: bool = False
    only_when: str = ""
    """A settings predicate name ("existing_vpc") when the variable exists only in that shape."""


def _v(condition: str, message: str) -> Validation:
    return Validation("${" + condition + "}", message)


def _whole_range(name: str, bounds: tuple[int, int]) -> Validation:
    low, high = bounds
    return _v(
        f"var.{name} >= {low} && var.{name} <= {high} && floor(var.{name}) == var.{name}",
        f"{name} must be a whole number from {low} to {high}.",
    )


# The data volume ranges are shared with the launch hook (one source).
_SIZE = volumes.SIZE_GIB_RANGE
_IOPS = volumes.IOPS_RANGE
_THROUGHPUT = volumes.THROUGHPUT_MIBPS_RANGE


# Regular expressions are written for HCL's regex(): RE2 syntax inside an HCL string.
NETWORK_VARIABLES: tuple[VariableSpec, ...] = (
    # --- general -------------------------------------------------------------------------------
    VariableSpec(
        "region",
        "string",
        "eu-west-1",
        "AWS region the network is deployed in.",
        "general",
        (
            _v(
                'can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.region))',
                "region must be an AWS region name such as eu-west-1.",
            ),
        ),
    ),
    VariableSpec(
        "tags",
        "map(string)",
        {},
        "Extra tags for every resource (merged under the provider's default tags; Network and ManagedBy are always set).",
        "general",
        (
            _v(
                'alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])',
                "tags: keys at most 128 characters, values at most 256, and no key may start with aws:.",
            ),
        ),
    ),
    VariableSpec(
        "log_retention_days",
        "number",
        365,
        "Retention of every CloudWatch log group the network creates (node logs, Lambda logs, flow logs), in days.",
        "general",
        (
            _v(
                "contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)",
                "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653).",
            ),
        ),
    ),
    VariableSpec(
        "kms_deletion_window_days",
        "number",
        30,
        "Waiting period before the network's KMS key is deleted after a destroy (7-30 days); the longer, the safer.",
        "general",
        (
            _v(
                "var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days",
                "kms_deletion_window_days must be a whole number from 7 to 30.",
            ),
        ),
    ),
    # --- network -------------------------------------------------------------------------------
    VariableSpec(
        "vpc_cidr",
        "string",
        "10.42.0.0/16",
        "IPv4 CIDR of the created VPC (a /16 to /24); split evenly into one private subnet per availability zone.",
        "network",
        (
            _v(
                'can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)',
                "vpc_cidr must be an IPv4 CIDR block from /16 to /24, such as 10.42.0.0/16.",
            ),
        ),
        only_when="created_vpc",
    ),
    VariableSpec(
        "availability_zone_count",
        "number",
        3,
        "Number of availability zones the created VPC spans (3-6); validators spread across them so that losing one zone never loses quorum.",
        "network",
        (
            _v(
                "var.availability_zone_count >= 3 && var.availability_zone_count <= 6 && floor(var.availability_zone_count) == var.availability_zone_count",
                "availability_zone_count must be a whole number from 3 to 6.",
            ),
        ),
        only_when="created_vpc",
    ),
    VariableSpec(
        "existing_vpc_id",
        "string",
        None,
        "ID of the existing VPC to deploy into (vpc_mode = existing).",
        "network",
        (
            _v(
                'can(regex("^vpc-[0-9a-f]{8,17}$", var.existing_vpc_id))',
                "existing_vpc_id must be a VPC ID such as vpc-0123456789abcdef0.",
            ),
        ),
        only_when="existing_vpc",
    ),
    VariableSpec(
        "existing_subnet_ids",
        "list(string)",
        None,
        "IDs of the existing private subnets for the nodes and the load balancer, in at least 3 availability zones (vpc_mode = existing).",
        "network",
        (
            _v(
                'length(var.existing_subnet_ids) >= 3 && alltrue([for s in var.existing_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])',
                "existing_subnet_ids must list at least 3 subnet IDs such as subnet-0123456789abcdef0.",
            ),
        ),
        only_when="existing_vpc",
    ),
    # --- access (PrivateLink) -----------------------------------------------------------------
    VariableSpec(
        "privatelink_allowed_principals",
        "list(string)",
        [],
        "IAM principals (account root ARNs or role ARNs) allowed to connect to the JSON-RPC endpoint service. Empty: nobody can connect until you add one.",
        "access",
        (
            _v(
                'alltrue([for p in var.privatelink_allowed_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+)$", p))])',
                "privatelink_allowed_principals must contain IAM ARNs such as arn:aws:iam::123456789012:root or arn:aws:iam::123456789012:role/name; wildcards are not allowed.",
            ),
        ),
    ),
    VariableSpec(
        "privatelink_acceptance_required",
        "bool",
        True,
        "Whether each connection to the endpoint service must be accepted by the service owner.",
        "access",
    ),
    VariableSpec(
        "privatelink_private_dns_name",
        "string",
        "",
        "Private DNS name of the endpoint service (e.g. rpc.besu.example.com; you must verify the domain with the TXT record AWS gives). Empty: consumers use the endpoint's own DNS names.",
        "access",
        (
            _v(
                'var.privatelink_private_dns_name == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\\\.)+[a-z]{2,63}$", var.privatelink_private_dns_name))',
                "privatelink_private_dns_name must be empty or a lowercase DNS name such as rpc.besu.example.com.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_ws_enabled",
        "bool",
        False,
        "Reserved: JSON-RPC over WebSocket (port 8546) through the NLB. Not available yet: Besu has one WebSocket server, which serves the internal health-check surface (port 8547), so true is refused.",
        "access",
        (
            _v(
                "!var.rpc_ws_enabled",
                "rpc_ws_enabled cannot be true yet: Besu's only WebSocket server carries the internal admin surface (port 8547), so no consumer WebSocket would answer behind the listener.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_host_allowlist",
        "list(string)",
        [],
        "Host names PrivateLink consumers use to reach JSON-RPC (their interface endpoint DNS names, or your private DNS name). Besu refuses requests whose Host header is not localhost, the node's own name or one of these; * is not allowed.",
        "access",
        (
            _v(
                'alltrue([for h in var.rpc_host_allowlist : can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$", h))])',
                "rpc_host_allowlist must contain host names (letters, digits, dots, hyphens); * and empty names are not allowed.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_certificate_arn",
        "string",
        "",
        "ARN of an ACM certificate for TLS listeners (policy ELBSecurityPolicy-TLS13-1-2-2021-06). Empty: the listeners are plain TCP (PrivateLink traffic stays on the AWS network either way).",
        "access",
        (
            _v(
                'var.rpc_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.rpc_certificate_arn))',
                "rpc_certificate_arn must be empty or an ACM certificate ARN such as arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_nlb_deletion_protection",
        "bool",
        True,
        "Whether the JSON-RPC load balancer is protected from deletion (set false before destroying the network).",
        "access",
    ),
    VariableSpec(
        "rpc_nlb_access_logs_enabled",
        "bool",
        True,
        "Whether the load balancer writes access logs to its encrypted bucket (AWS logs TLS listeners only).",
        "access",
    ),
    VariableSpec(
        "rpc_health_check_min_peers",
        "number",
        1,
        "Peers a node needs for the load balancer to send it traffic (Besu /readiness minPeers); use 0 for a single-validator network.",
        "access",
        (
            _v(
                "var.rpc_health_check_min_peers >= 0 && var.rpc_health_check_min_peers <= 100 && floor(var.rpc_health_check_min_peers) == var.rpc_health_check_min_peers",
                "rpc_health_check_min_peers must be a whole number from 0 to 100.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_health_check_max_blocks_behind",
        "number",
        2,
        "Blocks a node may lag behind its peers and still receive traffic (Besu /readiness maxBlocksBehind).",
        "access",
        (
            _v(
                "var.rpc_health_check_max_blocks_behind >= 0 && var.rpc_health_check_max_blocks_behind <= 1000 && floor(var.rpc_health_check_max_blocks_behind) == var.rpc_health_check_max_blocks_behind",
                "rpc_health_check_max_blocks_behind must be a whole number from 0 to 1000.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_health_check_interval_seconds",
        "number",
        10,
        "Seconds between two readiness checks of a node by the load balancer (10-300; each check times out after 5).",
        "access",
        (
            _v(
                "var.rpc_health_check_interval_seconds >= 10 && var.rpc_health_check_interval_seconds <= 300 && floor(var.rpc_health_check_interval_seconds) == var.rpc_health_check_interval_seconds",
                "rpc_health_check_interval_seconds must be a whole number from 10 to 300.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_health_check_healthy_threshold",
        "number",
        3,
        "Consecutive passing readiness checks before a node receives traffic (2-10).",
        "access",
        (
            _v(
                "var.rpc_health_check_healthy_threshold >= 2 && var.rpc_health_check_healthy_threshold <= 10 && floor(var.rpc_health_check_healthy_threshold) == var.rpc_health_check_healthy_threshold",
                "rpc_health_check_healthy_threshold must be a whole number from 2 to 10.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_health_check_unhealthy_threshold",
        "number",
        3,
        "Consecutive failing readiness checks before a node stops receiving traffic (2-10).",
        "access",
        (
            _v(
                "var.rpc_health_check_unhealthy_threshold >= 2 && var.rpc_health_check_unhealthy_threshold <= 10 && floor(var.rpc_health_check_unhealthy_threshold) == var.rpc_health_check_unhealthy_threshold",
                "rpc_health_check_unhealthy_threshold must be a whole number from 2 to 10.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_deregistration_delay_seconds",
        "number",
        30,
        "Seconds a node leaving the load balancer keeps serving open connections; short, so rolling changes move on quickly (0-3600).",
        "access",
        (
            _v(
                "var.rpc_deregistration_delay_seconds >= 0 && var.rpc_deregistration_delay_seconds <= 3600 && floor(var.rpc_deregistration_delay_seconds) == var.rpc_deregistration_delay_seconds",
                "rpc_deregistration_delay_seconds must be a whole number from 0 to 3600.",
            ),
        ),
    ),
    # --- chain ---------------------------------------------------------------------------------
    # Written into genesis.json by the key Lambda on the first apply. The genesis of a running
    # chain is never regenerated, so changing these later changes nothing on that chain.
    VariableSpec(
        "chain_id",
        "number",
        1981,
        "Chain ID of the network (EIP-155), written into genesis on the first apply. Pick one no other network of yours uses; it cannot change later.",
        "chain",
        (
            _v(
                "var.chain_id >= 1 && var.chain_id <= 4503599627370495 && floor(var.chain_id) == var.chain_id",
                "chain_id must be a whole number from 1 to 4503599627370495 (2^52 - 1).",
            ),
        ),
    ),
    VariableSpec(
        "block_period_seconds",
        "number",
        2,
        "Target seconds between blocks (genesis blockperiodseconds; Besu's documented default for BFT networks is 2).",
        "chain",
        (
            _v(
                "var.block_period_seconds >= 1 && var.block_period_seconds <= 60 && floor(var.block_period_seconds) == var.block_period_seconds",
                "block_period_seconds must be a whole number from 1 to 60.",
            ),
        ),
    ),
    VariableSpec(
        "request_timeout_seconds",
        "number",
        4,
        "Seconds before a BFT round times out and a new round starts (genesis requesttimeoutseconds); keep it about twice the block period.",
        "chain",
        (
            _v(
                "var.request_timeout_seconds >= 2 && var.request_timeout_seconds <= 600 && floor(var.request_timeout_seconds) == var.request_timeout_seconds",
                "request_timeout_seconds must be a whole number from 2 to 600.",
            ),
        ),
    ),
    VariableSpec(
        "epoch_length",
        "number",
        30000,
        "Blocks per epoch, after which pending validator votes are discarded (genesis epochlength; Besu's documented default is 30000).",
        "chain",
        (
            _v(
                "var.epoch_length >= 100 && var.epoch_length <= 1000000000 && floor(var.epoch_length) == var.epoch_length",
                "epoch_length must be a whole number from 100 to 1000000000.",
            ),
        ),
    ),
    VariableSpec(
        "genesis_evm_fork",
        "string",
        "london",
        "EVM fork active from genesis: london (default), shanghai or cancun; written into genesis on the first apply and never changed afterwards. Contracts must be compiled for it (solc evmVersion london or paris for london; shanghai adds PUSH0). Default london: Shanghai and later have open Besu issues on BFT chains at the pinned release (besu-eth/besu#9681, #11005).",
        "chain",
        (
            _v(
                'contains(["london", "shanghai", "cancun"], var.genesis_evm_fork)',
                "genesis_evm_fork must be london, shanghai or cancun.",
            ),
        ),
    ),
    # --- nodes ---------------------------------------------------------------------------------
    VariableSpec(
        "instance_type",
        "string",
        "m7g.large",
        "EC2 instance type of the validator hosts; the ECS-optimized AMI's architecture (arm64 for Graviton, x86_64 otherwise) follows it.",
        "nodes",
        (
            _v(
                'can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\\\.[a-z0-9]+$", var.instance_type))',
                "instance_type must be an EC2 instance type such as m7g.large.",
            ),
        ),
    ),
    VariableSpec(
        "besu_image_repository",
        "string",
        "besu",
        "Besu container image repository: a repository name in this account's ECR (default, mirrored from hyperledger/besu) or a full registry path.",
        "nodes",
        (
            _v(
                'can(regex("^[a-z0-9][a-z0-9._/-]*(:[0-9]+)?[a-z0-9._/-]*$", var.besu_image_repository)) && !strcontains(var.besu_image_repository, ":latest")',
                "besu_image_repository must be a repository name or registry path without a tag.",
            ),
        ),
    ),
    VariableSpec(
        "besu_image_tag",
        "string",
        "25.11.0",
        "Pinned Besu image tag (a release such as 25.11.0 or a sha256 digest); never latest.",
        "nodes",
        (
            _v(
                'var.besu_image_tag != "latest" && can(regex("^([0-9A-Za-z][0-9A-Za-z._-]{0,127}|sha256:[0-9a-f]{64})$", var.besu_image_tag))',
                "besu_image_tag must be a pinned tag or sha256 digest; latest is not allowed because rolling changes must be deliberate.",
            ),
        ),
    ),
    VariableSpec(
        "besu_memory_mib",
        "number",
        6144,
        "Memory reserved for the Besu container, in MiB; at least 1024 MiB of the instance must stay free (checked at plan time against the instance type).",
        "nodes",
        (
            _v(
                "var.besu_memory_mib >= 2048 && var.besu_memory_mib <= 1048576 && floor(var.besu_memory_mib) == var.besu_memory_mib",
                "besu_memory_mib must be a whole number from 2048 to 1048576.",
            ),
        ),
    ),
    VariableSpec(
        "besu_jvm_heap_mib",
        "number",
        3072,
        "JVM heap of Besu (-Xmx/-Xms), in MiB; at most 75% of besu_memory_mib (checked at plan time), the rest is for RocksDB and the JVM itself.",
        "nodes",
        (
            _v(
                "var.besu_jvm_heap_mib >= 1024 && floor(var.besu_jvm_heap_mib) == var.besu_jvm_heap_mib",
                "besu_jvm_heap_mib must be a whole number of at least 1024.",
            ),
        ),
    ),
    VariableSpec(
        "besu_data_storage_format",
        "string",
        "BONSAI",
        "Besu data storage format, always explicit so an upgrade never changes it silently: BONSAI (Besu's default, smaller) or FOREST (full archive of state).",
        "nodes",
        (
            _v(
                'contains(["BONSAI", "FOREST"], var.besu_data_storage_format)',
                "besu_data_storage_format must be BONSAI or FOREST.",
            ),
        ),
    ),
    VariableSpec(
        "rpc_consumer_apis",
        "list(string)",
        ["ETH", "NET", "WEB3"],
        "JSON-RPC API groups PrivateLink consumers may call. Administrative and consensus groups (ADMIN, IBFT, QBFT, TXPOOL, DEBUG...) are never allowed here: one consumer could vote validators out.",
        "nodes",
        (
            _v(
                'length(var.rpc_consumer_apis) > 0 && alltrue([for api in var.rpc_consumer_apis : contains(["ETH", "NET", "WEB3", "TRACE"], api)]) && length(distinct(var.rpc_consumer_apis)) == length(var.rpc_consumer_apis)',
                "rpc_consumer_apis must list, without repeats, API groups from ETH, NET, WEB3 and TRACE; administrative and consensus groups are never exposed to consumers.",
            ),
        ),
    ),
    VariableSpec(
        "data_volume_size_gib",
        "number",
        100,
        f"Size of each validator's encrypted gp3 data volume, in GiB ({_SIZE[0]}-{_SIZE[1]}).",
        "nodes",
        (_whole_range("data_volume_size_gib", _SIZE),),
    ),
    VariableSpec(
        "data_volume_iops",
        "number",
        3000,
        f"Provisioned IOPS of each gp3 data volume ({_IOPS[0]}-{_IOPS[1]}; 3000 is included in the gp3 price).",
        "nodes",
        (_whole_range("data_volume_iops", _IOPS),),
    ),
    VariableSpec(
        "data_volume_throughput_mibps",
        "number",
        125,
        f"Provisioned throughput of each gp3 data volume in MiB/s ({_THROUGHPUT[0]}-{_THROUGHPUT[1]}; 125 is included in the gp3 price).",
        "nodes",
        (_whole_range("data_volume_throughput_mibps", _THROUGHPUT),),
    ),
    VariableSpec(
        "snapshot_interval_hours",
        "number",
        12,
        "Hours between snapshots of every data volume (Data Lifecycle Manager); the latest snapshot is what a node restored in another AZ starts from.",
        "nodes",
        (
            _v(
                "contains([1, 2, 3, 4, 6, 8, 12, 24], var.snapshot_interval_hours)",
                "snapshot_interval_hours must be one of 1, 2, 3, 4, 6, 8, 12 or 24 (the intervals Data Lifecycle Manager accepts).",
            ),
        ),
    ),
    VariableSpec(
        "snapshot_retention_count",
        "number",
        14,
        "Snapshots kept per data volume (1-1000).",
        "nodes",
        (
            _v(
                "var.snapshot_retention_count >= 1 && var.snapshot_retention_count <= 1000 && floor(var.snapshot_retention_count) == var.snapshot_retention_count",
                "snapshot_retention_count must be a whole number from 1 to 1000.",
            ),
        ),
    ),
    VariableSpec(
        "root_volume_size_gib",
        "number",
        30,
        "Size of each host's encrypted root volume, in GiB (30-200; the ECS-optimized AMI needs 30).",
        "nodes",
        (
            _v(
                "var.root_volume_size_gib >= 30 && var.root_volume_size_gib <= 200 && floor(var.root_volume_size_gib) == var.root_volume_size_gib",
                "root_volume_size_gib must be a whole number from 30 to 200.",
            ),
        ),
    ),
    # --- monitoring ----------------------------------------------------------------------------
    VariableSpec(
        "alarm_email",
        "string",
        "",
        "E-mail address subscribed to the network's alarm topic (the recipient must confirm the subscription). Empty: no subscription; subscribe to the topic yourself.",
        "monitoring",
        (
            _v(
                'var.alarm_email == "" || can(regex("^[^@ ]+@[^@ ]+[.][^@ ]+$", var.alarm_email))',
                "alarm_email must be empty or an e-mail address such as ops@example.com.",
            ),
        ),
    ),
    VariableSpec(
        "health_check_failures_before_action",
        "number",
        3,
        "Consecutive failed deep health checks (one a minute) before a node is restarted, then replaced; also the minutes its unhealthy alarm waits (1-100).",
        "monitoring",
        (
            _v(
                "var.health_check_failures_before_action >= 1 && var.health_check_failures_before_action <= 100 && floor(var.health_check_failures_before_action) == var.health_check_failures_before_action",
                "health_check_failures_before_action must be a whole number from 1 to 100.",
            ),
        ),
    ),
    VariableSpec(
        "health_check_remediation_enabled",
        "bool",
        True,
        "Whether the health checker restarts and replaces failing nodes (at most f at once, never during a network-wide stall); false: it only measures and alarms.",
        "monitoring",
    ),
    VariableSpec(
        "health_check_cooldown_seconds",
        "number",
        900,
        "Minimum seconds between two repairs of the same validator slot by the health checker (0-86400).",
        "monitoring",
        (
            _v(
                "var.health_check_cooldown_seconds >= 0 && var.health_check_cooldown_seconds <= 86400 && floor(var.health_check_cooldown_seconds) == var.health_check_cooldown_seconds",
                "health_check_cooldown_seconds must be a whole number from 0 to 86400.",
            ),
        ),
    ),
)


def variables_for(settings: Settings) -> Sequence[VariableSpec]:
    """The variables that exist for this shape (existing-VPC inputs only in that mode, etc.)."""
    active = {
        "created_vpc": settings.vpc_mode == "create",
        "existing_vpc": settings.vpc_mode == "existing",
    }
    return [spec for spec in NETWORK_VARIABLES if not spec.only_when or active[spec.only_when]]
