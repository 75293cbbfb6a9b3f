"""Key generation at deploy time: the testable core of the ``keygen`` function.

For slots ``0 .. n-1`` this makes sure each slot's secret holds a Besu node key (generating one
only where the secret has no value), records each slot's public data in the registry, and
writes ``genesis.json`` and ``static-nodes.json`` built from the public keys.

Safety rules:

* A secret value is never replaced. The first value of a slot's secret is written with a
  ``ClientRequestToken`` derived from the secret's name, so of two concurrent invocations only
  one key is stored; the other invocation reads that key back.
* A value put in a secret out of band ("bring your own key") is used as it is.
* A registry item is never overwritten (conditional put); one recording another address fails.
* Genesis is written once. When ``genesis.json`` exists, no key is generated and the validator
  set must equal the one in its ``extraData``: changing the validators of a running chain is a
  vote, not a redeploy.
* Nothing returned or logged contains a private key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from besu_stack.besu.extra_data import decode_extra_data
from besu_stack.besu.genesis import build_genesis, genesis_json, static_nodes
from besu_stack.besu.keys import NodeKey, normalize_address
from besu_stack.lambda_kernel.slots import AVAILABLE
from besu_stack.lambda_log import JsonLogger

from .config import KeygenConfig
from .errors import (
    CorruptGenesisError,
    CorruptSecretError,
    DuplicateKeyError,
    InvalidEventError,
    KeygenError,
    LiveNetworkError,
    RegistryMismatchError,
    SecretUnavailableError,
)
from .store import Stores

MAX_VALIDATORS = 100
"""Upper bound on ``validator_count``, a guard against typos (BFT networks stay far below it)."""

REGISTRY_STATUS_AVAILABLE = AVAILABLE
REGISTRY_ITEM_VERSION = 1
_TOKEN_NAMESPACE = uuid.UUID("5b0f6a52-3c55-4f4e-9f3e-6d1c2a3b4e01")
_RUNBOOK = 'see README.md, "Adding a validator to a live network"'


@dataclass(frozen=True)
class SlotKey:
    """The public data of one slot's key (the private key is not kept)."""

    slot: int
    secret_name: str
    address: str
    public_key: str
    enode: str
    created: bool
    """``True`` when this invocation generated and stored the key."""

    def result(self) -> dict[str, Any]:
        """The slot's entry in the function result (public data only)."""
        return {
            "slot": self.slot,
            "address": self.address,
            "public_key": self.public_key,
            "enode": self.enode,
        }


def parse_validator_count(event: object) -> int:
    """Return ``validator_count`` from the invocation event ``{"validator_count": n}``."""
    if not isinstance(event, dict) or "validator_count" not in event:
        raise InvalidEventError('the event must be a JSON object {"validator_count": <n>}')
    count = event["validator_count"]
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_VALIDATORS:
        raise InvalidEventError(
            f"validator_count must be a whole number from 1 to {MAX_VALIDATORS}, got {count!r}"
        )
    return count


def request_token(secret_name: str) -> str:
    """The ``ClientRequestToken`` of a secret's first value: fixed per secret name."""
    return str(uuid.uuid5(_TOKEN_NAMESPACE, f"{secret_name}#initial-node-key"))


def _parse_secret(slot: int, name: str, value: str | bytes) -> NodeKey:
    if isinstance(value, bytes):
        raise CorruptSecretError(
            f"slot {slot}: secret {name} holds a binary value; a Besu node key is the text "
            "'0x' followed by 64 hex digits (value not shown)"
        )
    try:
        return NodeKey.from_key_file(value)
    except ValueError as exc:
        raise CorruptSecretError(
            f"slot {slot}: secret {name} does not hold a Besu node key: {exc}. Put a valid key "
            "('0x' followed by 64 hex digits) as its current value, or fix the slot's secret "
            "by hand; it is never overwritten automatically"
        ) from exc


def _resolve_key(
    config: KeygenConfig, stores: Stores, log: JsonLogger, slot: int, *, may_generate: bool
) -> SlotKey:
    name = config.secret_name(slot)
    state = stores.secrets.describe(name)
    if state is None:
        if not may_generate:
            raise SecretUnavailableError(
                f"slot {slot}: secret {name} does not exist but the network's genesis does; "
                "restore the secret (its key is the validator's identity) instead of "
                "generating a new one"
            )
        created = stores.secrets.create_empty(
            name, config.secret_kms_key_id, f"Besu node key of validator slot {slot}"
        )
        log.info(
            "secret created" if created else "secret created concurrently",
            slot=slot,
            secret_name=name,
        )
    elif state.scheduled_for_deletion:
        raise SecretUnavailableError(
            f"slot {slot}: secret {name} is scheduled for deletion; restore it "
            "(aws secretsmanager restore-secret) to keep its key"
        )
    value = stores.secrets.current_value(name)
    if value is None:
        if not may_generate:
            raise SecretUnavailableError(
                f"slot {slot}: secret {name} has no value but the network's genesis exists; "
                "restore the validator's key instead of generating a new one"
            )
        generated = NodeKey.generate()
        if stores.secrets.put_initial_value(name, generated.to_key_file(), request_token(name)):
            log.info("key generated", slot=slot, secret_name=name, address=generated.address)
            return _slot_key(config, slot, generated, created=True)
        value = stores.secrets.current_value(name)
        if value is None:
            raise SecretUnavailableError(
                f"slot {slot}: a concurrent writer stored the first value of secret {name} "
                "but it cannot be read back; retry the deployment"
            )
        log.info("key stored concurrently by another invocation", slot=slot, secret_name=name)
    key = _parse_secret(slot, name, value)
    log.info("existing key used", slot=slot, secret_name=name, address=key.address)
    return _slot_key(config, slot, key, created=False)


def _slot_key(config: KeygenConfig, slot: int, key: NodeKey, *, created: bool) -> SlotKey:
    return SlotKey(
        slot=slot,
        secret_name=config.secret_name(slot),
        address=key.address,
        public_key=key.public_key,
        enode=key.identity.enode(config.host(slot), config.p2p_port),
        created=created,
    )


def _check_distinct(keys: Sequence[SlotKey]) -> None:
    first_slot: dict[str, int] = {}
    for key in keys:
        if key.address in first_slot:
            raise DuplicateKeyError(
                f"slots {first_slot[key.address]} and {key.slot} hold the same node key "
                f"(address {key.address}); every validator needs its own key"
            )
        first_slot[key.address] = key.slot


def _record(stores: Stores, log: JsonLogger, key: SlotKey) -> None:
    attributes: dict[str, str | int] = {
        "address": key.address,
        "public_key": key.public_key,
        "enode": key.enode,
        "secret_name": key.secret_name,
        "status": REGISTRY_STATUS_AVAILABLE,
        "version": REGISTRY_ITEM_VERSION,
    }
    if stores.registry.put_new(key.slot, attributes):
        log.info("registry item created", slot=key.slot, address=key.address)
        return
    item = stores.registry.get(key.slot) or {}
    recorded = item.get("address", "")
    try:
        matches = normalize_address(recorded) == key.address
    except ValueError:
        matches = False
    if not matches:
        raise RegistryMismatchError(
            f"slot {key.slot}: the registry records address {recorded or '(none)'} but secret "
            f"{key.secret_name} holds the key of {key.address}; the registry and the secrets "
            "disagree, fix them by hand before deploying"
        )


def _existing_validators(config: KeygenConfig, document: bytes) -> tuple[str, ...]:
    name = config.genesis_object_key
    try:
        genesis = json.loads(document)
        extra_data = genesis["extraData"]
        if not isinstance(extra_data, str):
            raise TypeError("extraData is not a string")
        return decode_extra_data(config.protocol, extra_data).validators
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptGenesisError(
            f"the existing {name} in bucket {config.artifact_bucket_name} cannot be read as a "
            f"{config.protocol} genesis: {exc}"
        ) from exc


def _live_change_error(
    existing: Sequence[str], validator_count: int, wanted: Sequence[str] = ()
) -> LiveNetworkError:
    parts = [
        f"the network's genesis lists {len(existing)} validators but validator_count is "
        f"{validator_count}"
    ]
    added = sorted(set(wanted) - set(existing))
    removed = sorted(set(existing) - set(wanted)) if wanted else []
    if added:
        parts.append(f"keys not in genesis: {', '.join(added)}")
    if removed:
        parts.append(f"genesis validators without a slot key: {', '.join(removed)}")
    return LiveNetworkError(
        f"{'; '.join(parts)}. The genesis of a running network is never regenerated: adding "
        f"validators to a live chain is a vote; {_RUNBOOK}"
    )


def generate_keys(
    config: KeygenConfig, stores: Stores, log: JsonLogger, validator_count: int
) -> dict[str, Any]:
    """Make sure slots ``0 .. validator_count-1`` have keys; write genesis and static nodes.

    Returns the public result ``{"slots", "genesis_sha256", "genesis_key", "static_nodes_key",
    "created_slots"}``. Raises a :class:`KeygenError` subclass with an operator-facing message.
    """
    existing_genesis = stores.bucket.get(config.genesis_object_key)
    existing: tuple[str, ...] | None = None
    if existing_genesis is not None:
        existing = _existing_validators(config, existing_genesis)
        if len(existing) != validator_count:
            # Refuse before touching any secret: no key is generated for a live network.
            raise _live_change_error(existing, validator_count)
    keys = [
        _resolve_key(config, stores, log, slot, may_generate=existing is None)
        for slot in range(validator_count)
    ]
    _check_distinct(keys)
    addresses = [key.address for key in keys]
    if existing is not None and set(existing) != set(addresses):
        raise _live_change_error(existing, validator_count, addresses)
    for key in keys:
        _record(stores, log, key)

    if existing_genesis is None:
        try:
            genesis = build_genesis(config.protocol, addresses, config.genesis_options)
        except ValueError as exc:
            raise KeygenError(f"cannot build genesis: {exc}") from exc
        genesis_bytes = genesis_json(genesis).encode("utf-8")
        if stores.bucket.put_new(config.genesis_object_key, genesis_bytes):
            log.info("genesis written", key=config.genesis_object_key, validators=len(addresses))
        else:
            # A concurrent invocation wrote genesis first: keep it, if it has our validators.
            written = stores.bucket.get(config.genesis_object_key)
            if written is None:
                raise KeygenError(
                    f"{config.genesis_object_key} was being written concurrently; retry the "
                    "deployment"
                )
            theirs = _existing_validators(config, written)
            if set(theirs) != set(addresses):
                raise _live_change_error(theirs, validator_count, addresses)
            genesis_bytes = written
            log.info("genesis written concurrently; kept", key=config.genesis_object_key)
    else:
        genesis_bytes = existing_genesis
        log.info("genesis exists; left untouched", key=config.genesis_object_key)

    nodes_bytes = (json.dumps(static_nodes(k.enode for k in keys), indent=2) + "\n").encode()
    if stores.bucket.get(config.static_nodes_object_key) != nodes_bytes:
        stores.bucket.put(config.static_nodes_object_key, nodes_bytes)
        log.info("static nodes written", key=config.static_nodes_object_key, nodes=len(keys))

    created = [key.slot for key in keys if key.created]
    return {
        "slots": [key.result() for key in keys],
        "genesis_sha256": hashlib.sha256(genesis_bytes).hexdigest(),
        "genesis_key": config.genesis_object_key,
        "static_nodes_key": config.static_nodes_object_key,
        "created_slots": created,
    }
