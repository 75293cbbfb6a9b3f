"""Data access for the lifecycle functions, via boto3.

EC2, Route 53, Secrets Manager, Auto Scaling, ECS and CloudWatch here; the registry is in
:mod:`.registry`.

Each class wraps one boto3 client (typed ``Any``: boto3 ships no type information) and turns the
error codes the logic branches on into return values; other errors propagate unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from besu_stack.lambda_kernel import secret_policy
from besu_stack.lambda_kernel.aws import CallGuard, aws_client, error_code

from .registry import Registry

GONE_STATES = frozenset({"shutting-down", "terminated"})
NETWORK_TAG = "Network"
SLOT_TAG = "Slot"
SUPERSEDED_TAG = "besu:superseded-by"
SUPERSEDED_SLOT_TAG = "besu:superseded-slot"
SUPERSEDED_AT_TAG = "besu:superseded-at"
SNAPSHOT_SOURCE_TAG = "besu:snapshot"
TERMINATION_SNAPSHOT = "termination"


@dataclass(frozen=True)
class InstanceInfo:
    """What the hooks need to know about an instance."""

    instance_id: str
    state: str
    az: str
    private_ip: str | None


@dataclass(frozen=True)
class Attachment:
    """One attachment of a volume."""

    instance_id: str
    state: str
    device: str


@dataclass(frozen=True)
class VolumeInfo:
    """A data volume."""

    volume_id: str
    az: str
    state: str
    attachments: tuple[Attachment, ...]
    tags: dict[str, str]

    def attached_to(self, instance_id: str) -> bool:
        """``True`` when the volume is attached (or attaching) to ``instance_id``."""
        return any(
            a.instance_id == instance_id and a.state in ("attaching", "attached")
            for a in self.attachments
        )

    @property
    def live_attachments(self) -> tuple[Attachment, ...]:
        """Attachments not yet fully detached."""
        return tuple(a for a in self.attachments if a.state != "detached")


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot's id and state (``pending``, ``completed``, ``error``...)."""

    snapshot_id: str
    state: str


@dataclass(frozen=True)
class VolumeSpec:
    """Encryption and performance of new data volumes."""

    kms_key_id: str
    size_gib: int
    iops: int
    throughput: int


def _tags(items: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or ()}


def _volume(item: dict[str, Any]) -> VolumeInfo:
    return VolumeInfo(
        volume_id=str(item["VolumeId"]),
        az=str(item["AvailabilityZone"]),
        state=str(item["State"]),
        attachments=tuple(
            Attachment(str(a["InstanceId"]), str(a["State"]), str(a.get("Device", "")))
            for a in item.get("Attachments", [])
        ),
        tags=_tags(item.get("Tags")),
    )


class Ec2:
    """Instances, data volumes and snapshots."""

    def __init__(self, client: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._sleep = sleep

    def instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceInfo]:
        """The instances among ``instance_ids`` that EC2 still knows, by id.

        Uses an ``instance-id`` filter, so ids that no longer exist are simply absent.
        """
        found: dict[str, InstanceInfo] = {}
        ids = sorted(set(instance_ids))
        for start in range(0, len(ids), 150):
            paginator = self._client.get_paginator("describe_instances")
            pages = paginator.paginate(
                Filters=[{"Name": "instance-id", "Values": ids[start : start + 150]}]
            )
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for item in reservation.get("Instances", []):
                        found[item["InstanceId"]] = InstanceInfo(
                            instance_id=str(item["InstanceId"]),
                            state=str(item["State"]["Name"]),
                            az=str(item["Placement"]["AvailabilityZone"]),
                            private_ip=item.get("PrivateIpAddress"),
                        )
        return found

    def instance(self, instance_id: str) -> InstanceInfo | None:
        """One instance, or ``None`` when EC2 no longer knows it."""
        return self.instances([instance_id]).get(instance_id)

    def volume(self, volume_id: str) -> VolumeInfo | None:
        """A volume, or ``None`` when it does not exist."""
        try:
            response = self._client.describe_volumes(VolumeIds=[volume_id])
        except ClientError as exc:
            if error_code(exc) == "InvalidVolume.NotFound":
                return None
            raise
        volumes = response.get("Volumes", [])
        return _volume(volumes[0]) if volumes else None

    def slot_volumes(self, network: str, slot: int) -> list[VolumeInfo]:
        """Every volume tagged for the slot (including ones not recorded in the registry)."""
        response = self._client.describe_volumes(
            Filters=[
                {"Name": f"tag:{NETWORK_TAG}", "Values": [network]},
                {"Name": f"tag:{SLOT_TAG}", "Values": [str(slot)]},
            ]
        )
        return sorted((_volume(v) for v in response.get("Volumes", [])), key=lambda v: v.volume_id)

    def termination_snapshot(self, network: str, slot: int, volume_id: str) -> SnapshotInfo | None:
        """The newest termination-hook snapshot of ``volume_id`` (any status), or ``None``."""
        response = self._client.describe_snapshots(
            OwnerIds=["self"],
            Filters=[
                {"Name": f"tag:{NETWORK_TAG}", "Values": [network]},
                {"Name": f"tag:{SLOT_TAG}", "Values": [str(slot)]},
                {"Name": f"tag:{SNAPSHOT_SOURCE_TAG}", "Values": [TERMINATION_SNAPSHOT]},
                {"Name": "volume-id", "Values": [volume_id]},
            ],
        )
        snapshots = sorted(
            response.get("Snapshots", []), key=lambda s: (s["StartTime"], s["SnapshotId"])
        )
        if not snapshots:
            return None
        newest = snapshots[-1]
        return SnapshotInfo(str(newest["SnapshotId"]), str(newest["State"]))

    def wait_for_snapshot(self, snapshot_id: str, timeout_seconds: float) -> bool:
        """Poll until the snapshot is ``completed``; ``False`` on timeout, error or absence."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                response = self._client.describe_snapshots(SnapshotIds=[snapshot_id])
            except ClientError as exc:
                if error_code(exc) == "InvalidSnapshot.NotFound":
                    return False
                raise
            found = response.get("Snapshots", [])
            state = str(found[0]["State"]) if found else "missing"
            if state == "completed":
                return True
            if state in ("error", "missing") or time.monotonic() >= deadline:
                return False
            self._sleep(5.0)

    def latest_snapshot(self, network: str, slot: int) -> str | None:
        """The newest *completed* snapshot tagged for the slot, or ``None``."""
        response = self._client.describe_snapshots(
            OwnerIds=["self"],
            Filters=[
                {"Name": f"tag:{NETWORK_TAG}", "Values": [network]},
                {"Name": f"tag:{SLOT_TAG}", "Values": [str(slot)]},
                {"Name": "status", "Values": ["completed"]},
            ],
        )
        snapshots = sorted(
            response.get("Snapshots", []), key=lambda s: (s["StartTime"], s["SnapshotId"])
        )
        return str(snapshots[-1]["SnapshotId"]) if snapshots else None

    def create_volume(
        self, network: str, slot: int, az: str, spec: VolumeSpec, snapshot_id: str | None
    ) -> VolumeInfo:
        """Create the slot's encrypted gp3 data volume in ``az`` (from a snapshot if given)."""
        tags = [
            {"Key": NETWORK_TAG, "Value": network},
            {"Key": SLOT_TAG, "Value": str(slot)},
            {"Key": "Name", "Value": f"{network}-validator-{slot}-data"},
        ]
        kwargs: dict[str, Any] = {
            "AvailabilityZone": az,
            "VolumeType": "gp3",
            "Size": spec.size_gib,
            "Iops": spec.iops,
            "Throughput": spec.throughput,
            "Encrypted": True,
            "KmsKeyId": spec.kms_key_id,
            "TagSpecifications": [{"ResourceType": "volume", "Tags": tags}],
        }
        if snapshot_id is not None:
            kwargs["SnapshotId"] = snapshot_id
        return _volume(self._client.create_volume(**kwargs))

    def delete_volume(self, volume_id: str) -> None:
        """Delete a volume (only ever one this run created and nothing records)."""
        try:
            self._client.delete_volume(VolumeId=volume_id)
        except ClientError as exc:
            if error_code(exc) == "InvalidVolume.NotFound":
                return
            raise

    def mark_superseded(
        self, volume_id: str, by_volume_id: str, slot: int, now: int | None = None
    ) -> None:
        """Take a volume left in another AZ out of the slot.

        It is tagged with its replacement and loses its ``Slot`` tag, so it is never adopted
        again and the snapshots DLM keeps taking of it (their tags are copied) are not in the
        slot's restore lineage.
        """
        self._client.create_tags(
            Resources=[volume_id],
            Tags=[
                {"Key": SUPERSEDED_TAG, "Value": by_volume_id},
                {"Key": SUPERSEDED_SLOT_TAG, "Value": str(slot)},
                {"Key": SUPERSEDED_AT_TAG, "Value": str(int(time.time()) if now is None else now)},
            ],
        )
        self._client.delete_tags(Resources=[volume_id], Tags=[{"Key": SLOT_TAG}])

    def superseded_volumes(self, network: str) -> list[VolumeInfo]:
        """The network's volumes taken out of their slot by a cross-AZ restore."""
        response = self._client.describe_volumes(
            Filters=[
                {"Name": f"tag:{NETWORK_TAG}", "Values": [network]},
                {"Name": "tag-key", "Values": [SUPERSEDED_TAG]},
            ]
        )
        return sorted((_volume(v) for v in response.get("Volumes", [])), key=lambda v: v.volume_id)

    def create_snapshot(self, network: str, slot: int, volume_id: str) -> str:
        """Start a snapshot of the slot's volume, tagged for the slot."""
        response = self._client.create_snapshot(
            VolumeId=volume_id,
            Description=f"{network} validator slot {slot} data",
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [
                        {"Key": NETWORK_TAG, "Value": network},
                        {"Key": SLOT_TAG, "Value": str(slot)},
                        {"Key": SNAPSHOT_SOURCE_TAG, "Value": TERMINATION_SNAPSHOT},
                    ],
                }
            ],
        )
        return str(response["SnapshotId"])

    def attach(self, volume_id: str, instance_id: str, device: str) -> None:
        """Attach a volume."""
        self._client.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)

    def detach(self, volume_id: str, instance_id: str) -> None:
        """Detach a volume from an instance (a no-op when it is not attached there)."""
        try:
            self._client.detach_volume(VolumeId=volume_id, InstanceId=instance_id)
        except ClientError as exc:
            if error_code(exc) in ("IncorrectState", "InvalidAttachment.NotFound"):
                return
            raise

    def wait_until_available(self, volume_id: str, timeout_seconds: float) -> VolumeInfo | None:
        """Poll until the volume is ``available``; return it, or ``None`` on timeout/absence."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            volume = self.volume(volume_id)
            if volume is None:
                return None
            if volume.state == "available" and not volume.live_attachments:
                return volume
            if time.monotonic() >= deadline:
                return None
            self._sleep(2.0)

    def tag_instance(self, instance_id: str, tags: dict[str, str]) -> None:
        """Tag an instance (all tags in one call)."""
        self._client.create_tags(
            Resources=[instance_id],
            Tags=[{"Key": key, "Value": value} for key, value in sorted(tags.items())],
        )


class Dns:
    """The stable per-slot names in the private hosted zone."""

    def __init__(self, client: Any, zone_id: str) -> None:
        self._client = client
        self._zone_id = zone_id

    def point(self, name: str, ip: str, ttl: int) -> None:
        """UPSERT the A record ``name`` → ``ip``."""
        self._client.change_resource_record_sets(
            HostedZoneId=self._zone_id,
            ChangeBatch={
                "Comment": "besu validator slot follows its instance",
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": "A",
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": ip}],
                        },
                    }
                ],
            },
        )


class SecretAccess:
    """Which instance may read a slot's secret: the secret's resource policy.

    A grant writes :func:`~besu_stack.lambda_kernel.secret_policy.owner_policy` (the key guard,
    and ``GetSecretValue`` for the hosts' role only with the owner's ``ec2:SourceInstanceARN``);
    a revoke deletes the policy, which leaves the key unreadable to everyone but the key Lambda
    (:mod:`besu_stack.lambda_kernel.secret_policy` says why, and what an alert covers there). Only the launch hook's role may put
    a policy; every lifecycle role may delete one. See docs/replacement.md.
    """

    def __init__(
        self, client: Any, instance_role_arn: str, key_lambda_role_arn: str, secrets_key_arn: str
    ) -> None:
        self._client = client
        self._instance_role_arn = instance_role_arn
        self._key_lambda_role_arn = key_lambda_role_arn
        self._secrets_key_arn = secrets_key_arn

    def owner(self, secret_name: str) -> str | None:
        """The instance ARN the secret's policy lets read it, or ``None``."""
        try:
            response = self._client.get_resource_policy(SecretId=secret_name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return secret_policy.policy_owner(response.get("ResourcePolicy"))

    def grant(self, secret_name: str, instance_arn: str) -> bool:
        """Let exactly ``instance_arn`` read the secret (replaces any previous owner).

        Returns ``True`` when this call changed the policy, ``False`` when ``instance_arn``
        already was the owner (so an undo must not withdraw what it did not grant).
        """
        if self.owner(secret_name) == instance_arn:
            return False
        self.put_owner(secret_name, instance_arn)
        return True

    def put_owner(self, secret_name: str, instance_arn: str) -> None:
        """Write the policy that lets exactly ``instance_arn`` read the secret."""
        policy = secret_policy.owner_policy(
            self._instance_role_arn, self._key_lambda_role_arn, instance_arn, self._secrets_key_arn
        )
        self._client.put_resource_policy(
            SecretId=secret_name, ResourcePolicy=policy, BlockPublicPolicy=True
        )

    def revoke(self, secret_name: str, instance_arn: str) -> bool:
        """Withdraw the access of ``instance_arn`` if it is the owner; ``True`` when withdrawn.

        Deletes the policy (never writes one): a newer owner's policy names another instance
        and is left alone.
        """
        if self.owner(secret_name) != instance_arn:
            return False
        try:
            self._client.delete_resource_policy(SecretId=secret_name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return True  # the secret is gone: nobody reads it
            raise
        return True


class LifecycleActions:
    """Completing Auto Scaling lifecycle actions."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def complete(self, group: str, hook: str, token: str, instance_id: str, result: str) -> bool:
        """Complete an action with ``CONTINUE`` or ``ABANDON``.

        Returns ``False`` if it was no longer pending (completed already, or timed out).
        """
        try:
            self._client.complete_lifecycle_action(
                AutoScalingGroupName=group,
                LifecycleHookName=hook,
                LifecycleActionToken=token,
                InstanceId=instance_id,
                LifecycleActionResult=result,
            )
        except ClientError as exc:
            if error_code(exc) == "ValidationError":
                return False
            raise
        return True

    def heartbeat(self, group: str, hook: str, token: str, instance_id: str) -> bool:
        """Restart the action's heartbeat timeout; ``False`` if it is no longer pending."""
        try:
            self._client.record_lifecycle_action_heartbeat(
                AutoScalingGroupName=group,
                LifecycleHookName=hook,
                LifecycleActionToken=token,
                InstanceId=instance_id,
            )
        except ClientError as exc:
            if error_code(exc) == "ValidationError":
                return False
            raise
        return True


class Containers:
    """Draining the ECS container instance of a terminating EC2 instance (optional)."""

    def __init__(self, client: Any, cluster: str, sleep: Callable[[float], None] = time.sleep):
        self._client = client
        self._cluster = cluster
        self._sleep = sleep

    def drain(self, instance_id: str, wait_seconds: float) -> bool:
        """Set the container instance on ``instance_id`` to DRAINING and wait for its tasks.

        Returns ``False`` when it is not registered or tasks still run at the deadline.
        """
        arns: list[str] = []
        paginator = self._client.get_paginator("list_container_instances")
        for page in paginator.paginate(cluster=self._cluster):
            arns.extend(page.get("containerInstanceArns", []))
        target = None
        for start in range(0, len(arns), 100):
            described = self._client.describe_container_instances(
                cluster=self._cluster, containerInstances=arns[start : start + 100]
            )
            for item in described.get("containerInstances", []):
                if item.get("ec2InstanceId") == instance_id:
                    target = str(item["containerInstanceArn"])
        if target is None:
            return False
        self._client.update_container_instances_state(
            cluster=self._cluster, containerInstances=[target], status="DRAINING"
        )
        deadline = time.monotonic() + wait_seconds
        while True:
            described = self._client.describe_container_instances(
                cluster=self._cluster, containerInstances=[target]
            )
            items = described.get("containerInstances", [])
            if not items or int(items[0].get("runningTasksCount", 0)) == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            self._sleep(5.0)


DATA_MOUNT_POINT = "/var/lib/besu"
"""Where the host bootstrap mounts the slot's data volume (besu_stack/constructs/fleet/host_bootstrap.py)."""
UNMOUNT_SCRIPT = (
    "set -eu; "
    f"if mountpoint -q {DATA_MOUNT_POINT}; then sync; umount {DATA_MOUNT_POINT}; fi; "
    f"! mountpoint -q {DATA_MOUNT_POINT}"
)
"""Run on the host by the termination hook after ECS has stopped Besu: flush and unmount."""


class HostCommands:
    """Commands on a host through SSM Run Command.

    The host's SSM agent reaches the ssm and ec2messages VPC endpoints; the hook, outside the
    VPC, reaches SSM's public endpoint.
    """

    def __init__(self, client: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._sleep = sleep

    def run(self, instance_id: str, script: str, wait_seconds: float) -> bool:
        """Run ``script`` with ``AWS-RunShellScript``; ``True`` only when it succeeded in time."""
        try:
            response = self._client.send_command(
                InstanceIds=[instance_id],
                DocumentName="AWS-RunShellScript",
                Parameters={"commands": [script]},
                TimeoutSeconds=max(30, int(wait_seconds)),
                Comment="besu-stack termination: unmount the data volume",
            )
        except ClientError as exc:
            if error_code(exc) in ("InvalidInstanceId", "InvalidDocument"):
                return False  # not managed by SSM (the agent never registered)
            raise
        command_id = str(response["Command"]["CommandId"])
        deadline = time.monotonic() + wait_seconds
        while True:
            self._sleep(2.0)
            try:
                result = self._client.get_command_invocation(
                    CommandId=command_id, InstanceId=instance_id
                )
            except ClientError as exc:
                if error_code(exc) != "InvocationDoesNotExist":
                    raise
                result = {"Status": "Pending"}
            status = str(result.get("Status", ""))
            if status == "Success":
                return True
            if status in ("Cancelled", "TimedOut", "Failed", "Cancelling"):
                return False
            if time.monotonic() >= deadline:
                return False


class Metrics:
    """CloudWatch metrics of the registry, dimension ``Network``."""

    def __init__(self, client: Any, namespace: str, network: str) -> None:
        self._client = client
        self._namespace = namespace
        self._network = network

    def put(self, values: dict[str, float]) -> None:
        """Publish counts (unit ``Count``)."""
        self._client.put_metric_data(
            Namespace=self._namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "Network", "Value": self._network}],
                    "Value": value,
                    "Unit": "Count",
                }
                for name, value in sorted(values.items())
            ],
        )


class ClientNotBuiltError(RuntimeError):
    """A function used a store whose client its handler does not build (see ``STORES_CALLED``)."""


class _NotBuilt:
    """Stands in for the client of a store the function never calls: any use raises."""

    def __init__(self, store: str) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        raise ClientNotBuiltError(
            f"this function builds no client for its {self._store!r} store, yet called {name}: "
            f"add {self._store!r} to its handler's STORES_CALLED"
        )


STORE_NAMES = (
    "registry",
    "ec2",
    "dns",
    "secrets",
    "lifecycle",
    "metrics",
    "containers",
    "commands",
)
"""The stores of :class:`Stores` that wrap an AWS client."""


@dataclass(frozen=True)
class Stores:
    """Everything one invocation talks to."""

    registry: Registry
    ec2: Ec2
    dns: Dns
    secrets: SecretAccess
    lifecycle: LifecycleActions
    metrics: Metrics
    containers: Containers | None
    guard: CallGuard | None = None
    """Checks the invocation's time budget before every call (``None``: no checks)."""
    commands: HostCommands | None = None
    """Unmounts the data volume before it is detached (``None``: not attempted)."""

    @classmethod
    def from_boto3(
        cls,
        *,
        table_name: str,
        zone_id: str,
        instance_role_arn: str,
        key_lambda_role_arn: str,
        secrets_key_arn: str,
        metric_namespace: str,
        network: str,
        ecs_cluster: str | None,
        called: Collection[str] = STORE_NAMES,
    ) -> Stores:
        """Build the stores on clients from the shared factory (timeouts, retries).

        Only the stores named in ``called`` (of :data:`STORE_NAMES`) get a client: a cold start
        pays for the clients its handler calls, not for another handler's. Any other store
        raises :class:`ClientNotBuiltError` when used. Every client is wrapped by one
        :class:`CallGuard`, so a handler's time budget is checked before each call.
        """
        unknown = sorted(set(called) - set(STORE_NAMES))
        if unknown:
            raise ValueError(f"no store {', '.join(unknown)}; known: {', '.join(STORE_NAMES)}")
        guard = CallGuard()

        def client(store: str, make: Callable[[], Any]) -> Any:
            return guard.wrap(make()) if store in called else _NotBuilt(store)

        return cls(
            registry=Registry(client("registry", lambda: aws_client("dynamodb")), table_name),
            ec2=Ec2(client("ec2", lambda: aws_client("ec2"))),
            dns=Dns(client("dns", lambda: aws_client("route53")), zone_id),
            secrets=SecretAccess(
                client("secrets", lambda: aws_client("secretsmanager")),
                instance_role_arn,
                key_lambda_role_arn,
                secrets_key_arn,
            ),
            lifecycle=LifecycleActions(client("lifecycle", lambda: aws_client("autoscaling"))),
            metrics=Metrics(
                client("metrics", lambda: aws_client("cloudwatch")), metric_namespace, network
            ),
            containers=(
                None
                if ecs_cluster is None
                else Containers(client("containers", lambda: aws_client("ecs")), ecs_cluster)
            ),
            guard=guard,
            commands=HostCommands(client("commands", lambda: aws_client("ssm"))),
        )
