"""The key/node registry: one DynamoDB item per validator slot, updated optimistically.

The item's attributes and the :class:`SlotRecord` that reads them are in
:mod:`besu_stack.lambda_kernel.slots` (shared with keygen and the health checker). Every update
here is conditional on the item's ``version`` (and on the owner where it says so).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from besu_stack.lambda_kernel.aws import error_code
from besu_stack.lambda_kernel.slots import AVAILABLE, IN_USE, RETIRED, STATUSES, SlotRecord

__all__ = ["AVAILABLE", "IN_USE", "RETIRED", "STATUSES", "Registry", "SlotRecord", "error_code"]


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
        self,
        record: SlotRecord,
        instance_id: str,
        az: str,
        lease_expires_at: int,
        now: int,
        token: str = "",
    ) -> SlotRecord | None:
        """Take an ``available`` slot for an instance: the single conditional write of a claim.

        ``token`` identifies the claiming invocation (its undo releases only its own claim, even
        when the write's response was lost).
        """
        return self._update(
            record,
            set_values={
                **({"claim_token": token} if token else {}),
                "status": IN_USE,
                "owner_instance_id": instance_id,
                "owner_az": az,
                "lease_expires_at": lease_expires_at,
                "status_since": now,
                "claimed_at": now,
            },
            remove=("releasing_since", "gone_since"),
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
            remove=(
                "owner_instance_id",
                "owner_az",
                "lease_expires_at",
                "claimed_at",
                "claim_token",
                "releasing_since",
                "gone_since",
            ),
            owner=instance_id,
        )

    def mark_releasing(self, record: SlotRecord, instance_id: str, now: int) -> SlotRecord | None:
        """Say that the owner's termination hook has started (a launch waiting may see it)."""
        if record.releasing_since is not None:
            return record
        return self._update(record, set_values={"releasing_since": now}, owner=instance_id)

    def mark_gone(self, record: SlotRecord, instance_id: str, now: int) -> SlotRecord | None:
        """Record the reconciler's first sighting of the owner as gone (its second look)."""
        return self._update(record, set_values={"gone_since": now}, owner=instance_id)

    def clear_gone(self, record: SlotRecord, instance_id: str) -> SlotRecord | None:
        """The owner was seen again: forget an earlier sighting of it as gone."""
        return self._update(record, set_values={}, remove=("gone_since",), owner=instance_id)

    def first_seen(self, record: SlotRecord, now: int) -> SlotRecord | None:
        """Stamp ``status_since`` on an item that has none (written by keygen)."""
        return self._update(
            record,
            set_values={"status_since": now},
            condition="attribute_not_exists(#csince)",
            condition_names={"#csince": "status_since"},
        )
