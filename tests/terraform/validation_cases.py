"""Values Terraform must refuse, and accept, for every variable that has a ``validation`` block.

Each entry: HCL literals that the variable's validation must refuse, and one good non-default
value it must accept (the default is accepted by the run that sets nothing). Cross-variable
rules list the other variables they need in ``with_``. ``test_validations.py`` turns the table
into one ``terraform test`` file, so Terraform evaluates every condition; a test also fails when
a variable with a validation has no entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """Bad and good values (HCL literals) for one variable."""

    bad: tuple[str, ...]
    good: str
    with_: dict[str, str] = field(default_factory=dict)
    """Other variables set in both runs (cross-variable rules)."""


CASES: dict[str, Case] = {
    "region": Case(('"EU-WEST-1"', '"eu-west"', '"moon-1"'), '"us-gov-west-1"'),
    "tags": Case(
        ('{ "aws:owner" = "x" }', '{ (join("", [for i in range(129) : "k"])) = "v" }'),
        '{ Team = "ledger" }',
    ),
    "log_retention_days": Case(("2", "0", "10000"), "30"),
    "kms_deletion_window_days": Case(("6", "31", "7.5"), "7"),
    "vpc_cidr": Case(('"10.42.0.0/8"', '"10.42.0.0/25"', '"not-a-cidr"'), '"172.20.0.0/20"'),
    "availability_zone_count": Case(("2", "7", "3.5"), "4"),
    "existing_vpc_id": Case(('"vpc-XYZ"', '"subnet-0123abcd"'), '"vpc-0123456789abcdef0"'),
    "existing_subnet_ids": Case(
        (
            '["subnet-01234567", "subnet-01234568"]',
            '["subnet-01234567", "subnet-01234568", "sg-01234569"]',
        ),
        '["subnet-01234567", "subnet-01234568", "subnet-0123456a"]',
    ),
    "privatelink_allowed_principals": Case(
        ('["123456789012"]', '["arn:aws:iam::12345:root"]', '["*"]'),
        '["arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:role/app"]',
    ),
    "privatelink_private_dns_name": Case(
        ('"Not A Name"', '"-bad.example.com"'), '"rpc.besu.example.com"'
    ),
    "rpc_ws_enabled": Case(("true",), "false"),
    "rpc_host_allowlist": Case(
        ('["*"]', '["rpc.example.com/"]'),
        '["vpce-0abc-1234.vpce-svc-0abc.eu-west-1.vpce.amazonaws.com"]',
    ),
    "rpc_certificate_arn": Case(
        ('"arn:aws:iam::123456789012:server-certificate/x"', '"cert"'),
        '"arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"',
    ),
    "rpc_health_check_min_peers": Case(("-1", "101", "1.5"), "3"),
    "rpc_health_check_max_blocks_behind": Case(("-1", "1001"), "10"),
    "rpc_health_check_interval_seconds": Case(("5", "301"), "30"),
    "rpc_health_check_healthy_threshold": Case(("1", "11"), "5"),
    "rpc_health_check_unhealthy_threshold": Case(("1", "11"), "2"),
    "rpc_deregistration_delay_seconds": Case(("-1", "3601"), "0"),
    "chain_id": Case(("0", "4503599627370496", "1.5"), "20261201"),
    "block_period_seconds": Case(("0", "61", "1.5"), "5"),
    "request_timeout_seconds": Case(("1", "601"), "10"),
    "epoch_length": Case(("99", "1000000001"), "100"),
    "genesis_evm_fork": Case(('"paris"', '"London"', '"prague"'), '"shanghai"'),
    "instance_type": Case(('"large"', '"M7G.LARGE"'), '"c7g.2xlarge"'),
    "besu_image_repository": Case(('"Besu"', '"hyperledger/besu:latest"'), '"hyperledger/besu"'),
    "besu_image_tag": Case(('"latest"', '"sha256:abc"', '"-bad"'), '"25.11.0-arm64"'),
    "besu_memory_mib": Case(("1024", "1048577"), "7168"),
    "besu_jvm_heap_mib": Case(("512", "1024.5"), "2048"),
    "besu_data_storage_format": Case(('"bonsai"', '"VERKLE"'), '"FOREST"'),
    "rpc_consumer_apis": Case(
        ("[]", '["ADMIN"]', '["ETH", "ETH"]'), '["ETH", "NET", "WEB3", "TRACE"]'
    ),
    "data_volume_size_gib": Case(("19", "16385"), "500"),
    "data_volume_iops": Case(("2999", "16001"), "6000"),
    "data_volume_throughput_mibps": Case(("124", "1001"), "250"),
    "snapshot_interval_hours": Case(("5", "48"), "24"),
    "snapshot_retention_count": Case(("0", "1001"), "7"),
    "root_volume_size_gib": Case(("29", "201"), "50"),
    "alarm_email": Case(('"oncall"', '"a@b"'), '"besu-oncall@example.com"'),
    "health_check_failures_before_action": Case(("0", "101"), "5"),
    "health_check_cooldown_seconds": Case(("-1", "86401"), "0"),
}


@dataclass(frozen=True)
class PreconditionCase:
    """Variables that break one resource precondition, and a nearby setting that satisfies it."""

    bad: dict[str, str]
    good: dict[str, str]


PRECONDITIONS: dict[str, PreconditionCase] = {
    # Keyed by the start of the precondition's error message.
    "besu_jvm_heap_mib must be at most 75% of besu_memory_mib": PreconditionCase(
        bad={"besu_jvm_heap_mib": "4609"}, good={"besu_jvm_heap_mib": "4608"}
    ),
    # The mocked instance type has 8192 MiB (an m7g.large).
    "besu_memory_mib must leave at least 1024 MiB": PreconditionCase(
        bad={"besu_memory_mib": "7169"}, good={"besu_memory_mib": "7168"}
    ),
}
