"""The configuration of the three lifecycle functions, read once from the environment.

A required variable that is missing or empty raises :class:`ConfigError` naming it at cold start.
An optional variable that is missing or empty takes the documented default (the rule of
:mod:`besu_stack.lambda_kernel.env`, the same in every function); an invalid value is an error,
never ignored.

================================  =============================================================
variable                          meaning
================================  =============================================================
``NETWORK_NAME``                  the network's name prefix: value of the ``Network`` tag on
                                  volumes and snapshots, and the metrics' ``Network`` dimension
``REGISTRY_TABLE_NAME``           DynamoDB key/node registry (partition key ``slot``, number)
``PRIVATE_ZONE_ID``               Route 53 private hosted zone id of the stable node names
``PRIVATE_ZONE_DOMAIN``           its domain; slot ``i`` is ``validator-<i>.<domain>``
``INSTANCE_ROLE_ARN``             the validators' instance role (named in secret policies)
``KEY_LAMBDA_ROLE_ARN``           the key Lambda's role: with the instance role, the only
                                  principal every secret policy lets read or write a key
``SECRETS_KEY_ARN``               the ARN of the slot secrets' KMS key: the only key every
                                  secret policy lets ``UpdateSecret`` name
``SECRET_NAME_PREFIX``            prefix of the slot secrets' names: slot ``i``'s key is
                                  ``<prefix>/validator-<i>/key``, derived from the slot number
                                  (never read from the registry)
``DATA_VOLUME_KMS_KEY_ID``        customer-managed KMS key (id or ARN) of the data volumes
``DATA_VOLUME_SIZE_GIB``          gp3 size in GiB (the ranges of
``DATA_VOLUME_IOPS``              :mod:`besu_stack.lambda_kernel.volumes`, which the
``DATA_VOLUME_THROUGHPUT_MIBPS``  Terraform variables validate against too)
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
``DRAIN_WAIT_SECONDS``            wait for the drained instance's tasks to stop; default 150
                                  (longer than the container stop timeout, so ECS stops Besu
                                  before the volume goes)
``FUNCTION_TIMEOUT_SECONDS``      the function's own timeout, the invocation's time budget;
                                  default 300
``RELEASE_WAIT_SECONDS``          how long a launch waits for a slot its terminating owner is
                                  releasing; default 150
``SNAPSHOT_WAIT_SECONDS``         how long a cross-AZ restore waits for the termination
                                  snapshot to complete; default 120
``MIN_CLAIM_AGE_SECONDS``         the reconciler frees no slot claimed more recently; default
                                  300
``RECONCILE_CONFIRM_SECONDS``     the reconciler frees a slot only when its owner was seen gone
                                  this long before (a second look); default 240
``SUPERSEDED_RETENTION_DAYS``     the reconciler deletes a volume superseded by a cross-AZ
                                  restore this many days later (its snapshots stay under the
                                  snapshot retention); default 14
``METRIC_NAMESPACE``              CloudWatch namespace; default ``BesuStack/Validators``
================================  =============================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from besu_stack.lambda_kernel import slots, volumes
from besu_stack.lambda_kernel.env import EnvReader
from besu_stack.lambda_kernel.slots import host_name

from .errors import ConfigError

_DEVICE_RE = re.compile(r"/dev/(sd|xvd)[f-p]")
_ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
_KMS_KEY_ARN_RE = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[\w-]+")


@dataclass(frozen=True)
class LifecycleConfig:
    """Where the registry, volumes, names and secrets of one network are, and the timings."""

    network_name: str
    registry_table_name: str
    private_zone_id: str
    private_zone_domain: str
    instance_role_arn: str
    key_lambda_role_arn: str
    secrets_key_arn: str
    secret_name_prefix: str
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
    drain_wait_seconds: int = 150
    metric_namespace: str = "BesuStack/Validators"
    function_timeout_seconds: int = 300
    release_wait_seconds: int = 150
    snapshot_wait_seconds: int = 120
    min_claim_age_seconds: int = 300
    reconcile_confirm_seconds: int = 240
    superseded_retention_days: int = 14

    def host(self, slot: int) -> str:
        """The stable DNS name of a slot's node."""
        return host_name(slot, self.private_zone_domain)

    def secret_name(self, slot: int) -> str:
        """The Secrets Manager name of a slot's node key, derived from the slot number alone."""
        return slots.secret_name(self.secret_name_prefix, slot)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LifecycleConfig:
        """Read and validate the configuration; raise :class:`ConfigError` naming the variable."""
        read = EnvReader(env, ConfigError)
        role = read.required("INSTANCE_ROLE_ARN")
        if not _ROLE_ARN_RE.fullmatch(role):
            raise ConfigError(f"INSTANCE_ROLE_ARN is not an IAM role ARN: {role!r}")
        key_lambda_role = read.required("KEY_LAMBDA_ROLE_ARN")
        if not _ROLE_ARN_RE.fullmatch(key_lambda_role):
            raise ConfigError(f"KEY_LAMBDA_ROLE_ARN is not an IAM role ARN: {key_lambda_role!r}")
        secrets_key = read.required("SECRETS_KEY_ARN")
        if not _KMS_KEY_ARN_RE.fullmatch(secrets_key):
            # A policy compares the request's key with this ARN: an id or alias never matches.
            raise ConfigError(f"SECRETS_KEY_ARN is not a KMS key ARN: {secrets_key!r}")
        device = read.text("DATA_VOLUME_DEVICE", "/dev/xvdf")
        if not _DEVICE_RE.fullmatch(device):
            raise ConfigError(
                f"DATA_VOLUME_DEVICE must be /dev/sd[f-p] or /dev/xvd[f-p], got {device!r}"
            )
        return cls(
            network_name=read.required("NETWORK_NAME"),
            registry_table_name=read.required("REGISTRY_TABLE_NAME"),
            private_zone_id=read.required("PRIVATE_ZONE_ID"),
            private_zone_domain=read.domain("PRIVATE_ZONE_DOMAIN"),
            instance_role_arn=role,
            key_lambda_role_arn=key_lambda_role,
            secrets_key_arn=secrets_key,
            secret_name_prefix=read.required("SECRET_NAME_PREFIX"),
            volume_kms_key_id=read.required("DATA_VOLUME_KMS_KEY_ID"),
            volume_size_gib=read.whole("DATA_VOLUME_SIZE_GIB", *volumes.SIZE_GIB_RANGE),
            volume_iops=read.whole("DATA_VOLUME_IOPS", *volumes.IOPS_RANGE),
            volume_throughput=read.whole(
                "DATA_VOLUME_THROUGHPUT_MIBPS", *volumes.THROUGHPUT_MIBPS_RANGE
            ),
            artifact_bucket_name=read.required("ARTIFACT_BUCKET_NAME"),
            volume_device=device,
            genesis_object_key=read.text("GENESIS_OBJECT_KEY", "genesis.json"),
            static_nodes_object_key=read.text("STATIC_NODES_OBJECT_KEY", "static-nodes.json"),
            dns_ttl_seconds=read.whole("DNS_TTL_SECONDS", 0, 86400, 30),
            launch_lease_seconds=read.whole("LAUNCH_LEASE_SECONDS", 30, 7200, 900),
            stuck_after_seconds=read.whole("STUCK_AFTER_SECONDS", 60, 604800, 1800),
            volume_wait_seconds=read.whole("VOLUME_WAIT_SECONDS", 0, 600, 60),
            snapshot_on_termination=read.boolean("SNAPSHOT_ON_TERMINATION", True),
            ecs_cluster_name=read.optional("ECS_CLUSTER_NAME"),
            drain_wait_seconds=read.whole("DRAIN_WAIT_SECONDS", 0, 600, 150),
            metric_namespace=read.text("METRIC_NAMESPACE", "BesuStack/Validators"),
            function_timeout_seconds=read.whole("FUNCTION_TIMEOUT_SECONDS", 30, 900, 300),
            release_wait_seconds=read.whole("RELEASE_WAIT_SECONDS", 0, 600, 150),
            snapshot_wait_seconds=read.whole("SNAPSHOT_WAIT_SECONDS", 0, 600, 120),
            min_claim_age_seconds=read.whole("MIN_CLAIM_AGE_SECONDS", 0, 86400, 300),
            reconcile_confirm_seconds=read.whole("RECONCILE_CONFIRM_SECONDS", 0, 86400, 240),
            superseded_retention_days=read.whole("SUPERSEDED_RETENTION_DAYS", 1, 3650, 14),
        )
