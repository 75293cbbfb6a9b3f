"""The function's configuration, read once from the environment at cold start.

Every variable is required: a missing or empty one raises :class:`ConfigError` naming it, so a
misconfigured function fails on its first invocation instead of acting on a default.

=========================  ===================================================================
variable                   meaning
=========================  ===================================================================
``SECRET_NAME_PREFIX``     secrets are named ``<prefix>/validator-<slot>/key``
``KMS_KEY_ID``             customer-managed KMS key (id, ARN or alias) for the S3 network files
``SECRET_KMS_KEY_ID``      the validator secrets' own KMS key, for secrets this function creates
``REGISTRY_TABLE_NAME``    DynamoDB key/node registry (partition key ``slot``, a number)
``ARTIFACT_BUCKET_NAME``   S3 bucket receiving ``genesis.json`` and ``static-nodes.json``
``PRIVATE_ZONE_DOMAIN``    private hosted zone; slot ``i`` is ``validator-<i>.<domain>``
``CONSENSUS_PROTOCOL``     ``ibft2`` or ``qbft``
``CHAIN_ID``               network chain ID (positive integer)
``GENESIS_OPTIONS_JSON``   JSON object of further :class:`GenesisOptions` fields (``{}`` for
                           Besu's documented defaults), for instance
                           ``{"block_period_seconds": 2, "gas_limit": 700000000}``
=========================  ===================================================================
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

from besu_stack.besu.extra_data import Protocol, check_protocol
from besu_stack.besu.genesis import GenesisOptions
from besu_stack.besu.keys import DEFAULT_P2P_PORT, enode_url
from besu_stack.lambda_kernel import slots
from besu_stack.lambda_kernel.env import EnvReader

from .errors import ConfigError

_NODE_ID_FOR_CHECKS = (
    "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
)
"""The secp256k1 generator point: a public key used only to validate the DNS domain."""

GENESIS_OBJECT_KEY = "genesis.json"
STATIC_NODES_OBJECT_KEY = "static-nodes.json"


@dataclass(frozen=True)
class KeygenConfig:
    """Where keys, registry items and network files live, and how genesis is built."""

    secret_name_prefix: str
    kms_key_id: str
    secret_kms_key_id: str
    registry_table_name: str
    artifact_bucket_name: str
    private_zone_domain: str
    protocol: Protocol
    genesis_options: GenesisOptions
    p2p_port: int = DEFAULT_P2P_PORT
    genesis_object_key: str = GENESIS_OBJECT_KEY
    static_nodes_object_key: str = STATIC_NODES_OBJECT_KEY

    def secret_name(self, slot: int) -> str:
        """The Secrets Manager name of a slot's node key."""
        return slots.secret_name(self.secret_name_prefix, slot)

    def host(self, slot: int) -> str:
        """The stable DNS name of a slot's node in the private zone."""
        return slots.host_name(slot, self.private_zone_domain)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KeygenConfig:
        """Read and validate the configuration; raise :class:`ConfigError` naming the variable."""
        required = EnvReader(env, ConfigError).required

        prefix = required("SECRET_NAME_PREFIX").rstrip("/")
        try:
            protocol = check_protocol(required("CONSENSUS_PROTOCOL"))
        except ValueError as exc:
            raise ConfigError(f"CONSENSUS_PROTOCOL: {exc}") from exc
        chain_id_text = required("CHAIN_ID")
        if not chain_id_text.isdigit():
            raise ConfigError(f"CHAIN_ID must be a positive whole number, got {chain_id_text!r}")
        options_text = required("GENESIS_OPTIONS_JSON")
        try:
            options = json.loads(options_text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"GENESIS_OPTIONS_JSON is not valid JSON: {exc}") from exc
        if not isinstance(options, dict):
            raise ConfigError("GENESIS_OPTIONS_JSON must be a JSON object of genesis options")
        allowed = {f.name for f in dataclasses.fields(GenesisOptions)} - {"chain_id"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigError(
                f"GENESIS_OPTIONS_JSON has unknown option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))} (CHAIN_ID is its own variable)"
            )
        try:
            genesis_options = GenesisOptions(chain_id=int(chain_id_text), **options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"GENESIS_OPTIONS_JSON/CHAIN_ID: {exc}") from exc
        domain = required("PRIVATE_ZONE_DOMAIN").rstrip(".")
        try:
            enode_url(_NODE_ID_FOR_CHECKS, f"validator-0.{domain}")
        except ValueError as exc:
            raise ConfigError(f"PRIVATE_ZONE_DOMAIN: {exc}") from exc
        return cls(
            secret_name_prefix=prefix,
            kms_key_id=required("KMS_KEY_ID"),
            secret_kms_key_id=required("SECRET_KMS_KEY_ID"),
            registry_table_name=required("REGISTRY_TABLE_NAME"),
            artifact_bucket_name=required("ARTIFACT_BUCKET_NAME"),
            private_zone_domain=domain,
            protocol=protocol,
            genesis_options=genesis_options,
        )
