"""Pure-Python Besu helpers shared by the CLI and the Lambdas (no AWS, no cdktf).

* :mod:`~besu_stack.besu.keys`: secp256k1 node keys, addresses (EIP-55), enode URLs.
* :mod:`~besu_stack.besu.extra_data`: IBFT 2.0 / QBFT ``extraData`` codec, byte-exact with Besu.
* :mod:`~besu_stack.besu.genesis`: genesis file and ``static-nodes.json`` generation.
* :mod:`~besu_stack.besu.bft`: fault tolerance and quorum sizes.
* :mod:`~besu_stack.besu.command_line`: the validator's Besu command line.
"""

from besu_stack.besu.bft import max_faulty, quorum
from besu_stack.besu.command_line import BesuNodeOptions, besu_command_line
from besu_stack.besu.errors import UserInputError
from besu_stack.besu.extra_data import (
    PROTOCOLS,
    BftExtraData,
    Protocol,
    Vote,
    check_protocol,
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
