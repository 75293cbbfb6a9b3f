"""The configuration of the three lifecycle functions, read once from the environment.

A required variable that is missing or empty raises :class:`ConfigError` naming it at cold start.
Optional variables have the documented default; an invalid value is an error, never ignored.

================================  =============================================================
variable                          meaning
================================  =============================================================
``NETWORK_NAME``                  the network's name prefix: value of the ``Network`` tag on
                                  volumes and snapshots, and the metrics' ``Network`` dimension
``REGISTRY_TABLE_NAME``           DynamoDB key/node registry (partition key ``slot``, number)
``PRIVATE_ZONE_ID``               Route 53 private hosted zone id of the stable node names
``PRIVATE_ZONE_DOMAIN``           its domain; slot ``i`` is ``validator-<i>.<domain>``
``INSTANCE_ROLE_ARN``             the validators' instance role (named in secret policies)
``DATA_VOLUME_KMS_KEY_ID``        customer-managed KMS key (id or ARN) of the data volumes
``DATA_VOLUME_SIZE_GIB``          gp3 size in GiB (1-16384)
``DATA_VOLUME_IOPS``              gp3 IOPS (3000-80000)
``DATA_VOLUME_THROUGHPUT_MIBPS``  gp3 throughput in MiB/s (125-2000)
``ARTIFACT_BUCKET_NAME``          bucket holding the network files (written by keygen)
``DATA_VOLUME_DEVICE``            device name for attach_volume; default ``/dev/xvdf``
``GENESIS_OBJECT_KEY``            default ``genesis.json``
``STATIC_NODES_OBJECT_KEY``       default ``static-nodes.json``
``DNS_TTL_SECONDS``               TTL of the stable A records; default 30
``LAUNCH_LEASE_SECONDS``          how long a launch may hold a claimed slot before it counts as
                                  stuck; default 900 (match the hook's heartbeat timeout)
``STUCK_AFTER_SECONDS``           an ``available`` slot older than this is reported; default 1800
``VOLUME_WAIT_SECONDS``           wait for a volume to become available/detach; default 60
``SNAPSHOT_ON_TERMINATION``       ``true``/``false``: snapshot the volume after detaching it on
                                  termination (source of cross-AZ restores); default ``true``
``ECS_CLUSTER_NAME``              when set, the termination hook drains the container instance
``DRAIN_WAIT_SECONDS``            wait for the drained instance's tasks to stop; default 120
``METRIC_NAMESPACE``              CloudWatch namespace; default ``BesuStack/Validators``
================================  =============================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

_DEVICE_RE = re.compile(r"/dev/(sd|xvd)[f-p]")
_DOMAIN_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+")


@dataclass(frozen=True)
class LifecycleConfig:
    """Where the registry, volumes, names and secrets of one network are, and the timings."""

    network_name: str
    registry_table_name: str
    private_zone_id: str
    private_zone_domain: str
    instance_role_arn: str
    volume_kms_key_id: str
    volume_size_gib: int
    volume_iops: int
    volume_throughput: int
    artifact_bucket_name: str
    volume_device: str = "/dev/xvdf"
    genesis_object_key: str = "genesis.json"
    static_nodes_object_key: str = "static-nodes.json"
    dns_ttl_seconds: int = 30
    launch_lease_seconds: int = 900
    stuck_after_seconds: int = 1800
    volume_wait_seconds: int = 60
    snapshot_on_termination: bool = True
    ecs_cluster_name: str | None = None
    drain_wait_seconds: int = 120
    metric_namespace: str = "BesuStack/Validators"

    def host(self, slot: int) -> str:
        """The stable DNS name of a slot's node."""
        return f"validator-{slot}.{self.private_zone_domain}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LifecycleConfig:
        """Read and validate the configuration; raise :class:`ConfigError` naming the variable."""

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(
                    f"environment variable {name} is required and is missing or empty"
                )
            return value

        def optional(name: str, default: str) -> str:
            value = env.get(name)
            if value is None:
                return default
            if not value.strip():
                raise ConfigError(f"environment variable {name} is set but empty")
            return value.strip()

        def whole(name: str, text: str, low: int, high: int) -> int:
            if not text.isdigit() or not low <= int(text) <= high:
                raise ConfigError(
                    f"{name} must be a whole number from {low} to {high}, got {text!r}"
                )
            return int(text)

        domain = required("PRIVATE_ZONE_DOMAIN").rstrip(".").lower()
        if not _DOMAIN_RE.fullmatch(domain):
            raise ConfigError(f"PRIVATE_ZONE_DOMAIN is not a DNS domain: {domain!r}")
        role = required("INSTANCE_ROLE_ARN")
        if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", role):
            raise ConfigError(f"INSTANCE_ROLE_ARN is not an IAM role ARN: {role!r}")
        device = optional("DATA_VOLUME_DEVICE", "/dev/xvdf")
        if not _DEVICE_RE.fullmatch(device):
            raise ConfigError(
                f"DATA_VOLUME_DEVICE must be /dev/sd[f-p] or /dev/xvd[f-p], got {device!r}"
            )
        snapshot = optional("SNAPSHOT_ON_TERMINATION", "true").lower()
        if snapshot not in ("true", "false"):
            raise ConfigError(f"SNAPSHOT_ON_TERMINATION must be true or false, got {snapshot!r}")
        cluster = env.get("ECS_CLUSTER_NAME", "").strip() or None
        return cls(
            network_name=required("NETWORK_NAME"),
            registry_table_name=required("REGISTRY_TABLE_NAME"),
            private_zone_id=required("PRIVATE_ZONE_ID"),
            private_zone_domain=domain,
            instance_role_arn=role,
            volume_kms_key_id=required("DATA_VOLUME_KMS_KEY_ID"),
            volume_size_gib=whole(
                "DATA_VOLUME_SIZE_GIB", required("DATA_VOLUME_SIZE_GIB"), 1, 16384
            ),
            volume_iops=whole("DATA_VOLUME_IOPS", required("DATA_VOLUME_IOPS"), 3000, 80000),
            volume_throughput=whole(
                "DATA_VOLUME_THROUGHPUT_MIBPS", required("DATA_VOLUME_THROUGHPUT_MIBPS"), 125, 2000
            ),
            artifact_bucket_name=required("ARTIFACT_BUCKET_NAME"),
            volume_device=device,
            genesis_object_key=optional("GENESIS_OBJECT_KEY", "genesis.json"),
            static_nodes_object_key=optional("STATIC_NODES_OBJECT_KEY", "static-nodes.json"),
            dns_ttl_seconds=whole("DNS_TTL_SECONDS", optional("DNS_TTL_SECONDS", "30"), 0, 86400),
            launch_lease_seconds=whole(
                "LAUNCH_LEASE_SECONDS", optional("LAUNCH_LEASE_SECONDS", "900"), 30, 7200
            ),
            stuck_after_seconds=whole(
                "STUCK_AFTER_SECONDS", optional("STUCK_AFTER_SECONDS", "1800"), 60, 604800
            ),
            volume_wait_seconds=whole(
                "VOLUME_WAIT_SECONDS", optional("VOLUME_WAIT_SECONDS", "60"), 0, 600
            ),
            snapshot_on_termination=snapshot == "true",
            ecs_cluster_name=cluster,
            drain_wait_seconds=whole(
                "DRAIN_WAIT_SECONDS", optional("DRAIN_WAIT_SECONDS", "120"), 0, 600
            ),
            metric_namespace=optional("METRIC_NAMESPACE", "BesuStack/Validators"),
        )
