"""``besu-stack rehearse``: plan, apply, drill and destroy a network in a local emulated account.

For a user before the first real apply, and for the test suite: the synthesized network is
planned and applied by the real Terraform and AWS provider into a local moto server (no AWS
account, no credentials), the key Lambda runs from its deployed package, the lifecycle drill
replaces a validator, a second plan must show no change of our making, and the network is
destroyed the way the README's "Destroying safely" section says. Each phase prints a progress
line; the end prints a short report.

What moto cannot round-trip is listed in :data:`MOTO_ROUND_TRIP_GAPS`: a second plan may show
those attributes changing (moto does not store or return them) and nothing else.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from besu_stack.rehearsal.drill import DrillReport, LifecycleDrill, NetworkNames
from besu_stack.rehearsal.moto_server import MotoServer, write_provider_override
from besu_stack.rehearsal.terraform import Terraform
from besu_stack.settings import Settings

MOTO_ROUND_TRIP_GAPS: dict[str, dict[str, str]] = {
    "aws_autoscaling_group": {
        "default_instance_warmup": "moto does not return DefaultInstanceWarmup",
        "launch_template": "follows the launch template's version, see aws_launch_template",
    },
    "aws_ecs_service": {
        "capacity_provider_strategy": "moto does not return a service's capacityProviderStrategy",
        "availability_zone_rebalancing": "moto does not return availabilityZoneRebalancing",
        "enable_ecs_managed_tags": "moto does not return enableECSManagedTags",
        "health_check_grace_period_seconds": "moto does not return healthCheckGracePeriodSeconds",
        "tags": "moto returns no tags for the service",
        "deployment_controller": "moto does not return deploymentController",
        "placement_constraints": "moto does not return placementConstraints",
        "triggers": "computed, follows the replacement forced by capacity_provider_strategy",
        "iam_role": "computed, follows the replacement forced by capacity_provider_strategy",
        "launch_type": "computed, follows the replacement forced by capacity_provider_strategy",
        "platform_version": "computed, follows the replacement forced by capacity_provider_strategy",
    },
    "aws_kms_key": {"rotation_period_in_days": "moto does not return RotationPeriodInDays"},
    "aws_lambda_function": {"dead_letter_config": "moto does not return DeadLetterConfig"},
    "aws_launch_template": {
        "tag_specifications": "moto does not return the launch template's TagSpecifications",
        "default_version": "a new version follows the tag_specifications gap",
        "latest_version": "a new version follows the tag_specifications gap",
    },
    "aws_lb": {
        "enforce_security_group_inbound_rules_on_private_link_traffic": "moto does not return it"
    },
    "aws_route53_zone": {"vpc": "moto does not return a private zone's VPC associations"},
    "aws_vpc_endpoint_service": {
        "supported_ip_address_types": "moto does not return SupportedIpAddressTypes"
    },
    "aws_vpc_security_group_egress_rule": {
        "description": "moto does not return a security group rule's Description"
    },
    "aws_vpc_security_group_ingress_rule": {
        "description": "moto does not return a security group rule's Description"
    },
}
"""Attributes a second plan against moto may show changing, by resource type, and why."""

REHEARSAL_VARIABLES: dict[str, object] = {"rpc_nlb_deletion_protection": False}
"""Variables of the rehearsal's apply: the NLB's deletion protection off, so destroy can finish."""

EXPECTED_LEFTOVERS = frozenset({"ec2:volume", "ec2:snapshot", "kms:key", "secretsmanager:secret"})
"""What a destroy leaves in the account (README, "Destroying safely"): the data volumes and
snapshots the lifecycle Lambdas created, the KMS key (pending deletion) and the key secrets
(recovery window)."""


class RehearsalFailure(RuntimeError):
    """A phase found the network not as designed; the message says what and where."""


@dataclass(frozen=True)
class PlannedChange:
    """One resource a second plan would change, and the attributes that differ."""

    address: str
    type: str
    actions: tuple[str, ...]
    attributes: tuple[str, ...]

    @property
    def explained(self) -> bool:
        """Whether every differing attribute is a known moto round-trip gap."""
        gaps = MOTO_ROUND_TRIP_GAPS.get(self.type, {})
        return bool(self.attributes) and all(a in gaps for a in self.attributes)


@dataclass
class RehearsalReport:
    """What the rehearsal did, phase by phase."""

    seconds: dict[str, float] = field(default_factory=dict)
    resources_planned: int = 0
    resources_created: int = 0
    keys: dict[int, str] = field(default_factory=dict)
    drill: DrillReport | None = None
    second_plan: list[PlannedChange] = field(default_factory=list)
    resources_destroyed: int = 0
    leftovers: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """The short report printed at the end."""
        lines = [
            "Rehearsal complete (local emulated account, nothing real was touched):",
            f"  resources: {self.resources_planned} planned, {self.resources_created} created, "
            f"{self.resources_destroyed} destroyed",
            f"  validator keys generated inside the account: {len(self.keys)} "
            f"({', '.join(self.keys.values())})",
        ]
        if self.drill is not None:
            lines += ["  " + line for line in self.drill.summary().splitlines()]
        gaps = [c.address for c in self.second_plan]
        lines.append(
            f"  second plan: no change of our making ({len(gaps)} resources differ only in "
            "attributes moto does not round-trip)"
        )
        lines.append(
            "  left after destroy (as the README says): "
            + ", ".join(f"{len(v)} {k}" for k, v in sorted(self.leftovers.items()))
        )
        lines.append("  time: " + ", ".join(f"{k} {v:.0f}s" for k, v in self.seconds.items()))
        return "\n".join(lines)


Observer = Callable[[str, "Rehearsal"], None]


class Rehearsal:
    """The phases of a rehearsal, run in order by :meth:`run`."""

    PHASES = ("synth", "init", "plan", "apply", "keys", "drill", "second_plan", "destroy")

    def __init__(
        self,
        workdir: Path,
        *,
        settings: Settings | None = None,
        source_dir: Path | None = None,
        progress: Callable[[str], None] = print,
        observer: Observer | None = None,
    ) -> None:
        self.workdir = workdir
        self.settings = settings or Settings()
        self.source_dir = source_dir
        self.progress = progress
        self.observer = observer
        self.report = RehearsalReport()
        self.moto: MotoServer | None = None
        self.terraform: Terraform | None = None
        self.apply_output = ""
        self.names: NetworkNames | None = None

    @property
    def module_dir(self) -> Path:
        """The root module being rehearsed (a copy of the synthesized stack)."""
        return self.workdir / self.settings.network_name

    def run(self) -> RehearsalReport:
        """Run every phase against a fresh local moto server; return the report."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with MotoServer(log_path=self.workdir / "moto.log") as moto:
            self.moto = moto
            try:
                for phase in self.PHASES:
                    started = time.monotonic()
                    self.progress(f"==> {phase}")
                    getattr(self, f"phase_{phase}")()
                    self.report.seconds[phase] = time.monotonic() - started
                    if self.observer is not None:
                        self.observer(phase, self)
            finally:
                # What each Lambda run printed, for reading after a failure too.
                (self.workdir / "lambda-invocations.json").write_text(
                    json.dumps(moto.report("lambda-invocations"), indent=2), encoding="utf-8"
                )
        self.progress(self.report.summary())
        return self.report

    def tf(self) -> Terraform:
        """Terraform in the module directory (from the init phase on)."""
        assert self.terraform is not None, "the init phase has not run"
        return self.terraform

    def account(self) -> MotoServer:
        """The emulated account (while :meth:`run` runs)."""
        assert self.moto is not None, "the rehearsal runs inside run()"
        return self.moto

    # --- phases ----------------------------------------------------------------------------

    def phase_synth(self) -> None:
        """Synthesize the network (or take ``source_dir``) into the working directory."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.module_dir.exists():
            shutil.rmtree(self.module_dir)
        source = self.source_dir
        if source is None:
            from besu_stack.app import build_app

            outdir = self.workdir / "cdktf.out"
            build_app([self.settings], outdir=outdir).synth()
            source = outdir / "stacks" / self.settings.network_name
        shutil.copytree(
            source, self.module_dir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
        )
        write_provider_override(self.module_dir)
        self.progress(f"    root module: {self.module_dir}")

    def phase_init(self) -> None:
        """``terraform init`` with the provider mirror when there is one."""
        self.terraform = Terraform(self.module_dir, env=self.account().isolated_environment())
        self.tf().init()
        mirror = self.tf().mirror
        self.progress(f"    provider from {mirror if mirror else 'the registry'}")

    def phase_plan(self) -> None:
        """``terraform plan`` against the emulated account."""
        self.tf().plan(variables=REHEARSAL_VARIABLES)
        shown = self.tf().show_plan()
        self.report.resources_planned = sum(
            1 for c in shown["resource_changes"] if c["mode"] == "managed"
        )
        self.progress(f"    {self.report.resources_planned} resources to create")

    def phase_apply(self) -> None:
        """``terraform apply`` of the plan; the key Lambda runs from its deployed package."""
        self.apply_output = self.tf().apply()
        state = self.tf().show_state()
        resources = state["values"]["root_module"].get("resources", [])
        self.report.resources_created = sum(1 for r in resources if r["mode"] == "managed")
        self.names = NetworkNames.from_state(state, self.tf().output())
        self.progress(f"    {self.report.resources_created} resources created")

    def phase_keys(self) -> None:
        """Each slot secret holds a valid key whose address the registry and genesis list."""
        from besu_stack.besu.extra_data import decode_extra_data
        from besu_stack.besu.keys import NodeKey

        assert self.names is not None
        outputs = self.tf().output()
        client = self.account().client
        secrets = client("secretsmanager")
        addresses = {}
        for slot, arn in enumerate(self.names.validator_secret_arns):
            value = secrets.get_secret_value(SecretId=arn)["SecretString"]
            addresses[slot] = NodeKey.from_key_file(value).identity.address.lower()
        if len(set(addresses.values())) != len(addresses):
            raise RehearsalFailure(f"two slots hold the same key: {addresses}")
        listed = [a.lower() for a in outputs["validator_addresses"]]
        if listed != [addresses[s] for s in sorted(addresses)]:
            raise RehearsalFailure(f"validator_addresses {listed} differ from the keys {addresses}")
        s3 = client("s3")
        bucket = outputs["artifact_bucket_name"]
        genesis = json.loads(s3.get_object(Bucket=bucket, Key="genesis.json")["Body"].read())
        decoded = decode_extra_data(self.settings.consensus, genesis["extraData"])
        in_genesis = sorted(a.lower() for a in decoded.validators)
        if in_genesis != sorted(addresses.values()):
            raise RehearsalFailure(
                f"genesis extraData lists {in_genesis}, the keys are {addresses}"
            )
        s3.head_object(Bucket=bucket, Key="static-nodes.json")
        self.report.keys = addresses
        self.progress(f"    {len(addresses)} distinct keys; registry, genesis and outputs agree")

    def phase_drill(self) -> None:
        """Deliver lifecycle events to the real hooks and replace one validator."""
        assert self.names is not None
        moto = self.account()
        drill = LifecycleDrill(
            self.names,
            moto.client,
            lambda: list(moto.report("lifecycle-actions")),
            progress=lambda line: self.progress(f"    {line}"),
        )
        self.report.drill = drill.run()

    def phase_second_plan(self) -> None:
        """A second plan changes nothing but what moto cannot round-trip."""
        self.tf().plan(out="second.bin", variables=REHEARSAL_VARIABLES)
        changes = planned_changes(self.tf().show_plan("second.bin"))
        unexplained = [c for c in changes if not c.explained]
        if unexplained:
            raise RehearsalFailure(
                "a second plan would change: "
                + "; ".join(f"{c.address} ({', '.join(c.attributes)})" for c in unexplained)
            )
        self.report.second_plan = changes
        self.progress(f"    no change of ours ({len(changes)} moto round-trip gaps)")

    def phase_destroy(self) -> None:
        """Destroy as the README says: lift the registry's protection, empty the buckets."""
        assert self.names is not None
        client = self.account().client
        outputs = self.tf().output()
        client("dynamodb").update_table(
            TableName=self.names.registry_table_name, DeletionProtectionEnabled=False
        )
        for bucket in (outputs["artifact_bucket_name"], outputs["rpc_access_log_bucket_name"]):
            empty_bucket(client("s3"), bucket)
        before = self.report.resources_created
        self.tf().destroy(variables=REHEARSAL_VARIABLES)
        state = self.tf().show_state()
        remaining = (state.get("values") or {}).get("root_module", {}).get("resources", [])
        if remaining:
            raise RehearsalFailure(f"destroy left {len(remaining)} resources in the state")
        self.report.resources_destroyed = before
        self.report.leftovers = leftovers(client, self.settings.network_name)
        unexpected = set(self.report.leftovers) - EXPECTED_LEFTOVERS
        if unexpected:
            raise RehearsalFailure(f"destroy left {sorted(unexpected)}: {self.report.leftovers}")
        self.progress("    destroyed; left: " + ", ".join(sorted(self.report.leftovers)))


def planned_changes(plan: dict[str, Any]) -> list[PlannedChange]:
    """Resources a plan would change, with the attributes whose known values differ."""
    found = []
    for change in plan.get("resource_changes", []):
        actions = tuple(change["change"]["actions"])
        if actions in {("no-op",), ("read",)}:
            continue
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        unknown = change["change"].get("after_unknown") or {}
        differing = sorted(
            k
            for k in set(before) | set(after)
            if _value(before.get(k)) != _value(after.get(k)) and unknown.get(k) is not True
        )
        known_unknown = sorted(
            k for k, v in unknown.items() if v is True and before.get(k) is not None
        )
        # Identifiers that turn unknown follow a replacement another attribute forces.
        attributes = tuple(sorted(set(differing) | (set(known_unknown) - {"id", "arn"})))
        found.append(PlannedChange(change["address"], change["type"], actions, attributes))
    return found


def _value(value: object) -> object:
    """A planned value with the provider's empty forms (null, [], {}, "") made one, nested too."""
    if isinstance(value, dict):
        value = {k: v for k, v in ((k, _value(v)) for k, v in value.items()) if v is not None}
    elif isinstance(value, list):
        value = [v for v in (_value(v) for v in value) if v is not None]
    return None if value in (None, [], {}, "") else value


def empty_bucket(s3: Any, bucket: str) -> None:
    """Delete every object version and delete marker of ``bucket``."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [
            {"Key": o["Key"], "VersionId": o["VersionId"]}
            for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def leftovers(client: Callable[[str], Any], network_name: str) -> dict[str, list[str]]:
    """What is still in the account for the network, by ``service:type``."""
    found: dict[str, list[str]] = {}
    ec2 = client("ec2")
    network_filter = [{"Name": "tag:Network", "Values": [network_name]}]
    for volume in ec2.describe_volumes(Filters=network_filter)["Volumes"]:
        found.setdefault("ec2:volume", []).append(volume["VolumeId"])
    for snapshot in ec2.describe_snapshots(OwnerIds=["self"], Filters=network_filter)["Snapshots"]:
        found.setdefault("ec2:snapshot", []).append(snapshot["SnapshotId"])
    for reservation in ec2.describe_instances(Filters=network_filter)["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] not in {"terminated", "shutting-down"}:
                found.setdefault("ec2:instance", []).append(instance["InstanceId"])
    kms = client("kms")
    for key in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        tags = {
            t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
        }
        if tags.get("Network") == network_name:
            found.setdefault("kms:key", []).append(f"{meta['KeyId']} ({meta['KeyState']})")
    secrets = client("secretsmanager")
    for secret in secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"]:
        if secret["Name"].startswith(f"{network_name}/"):
            state = "scheduled for deletion" if secret.get("DeletedDate") else "active"
            found.setdefault("secretsmanager:secret", []).append(f"{secret['Name']} ({state})")
    for table in client("dynamodb").list_tables()["TableNames"]:
        if table.startswith(f"{network_name}-"):
            found.setdefault("dynamodb:table", []).append(table)
    for bucket in client("s3").list_buckets()["Buckets"]:
        if bucket["Name"].startswith(f"{network_name}-"):
            found.setdefault("s3:bucket", []).append(bucket["Name"])
    return found
