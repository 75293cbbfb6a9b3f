"""The domain library refuses the wrong kind of input with one clear error naming the argument.

Hex text where raw bytes are expected, or the reverse, raises ``ArgumentTypeError`` (both a
``TypeError`` and a ``ValueError``, so the CLI reports it like any bad input), never an
unrelated ``TypeError`` from deep inside; whitespace inside extraData hex is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from besu_stack.besu import errors, extra_data, keys
from besu_stack.besu.errors import ArgumentTypeError

KEY = keys.NodeKey(
    bytes.fromhex("8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63")
)
PUBLIC = bytes.fromhex(KEY.public_key)
GENESIS = extra_data.genesis_extra_data("ibft2", [KEY.address])

CASES: list[tuple[str, Callable[[], object], str]] = [
    (
        "decode_extra_data(bytes)",
        lambda: extra_data.decode_extra_data("ibft2", bytes.fromhex(GENESIS[2:])),
        "extra_data must be 0x-prefixed hex text, got bytes",
    ),
    (
        "BftExtraData(vanity=hex)",
        lambda: extra_data.BftExtraData(vanity="0x" + "00" * 32),
        "vanity must be raw bytes, got str",
    ),  # type: ignore[arg-type]
    (
        "BftExtraData(seals=[hex])",
        lambda: extra_data.BftExtraData(seals=("0x" + "11" * 65,)),
        "seal 0 must be raw bytes, got str",
    ),  # type: ignore[arg-type]
    (
        "BftExtraData(validators=hex)",
        lambda: extra_data.BftExtraData(validators=KEY.address),
        "validators must be a list of addresses",
    ),  # type: ignore[arg-type]
    (
        "Vote(bytes)",
        lambda: extra_data.Vote(bytes(20), add=True),
        "vote recipient must be an address as hex text",
    ),  # type: ignore[arg-type]
    (
        "genesis_extra_data(one address)",
        lambda: extra_data.genesis_extra_data("ibft2", KEY.address),
        "validators must be a list of addresses",
    ),
    (
        "genesis_extra_data([bytes])",
        lambda: extra_data.genesis_extra_data("ibft2", [bytes(20)]),
        r"validators\[0\] must be an address as hex text, got bytes",
    ),  # type: ignore[list-item]
    (
        "encode_extra_data(dict)",
        lambda: extra_data.encode_extra_data("ibft2", {}),
        "data must be a BftExtraData, got dict",
    ),  # type: ignore[arg-type]
    (
        "NodeKey(hex)",
        lambda: keys.NodeKey(KEY.to_key_file()),
        "private_key must be raw bytes, got str",
    ),  # type: ignore[arg-type]
    (
        "public_key_from_private(hex)",
        lambda: keys.public_key_from_private(KEY.to_key_file()),
        "private_key must be raw bytes, got str",
    ),  # type: ignore[arg-type]
    (
        "address_from_public_key(hex)",
        lambda: keys.address_from_public_key(KEY.public_key),
        "public_key must be raw bytes, got str",
    ),  # type: ignore[arg-type]
    ("keccak256(str)", lambda: keys.keccak256("abc"), "data must be raw bytes, got str"),  # type: ignore[arg-type]
    (
        "parse_private_key(bytes)",
        lambda: keys.parse_private_key(KEY.private_key),
        "private key must be hex text, got bytes",
    ),  # type: ignore[arg-type]
    (
        "parse_public_key(bytes)",
        lambda: keys.parse_public_key(PUBLIC),
        "public key must be hex text, got bytes",
    ),  # type: ignore[arg-type]
    (
        "normalize_address(bytes)",
        lambda: keys.normalize_address(bytes(20)),
        "address must be hex text",
    ),  # type: ignore[arg-type]
    (
        "validate_enode_url(bytes)",
        lambda: keys.validate_enode_url(b"enode://"),
        "enode URL must be a string, got bytes",
    ),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("call", "message"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_wrong_kind_of_input_is_one_clear_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ArgumentTypeError, match=message) as caught:
        call()
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


def test_type_errors_never_show_a_private_key() -> None:
    for call in (
        lambda: keys.NodeKey(KEY.to_key_file()),
        lambda: keys.parse_private_key(KEY.private_key),
    ):  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError) as caught:
            call()
        assert KEY.to_key_file()[2:] not in str(caught.value)
        assert repr(KEY.private_key) not in str(caught.value)


@pytest.mark.parametrize(
    "spaced",
    [
        GENESIS[:12] + " " + GENESIS[12:],
        GENESIS[:40] + "\n" + GENESIS[40:],
        GENESIS[:2] + "\t" + GENESIS[2:],
    ],
)
def test_whitespace_inside_extra_data_hex_is_refused(spaced: str) -> None:
    with pytest.raises(ValueError, match="no spaces inside"):
        extra_data.decode_extra_data("ibft2", spaced)


def test_whitespace_around_extra_data_hex_is_accepted() -> None:
    assert extra_data.decode_extra_data("ibft2", f"  {GENESIS}\n").validators == (KEY.address,)


def test_require_helpers_accept_the_right_kind() -> None:
    assert errors.require_bytes(bytearray(b"\x01"), "x") == b"\x01"
    assert errors.require_text("0x", "x") == "0x"
