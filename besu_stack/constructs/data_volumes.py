"""The validators' data volumes as the lifecycle functions manage them, and the grants on them.

Terraform creates no data volume: the launch hook creates (or restores) one per slot, tagged
``Network=<network>``, and the hooks attach, detach, snapshot and, after a cross-AZ restore, the
reconciler deletes the one it superseded. Every grant here is limited to volumes and snapshots
of this network by that tag, and to this network's hosts by the tag Auto Scaling puts on them.
The EC2 actions authorize against two resource types (a volume and an instance, a volume and a
snapshot: Service Authorization Reference for Amazon EC2,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html), each
granted in a statement of its own with its own condition.
"""

from __future__ import annotations

from dataclasses import dataclass

from besu_stack.constructs.fleet.names import DATA_VOLUME_TAG
from besu_stack.constructs.fleet.reference import FleetReference
from besu_stack.constructs.iam import Grantable
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EBS_VOLUMES, EncryptionKey

SUPERSEDED_TAGS = ("besu:superseded-by", "besu:superseded-slot", "besu:superseded-at")
"""The tags the launch hook puts on a volume a cross-AZ restore replaced (``lambda_src``)."""
SLOT_TAG = "Slot"


@dataclass(frozen=True)
class DataVolumeSpec:
    """Size and performance of each slot's gp3 data volume (tokens or literals)."""

    size_gib: float
    iops: float
    throughput_mibps: float


class DataVolumes:
    """Grants on this network's data volumes and snapshots (see the module docstring)."""

    def __init__(
        self, identity: NetworkIdentity, fleet: FleetReference, key: EncryptionKey
    ) -> None:
        self._identity = identity
        self._fleet = fleet
        self._key = key
        self._network_tag = {
            "StringEquals": {f"aws:ResourceTag/{DATA_VOLUME_TAG}": identity.network_name}
        }

    def grant_describe(self, grantee: Grantable) -> None:
        """Describe instances, volumes and snapshots (no resource-level permissions: ``*``)."""
        grantee.add_to_policy(
            {
                "Sid": "DescribeHasNoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": ["ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeVolumes"],
                "Resource": "*",
            }
        )

    def grant_create(self, grantee: Grantable) -> None:
        """Create encrypted gp3 volumes of this network, empty or from its snapshots."""
        identity = self._identity
        network = identity.network_name
        for statement in (
            {
                "Sid": "CreateEncryptedNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateVolume",
                "Resource": identity.volumes_arn,
                "Condition": {
                    "StringEquals": {
                        f"aws:RequestTag/{DATA_VOLUME_TAG}": network,
                        "ec2:VolumeType": "gp3",
                    },
                    "Bool": {"ec2:Encrypted": "true"},
                },
            },
            {
                "Sid": "RestoreFromNetworkSnapshots",
                "Effect": "Allow",
                "Action": "ec2:CreateVolume",
                "Resource": identity.snapshots_arn,
                "Condition": self._network_tag,
            },
            {
                "Sid": "TagNewVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": identity.volumes_arn,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateVolume"}},
            },
        ):
            grantee.add_to_policy(statement)
        self._key.grant(grantee, EBS_VOLUMES, via_service="ec2")

    def grant_supersede(self, grantee: Grantable) -> None:
        """Mark a volume a cross-AZ restore replaced, and take it out of its slot."""
        volumes = self._identity.volumes_arn
        grantee.add_to_policy(
            {
                "Sid": "MarkSupersededVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": volumes,
                "Condition": {
                    **self._network_tag,
                    "ForAllValues:StringEquals": {"aws:TagKeys": list(SUPERSEDED_TAGS)},
                },
            }
        )
        grantee.add_to_policy(
            {
                "Sid": "TakeSupersededVolumesOutOfTheirSlot",
                "Effect": "Allow",
                "Action": "ec2:DeleteTags",
                "Resource": volumes,
                "Condition": {
                    **self._network_tag,
                    "ForAllValues:StringEquals": {"aws:TagKeys": [SLOT_TAG]},
                },
            }
        )

    def grant_attach(self, grantee: Grantable) -> None:
        """Attach this network's volumes to this network's hosts."""
        grantee.add_to_policy(
            {
                "Sid": "AttachNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:AttachVolume",
                "Resource": self._identity.volumes_arn,
                "Condition": self._network_tag,
            }
        )
        grantee.add_to_policy(
            {
                "Sid": "AttachToValidatorInstances",
                "Effect": "Allow",
                "Action": "ec2:AttachVolume",
                "Resource": self._identity.instances_arn,
                "Condition": self._fleet.instances_of_the_group,
            }
        )

    def grant_detach(self, grantee: Grantable) -> None:
        """Detach this network's volumes (from whichever instance, gone or not, holds one)."""
        grantee.add_to_policy(
            {
                "Sid": "DetachNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:DetachVolume",
                "Resource": self._identity.volumes_arn,
                "Condition": self._network_tag,
            }
        )
        grantee.add_to_policy(
            {
                "Sid": "DetachFromInstances",
                "Effect": "Allow",
                "Action": "ec2:DetachVolume",
                "Resource": self._identity.instances_arn,
            }
        )

    def grant_delete_failed(self, grantee: Grantable) -> None:
        """Delete a volume of this network a failed launch created (the launch hook's undo)."""
        grantee.add_to_policy(
            {
                "Sid": "DeleteVolumesOfFailedLaunches",
                "Effect": "Allow",
                "Action": "ec2:DeleteVolume",
                "Resource": self._identity.volumes_arn,
                "Condition": self._network_tag,
            }
        )

    def grant_delete_superseded(self, grantee: Grantable) -> None:
        """Delete only volumes of this network marked superseded (the reconciler, later)."""
        grantee.add_to_policy(
            {
                "Sid": "DeleteSupersededVolumesAfterRetention",
                "Effect": "Allow",
                "Action": "ec2:DeleteVolume",
                "Resource": self._identity.volumes_arn,
                "Condition": {
                    **self._network_tag,
                    "StringLike": {f"aws:ResourceTag/{SUPERSEDED_TAGS[0]}": "vol-*"},
                },
            }
        )

    def grant_snapshot(self, grantee: Grantable) -> None:
        """Snapshot this network's volumes into snapshots tagged with the network.

        Tags only while creating a snapshot (``ec2:CreateAction``), so the grantee cannot tag
        another snapshot into this network, which the launch hook would then restore from.
        """
        identity = self._identity
        network_request_tag = {
            "StringEquals": {f"aws:RequestTag/{DATA_VOLUME_TAG}": identity.network_name}
        }
        for statement in (
            {
                "Sid": "SnapshotNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateSnapshot",
                "Resource": identity.volumes_arn,
                "Condition": self._network_tag,
            },
            {
                "Sid": "CreateNetworkSnapshots",
                "Effect": "Allow",
                "Action": "ec2:CreateSnapshot",
                "Resource": identity.snapshots_arn,
                "Condition": network_request_tag,
            },
            {
                "Sid": "TagNewNetworkSnapshots",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": identity.snapshots_arn,
                "Condition": {
                    "StringEquals": {
                        **network_request_tag["StringEquals"],
                        "ec2:CreateAction": "CreateSnapshot",
                    }
                },
            },
        ):
            grantee.add_to_policy(statement)
