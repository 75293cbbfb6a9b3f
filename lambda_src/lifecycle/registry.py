"""The key/node registry: one DynamoDB item per validator slot, updated optimistically.

Item attributes (keygen writes the first six; the lifecycle functions add the rest):

======================  ======  ==========================================================
attribute               type    meaning
======================  ======  ==========================================================
``slot``                N       partition key
``address``             S       validator address (public)
``public_key``          S       node public key (public)
``enode``               S       enode URL with the slot's stable DNS name
``secret_name``         S       Secrets Manager name of the slot's node key
``status``              S       ``available`` / ``in_use`` / ``retired``
``version``             N       bumped by every update; every update is conditional on it
``owner_instance_id``   S       the instance holding the slot (``in_use`` only)
``owner_az``            S       that instance's Availability Zone
``volume_id``           S       the slot's data volume
``volume_az``           S       the volume's Availability Zone
``lease_expires_at``    N       epoch seconds; set while a launch is in progress, removed
                                when the node is handed over. Past it, the slot is stuck
``status_since``        N       epoch seconds of the last status change (or first sighting)
======================  ======  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

AVAILABLE = "available"
IN_USE = "in_use"
RETIRED = "retired"
STATUSES = (AVAILABLE, IN_USE, RETIRED)


def error_code(exc: Any) -> str:
    """The AWS error code of a botocore ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class SlotRecord:
    """A registry item as the lifecycle functions see it."""

    slot: int
    status: str
    version: int
    secret_name: str
    address: str
    owner_instance_id: str | None = None
    owner_az: str | None = None
    volume_id: str | None = None
    volume_az: str | None = None
    lease_expires_at: int | None = None
    status_since: int | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SlotRecord:
        """Parse a low-level DynamoDB item."""

        def text(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value.get("S", ""))

        def number(name: str) -> int | None:
            value = item.get(name)
            return None if value is None else int(value["N"])

        return cls(
            slot=int(item["slot"]["N"]),
            status=text("status") or "",
            version=number("version") or 0,
            secret_name=text("secret_name") or "",
            address=text("address") or "",
            owner_instance_id=text("owner_instance_id"),
            owner_az=text("owner_az"),
            volume_id=text("volume_id"),
            volume_az=text("volume_az"),
            lease_expires_at=number("lease_expires_at"),
            status_since=number("status_since"),
        )


def _value(value: str | int) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, int) else {"S": value}


class Registry:
    """Conditional reads and writes of slot items. A lost condition returns ``None``."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def scan(self) -> list[SlotRecord]:
        """Every slot item (strongly consistent), ordered by slot."""
        records: list[SlotRecord] = []
        kwargs: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            response = self._client.scan(**kwargs)
            records.extend(SlotRecord.from_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(records, key=lambda r: r.slot)

    def get(self, slot: int) -> SlotRecord | None:
        """One slot item, or ``None``."""
        response = self._client.get_item(
            TableName=self._table, Key={"slot": {"N": str(slot)}}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else SlotRecord.from_item(item)

    def _update(
        self,
        record: SlotRecord,
        *,
        set_values: dict[str, str | int],
        remove: tuple[str, ...] = (),
        condition: str = "attribute_exists(slot)",
        condition_names: dict[str, str] | None = None,
        condition_values: dict[str, str | int] | None = None,
        owner: str | None = None,
    ) -> SlotRecord | None:
        if owner is not None:
            condition = "#cstatus = :in_use AND #cowner = :owner"
            condition_names = {"#cstatus": "status", "#cowner": "owner_instance_id"}
            condition_values = {":in_use": IN_USE, ":owner": owner}
        names: dict[str, str] = {"#version": "version", **(condition_names or {})}
        values: dict[str, dict[str, str]] = {
            ":expected": _value(record.version),
            ":next": _value(record.version + 1),
        }
        sets = ["#version = :next"]
        for index, (name, value) in enumerate(sorted(set_values.items())):
            names[f"#s{index}"] = name
            values[f":s{index}"] = _value(value)
            sets.append(f"#s{index} = :s{index}")
        removes = []
        for index, name in enumerate(remove):
            names[f"#r{index}"] = name
            removes.append(f"#r{index}")
        for key, value in (condition_values or {}).items():
            values[key] = _value(value)
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"slot": {"N": str(record.slot)}},
                UpdateExpression=expression,
                ConditionExpression=f"#version = :expected AND {condition}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return SlotRecord.from_item(response["Attributes"])

    def claim(
        self, record: SlotRecord, instance_id: str, az: str, lease_expires_at: int, now: int
    ) -> SlotRecord | None:
        """Take an ``available`` slot for an instance: the single conditional write of a claim."""
        return self._update(
            record,
            set_values={
                "status": IN_USE,
                "owner_instance_id": instance_id,
                "owner_az": az,
                "lease_expires_at": lease_expires_at,
                "status_since": now,
            },
            condition="#cstatus = :available",
            condition_names={"#cstatus": "status"},
            condition_values={":available": AVAILABLE},
        )

    def set_volume(
        self, record: SlotRecord, instance_id: str, volume_id: str, volume_az: str
    ) -> SlotRecord | None:
        """Record the slot's data volume; only while ``instance_id`` owns the slot."""
        return self._update(
            record,
            set_values={"volume_id": volume_id, "volume_az": volume_az},
            owner=instance_id,
        )

    def mark_handed_over(self, record: SlotRecord, instance_id: str) -> SlotRecord | None:
        """End the launch lease: the node has its volume, name, secret access and config."""
        return self._update(
            record,
            set_values={},
            remove=("lease_expires_at",),
            owner=instance_id,
        )

    def release(self, record: SlotRecord, instance_id: str, now: int) -> SlotRecord | None:
        """Make the slot ``available`` again; only while ``instance_id`` owns it."""
        return self._update(
            record,
            set_values={"status": AVAILABLE, "status_since": now},
            remove=("owner_instance_id", "owner_az", "lease_expires_at"),
            owner=instance_id,
        )

    def first_seen(self, record: SlotRecord, now: int) -> SlotRecord | None:
        """Stamp ``status_since`` on an item that has none (written by keygen)."""
        return self._update(
            record,
            set_values={"status_since": now},
            condition="attribute_not_exists(#csince)",
            condition_names={"#csince": "status_since"},
        )
