"""The lifecycle drill: what Auto Scaling would do to an applied network, played against moto.

After ``terraform apply`` into the emulated account, moto's Auto Scaling group has launched the
validator hosts from the real launch template, but nothing delivers their lifecycle events (moto
has no EventBridge-to-Lambda delivery for Auto Scaling). The drill delivers them as EventBridge
would (the documented event shape,
https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pools-eventbridge-events.html and
https://docs.aws.amazon.com/autoscaling/ec2/userguide/automating-ec2-auto-scaling-with-eventbridge.html)
to the real functions through Lambda's ``Invoke`` API, then reads back what the functions did:
slots claimed, volumes attached in the instance's zone, DNS records, secret policies. It then
replaces one validator (termination hook, instance terminated, replacement launched) and checks
that the replacement got the same slot, key, volume and name.

Each launched host is registered in the ECS cluster as its ECS agent would register it after
the host bootstrap. Every check reads AWS state (moto's), not the functions' own answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LAUNCHING = ("EC2 Instance-launch Lifecycle Action", "autoscaling:EC2_INSTANCE_LAUNCHING")
TERMINATING = ("EC2 Instance-terminate Lifecycle Action", "autoscaling:EC2_INSTANCE_TERMINATING")


class DrillFailure(AssertionError):
    """The network did not behave as the design says; the message says how."""


@dataclass(frozen=True)
class NetworkNames:
    """What the drill needs to find the network's parts (from Terraform's state and outputs)."""

    autoscaling_group_name: str
    cluster_name: str
    registry_table_name: str
    node_zone_name: str
    launch_function_name: str
    termination_function_name: str
    validator_secret_arns: tuple[str, ...]

    @classmethod
    def from_state(cls, state: dict[str, Any], outputs: dict[str, Any]) -> NetworkNames:
        """Read the names from ``terraform show -json`` (state) and ``terraform output -json``."""
        functions = {
            r["name"]: r["values"]["function_name"]
            for r in state["values"]["root_module"].get("resources", [])
            if r["type"] == "aws_lambda_function"
        }

        def function(prefix: str) -> str:
            (name,) = [v for k, v in functions.items() if k.startswith(prefix)]
            return str(name)

        return cls(
            autoscaling_group_name=outputs["autoscaling_group_name"],
            cluster_name=outputs["ecs_cluster_name"],
            registry_table_name=outputs["registry_table_name"],
            node_zone_name=outputs["node_zone_name"],
            launch_function_name=function("node_lifecycle_launch_function"),
            termination_function_name=function("node_lifecycle_termination_function"),
            validator_secret_arns=tuple(outputs["validator_secret_arns"]),
        )


@dataclass(frozen=True)
class SlotState:
    """One validator slot as AWS holds it after the hooks ran."""

    slot: int
    owner_instance_id: str
    volume_id: str
    volume_az: str
    dns_name: str
    dns_ip: str
    secret_arn: str


@dataclass
class DrillReport:
    """What the drill did and saw."""

    launched: list[str] = field(default_factory=list)
    slots: dict[int, SlotState] = field(default_factory=dict)
    replaced_slot: int | None = None
    replaced_instance: str = ""
    replacement_instance: str = ""
    completed_actions: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line per fact, for ``besu-stack rehearse``."""
        lines = [f"slots claimed: {len(self.slots)} by {len(self.launched)} launched instances"]
        for state in self.slots.values():
            lines.append(
                f"  slot {state.slot}: {state.owner_instance_id}, {state.volume_id} in "
                f"{state.volume_az}, {state.dns_name} -> {state.dns_ip}"
            )
        if self.replaced_slot is not None:
            lines.append(
                f"replacement: slot {self.replaced_slot} moved from {self.replaced_instance} to "
                f"{self.replacement_instance} with the same key, volume and name"
            )
        return "\n".join(lines)


class LifecycleDrill:
    """Delivers lifecycle events to the real functions and checks the outcome in AWS."""

    def __init__(
        self,
        names: NetworkNames,
        client: Callable[..., Any],
        completed_actions: Callable[[], list[dict[str, str]]],
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.names = names
        self.completed_actions = completed_actions
        self.progress = progress
        self.autoscaling = client("autoscaling")
        self.ec2 = client("ec2")
        # A synchronous Invoke lasts as long as the function runs (up to its timeout).
        self.lambda_ = client("lambda", read_timeout=900)
        self.ecs = client("ecs")
        self.dynamodb = client("dynamodb")
        self.route53 = client("route53")
        self.secrets = client("secretsmanager")
        self.report = DrillReport()

    def run(self) -> DrillReport:
        """Launch every host, check the slots, replace one validator, check again."""
        for instance_id in self._group_instances():
            self.launch(instance_id)
        self.report.slots = self.check_slots()
        victim_slot = 0
        before = self.report.slots[victim_slot]
        replacement = self.replace(before.owner_instance_id)
        after = self.check_slots()
        now = after[victim_slot]
        if now.owner_instance_id != replacement:
            raise DrillFailure(
                f"slot {victim_slot} is owned by {now.owner_instance_id}, not {replacement}"
            )
        for attribute in ("volume_id", "secret_arn", "dns_name", "volume_az"):
            if getattr(now, attribute) != getattr(before, attribute):
                raise DrillFailure(
                    f"slot {victim_slot} changed its {attribute} across the replacement: "
                    f"{getattr(before, attribute)} -> {getattr(now, attribute)}"
                )
        self.report.slots = after
        self.report.replaced_slot = victim_slot
        self.report.replaced_instance = before.owner_instance_id
        self.report.replacement_instance = replacement
        self.report.completed_actions = self.completed_actions()
        return self.report

    # --- events ---------------------------------------------------------------------------

    def _event(self, instance_id: str, kind: tuple[str, str], hook: str) -> dict[str, Any]:
        group = self._group()
        detail_type, transition = kind
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.autoscaling",
            "account": group["AutoScalingGroupARN"].split(":")[4],
            "time": "2026-12-01T00:00:00Z",
            "region": group["AutoScalingGroupARN"].split(":")[3],
            "resources": [group["AutoScalingGroupARN"]],
            "detail": {
                "LifecycleActionToken": str(uuid.uuid4()),
                "AutoScalingGroupName": group["AutoScalingGroupName"],
                "LifecycleHookName": hook,
                "EC2InstanceId": instance_id,
                "LifecycleTransition": transition,
            },
        }

    def _hook(self, transition: str) -> str:
        hooks = self.autoscaling.describe_lifecycle_hooks(
            AutoScalingGroupName=self.names.autoscaling_group_name
        )["LifecycleHooks"]
        (name,) = [h["LifecycleHookName"] for h in hooks if h["LifecycleTransition"] == transition]
        return str(name)

    def _invoke(self, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
        answer = self.lambda_.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            raise DrillFailure(f"{function_name} failed: {payload}")
        return payload if isinstance(payload, dict) else {"result": payload}

    def launch(self, instance_id: str) -> dict[str, Any]:
        """Deliver the launch lifecycle event of ``instance_id`` to the launch hook."""
        answer = self._invoke(
            self.names.launch_function_name,
            self._event(instance_id, LAUNCHING, self._hook(LAUNCHING[1])),
        )
        self.report.launched.append(instance_id)
        self.register_container_instance(instance_id)
        self.progress(
            f"launch hook for {instance_id}: {answer.get('result')}, slot {answer.get('slot')}"
        )
        return answer

    def register_container_instance(self, instance_id: str) -> None:
        """Register the host in the cluster, as its ECS agent does once the bootstrap ran.

        The termination hook drains the host through ECS before it unmounts and detaches the
        data volume; a host that never joined the cluster keeps its volume for the reconciler.
        """
        document = json.dumps({"instanceId": instance_id})
        self.ecs.register_container_instance(
            cluster=self.names.cluster_name, instanceIdentityDocument=document
        )

    def replace(self, instance_id: str) -> str:
        """Terminate ``instance_id`` as a scale-in would and launch its replacement."""
        self._invoke(
            self.names.termination_function_name,
            self._event(instance_id, TERMINATING, self._hook(TERMINATING[1])),
        )
        self.progress(f"termination hook for {instance_id} completed")
        known = set(self._group_instances())
        self.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
        )
        fresh = [i for i in self._group_instances() if i not in known]
        if len(fresh) != 1:
            raise DrillFailure(f"expected one replacement instance, the group has {fresh}")
        self.launch(fresh[0])
        return fresh[0]

    # --- reading AWS ----------------------------------------------------------------------

    def _group(self) -> dict[str, Any]:
        (group,) = self.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.names.autoscaling_group_name]
        )["AutoScalingGroups"]
        return dict(group)

    def _group_instances(self) -> list[str]:
        return [
            i["InstanceId"]
            for i in self._group()["Instances"]
            if i["LifecycleState"] in {"InService", "Pending", "Pending:Wait"}
        ]

    def check_slots(self) -> dict[int, SlotState]:
        """Every slot claimed once by a live instance, with its volume, name and secret grant."""
        items = self.dynamodb.scan(TableName=self.names.registry_table_name, ConsistentRead=True)[
            "Items"
        ]
        records = {
            int(i["slot"]["N"]): {k: next(iter(v.values())) for k, v in i.items()} for i in items
        }
        expected = len(self.names.validator_secret_arns)
        if sorted(records) != list(range(expected)):
            raise DrillFailure(
                f"the registry holds slots {sorted(records)}, expected 0..{expected - 1}"
            )
        owners = [r.get("owner_instance_id") for r in records.values()]
        if len(set(owners)) != expected or None in owners:
            raise DrillFailure(f"slots are not each owned by a distinct instance: {owners}")
        live = set(self._group_instances())
        zone_records = self._zone_records()
        states = {}
        for slot, record in sorted(records.items()):
            owner = str(record["owner_instance_id"])
            if owner not in live or record.get("status") != "in_use":
                raise DrillFailure(
                    f"slot {slot} is held by {owner} ({record.get('status')}), not a live instance"
                )
            instance = self.ec2.describe_instances(InstanceIds=[owner])["Reservations"][0][
                "Instances"
            ][0]
            az = instance["Placement"]["AvailabilityZone"]
            volume_id = str(record["volume_id"])
            (volume,) = self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
            attached = [
                a["InstanceId"]
                for a in volume.get("Attachments", [])
                if a.get("State") in {"attached", "attaching"}
            ]
            if (
                volume["AvailabilityZone"] != az
                or attached != [owner]
                or not volume.get("Encrypted")
            ):
                raise DrillFailure(
                    f"slot {slot}: volume {volume_id} is in {volume['AvailabilityZone']} attached to "
                    f"{attached} (encrypted={volume.get('Encrypted')}); the owner {owner} is in {az}"
                )
            name = f"validator-{slot}.{self.names.node_zone_name.rstrip('.')}"
            ip = zone_records.get(name, "")
            if ip != instance.get("PrivateIpAddress"):
                raise DrillFailure(
                    f"{name} points at {ip!r}, the owner's address is {instance.get('PrivateIpAddress')}"
                )
            secret_arn = self.names.validator_secret_arns[slot]
            policy = self.secrets.get_resource_policy(SecretId=secret_arn).get("ResourcePolicy", "")
            if owner not in policy:
                raise DrillFailure(
                    f"the policy of slot {slot}'s secret does not name its owner {owner}"
                )
            others = [o for o in owners if o != owner and o in policy]
            if others:
                raise DrillFailure(
                    f"the policy of slot {slot}'s secret names other instances {others}"
                )
            states[slot] = SlotState(slot, owner, volume_id, az, name, ip, secret_arn)
        return states

    def _zone_records(self) -> dict[str, str]:
        zones = self.route53.list_hosted_zones()["HostedZones"]
        wanted = self.names.node_zone_name.rstrip(".") + "."
        (zone,) = [z for z in zones if z["Name"] == wanted]
        records = self.route53.list_resource_record_sets(HostedZoneId=zone["Id"])[
            "ResourceRecordSets"
        ]
        return {
            r["Name"].rstrip("."): r["ResourceRecords"][0]["Value"]
            for r in records
            if r["Type"] == "A" and r.get("ResourceRecords")
        }
