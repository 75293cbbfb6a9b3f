"""The key/node registry's slot record, shared by keygen, health and lifecycle and the synth.

One DynamoDB item per validator slot (partition key ``slot``, a number):

========================  ======  ==========================================================
attribute                 type    meaning
========================  ======  ==========================================================
``slot``                  N       partition key
``address``               S       validator address (public)
``public_key``            S       node public key (public)
``enode``                 S       enode URL with the slot's stable DNS name
``secret_name``           S       Secrets Manager name of the slot's node key
``status``                S       ``available`` / ``in_use`` / ``retired``
``version``               N       bumped by every lifecycle update, each conditional on it
``owner_instance_id``     S       the instance holding the slot (``in_use`` only)
``owner_az``              S       that instance's Availability Zone
``volume_id``             S       the slot's data volume
``volume_az``             S       the volume's Availability Zone
``lease_expires_at``      N       epoch seconds; set while a launch is in progress, removed
                                  when the node is handed over. Past it, the slot is stuck
``status_since``          N       epoch seconds of the last status change (or first sighting)
``claimed_at``            N       epoch seconds of the claim of the current owner
``claim_token``           S       random id of the launch invocation that claimed the slot:
                                  its undo releases only a claim with its own token
``releasing_since``       N       epoch seconds: the owner's termination hook has started
``gone_since``            N       epoch seconds: the reconciler first saw the owner gone
``health``                M       written by the health checker only
========================  ======  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AVAILABLE = "available"
IN_USE = "in_use"
RETIRED = "retired"
STATUSES = (AVAILABLE, IN_USE, RETIRED)


def host_name(slot: int, domain: str) -> str:
    """The stable DNS name of a slot's node in the private zone."""
    return f"validator-{slot}.{domain.rstrip('.')}"


def secret_name(prefix: str, slot: int) -> str:
    """The Secrets Manager name of a slot's node key."""
    return f"{prefix.rstrip('/')}/validator-{slot}/key"


def secret_name_pattern(prefix: str) -> str:
    """An IAM/ARN wildcard matching every slot secret name under ``prefix``."""
    return f"{prefix.rstrip('/')}/validator-*"


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
    claimed_at: int | None = None
    claim_token: str | None = None
    releasing_since: int | None = None
    gone_since: int | None = None

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
            claimed_at=number("claimed_at"),
            claim_token=text("claim_token"),
            releasing_since=number("releasing_since"),
            gone_since=number("gone_since"),
        )
