"""Pure-Python Besu helpers shared by the CLI and the Lambdas (no AWS, no cdktf).

* :mod:`~besu_stack.besu.keys`: secp256k1 node keys, addresses (EIP-55), enode URLs.
* :mod:`~besu_stack.besu.extra_data`: IBFT 2.0 / QBFT ``extraData`` codec, byte-exact with Besu.
* :mod:`~besu_stack.besu.genesis`: genesis file and ``static-nodes.json`` generation.
* :mod:`~besu_stack.besu.bft`: fault tolerance and quorum sizes.
* :mod:`~besu_stack.besu.command_line`: the validator's Besu command line.

Importing this package (or one light part, such as :mod:`~besu_stack.besu.bft`) loads none of
the others: each name below is imported from its module on first use (PEP 562), so the health
checker's Lambda, which needs only the quorum arithmetic, carries and loads no curve, hash or
RLP library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from besu_stack.besu.bft import max_faulty, quorum
    from besu_stack.besu.command_line import BesuNodeOptions, besu_command_line
    from besu_stack.besu.errors import UserInputError
    from besu_stack.besu.extra_data import (
        BftExtraData,
        Vote,
        decode_extra_data,
        encode_extra_data,
        genesis_extra_data,
    )
    from besu_stack.besu.genesis import (
        BFT_MIX_HASH,
        GenesisOptions,
        build_genesis,
        genesis_json,
        static_nodes,
    )
    from besu_stack.besu.keys import (
        NodeKey,
        ValidatorIdentity,
        address_from_public_key,
        enode_url,
        generate_private_key,
        keccak256,
        normalize_address,
        parse_private_key,
        parse_public_key,
        public_key_from_private,
        to_checksum_address,
        validate_enode_url,
    )
    from besu_stack.besu.protocol import PROTOCOLS, Protocol, check_protocol

_MODULE_OF = {
    "max_faulty": "bft",
    "quorum": "bft",
    "BesuNodeOptions": "command_line",
    "besu_command_line": "command_line",
    "UserInputError": "errors",
    "BftExtraData": "extra_data",
    "Vote": "extra_data",
    "decode_extra_data": "extra_data",
    "encode_extra_data": "extra_data",
    "genesis_extra_data": "extra_data",
    "BFT_MIX_HASH": "genesis",
    "GenesisOptions": "genesis",
    "build_genesis": "genesis",
    "genesis_json": "genesis",
    "static_nodes": "genesis",
    "NodeKey": "keys",
    "ValidatorIdentity": "keys",
    "address_from_public_key": "keys",
    "enode_url": "keys",
    "generate_private_key": "keys",
    "keccak256": "keys",
    "normalize_address": "keys",
    "parse_private_key": "keys",
    "parse_public_key": "keys",
    "public_key_from_private": "keys",
    "to_checksum_address": "keys",
    "validate_enode_url": "keys",
    "PROTOCOLS": "protocol",
    "Protocol": "protocol",
    "check_protocol": "protocol",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])


__all__ = [
    "BFT_MIX_HASH",
    "PROTOCOLS",
    "BesuNodeOptions",
    "BftExtraData",
    "GenesisOptions",
    "NodeKey",
    "Protocol",
    "UserInputError",
    "ValidatorIdentity",
    "Vote",
    "address_from_public_key",
    "besu_command_line",
    "build_genesis",
    "check_protocol",
    "decode_extra_data",
    "encode_extra_data",
    "enode_url",
    "generate_private_key",
    "genesis_extra_data",
    "genesis_json",
    "keccak256",
    "max_faulty",
    "normalize_address",
    "parse_private_key",
    "parse_public_key",
    "public_key_from_private",
    "quorum",
    "static_nodes",
    "to_checksum_address",
    "validate_enode_url",
]
