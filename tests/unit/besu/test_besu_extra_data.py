"""IBFT 2.0 / QBFT extraData codec against Besu's docs and Besu's own test vectors."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from besu_stack.besu.extra_data import (
    BftExtraData,
    Protocol,
    Vote,
    decode_extra_data,
    encode_extra_data,
    genesis_extra_data,
)
from besu_stack.besu.keys import SECP256K1_ORDER

ZERO_VANITY = bytes(32)

# --- vectors from the Besu documentation ------------------------------------------------------

# besu-eth/besu-docs docs/private-networks/how-to/configure/consensus/ibft.md, example IBFT 2.0
# genesis file: one validator.
IBFT2_DOCS_GENESIS = (
    "0xf83ea00000000000000000000000000000000000000000000000000000000000000000d594c2ab482b506de5"
    "61668e07f04547232a72897daf808400000000c0"
)
IBFT2_DOCS_VALIDATORS = ("0xc2ab482b506de561668e07f04547232a72897daf",)

# hyperledger/besu docs/Consensus-Protocols/IBFT.md (Pantheon-era docs), IBFT 2.0 genesis file:
# two validators.
IBFT2_PANTHEON_DOCS_GENESIS = (
    "0xf853a00000000000000000000000000000000000000000000000000000000000000000ea94be068f726a13c8"
    "d46c44be6ce9d275600e1735a4945ff6f4b66a46a2b2310a6f3a93aaddc0d9a1c193808400000000c0"
)
IBFT2_PANTHEON_DOCS_VALIDATORS = (
    "0xbe068f726a13c8d46c44be6ce9d275600e1735a4",
    "0x5ff6f4b66a46a2b2310a6f3a93aaddc0d9a1c193",
)

# besu-eth/besu-docs docs/private-networks/how-to/configure/consensus/qbft.md, genesis file for
# block header validator selection: four validators.
QBFT_DOCS_GENESIS = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b"
    "7297a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5"
    "b6b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0"
)
QBFT_DOCS_VALIDATORS = (
    "0x64a702e6263b7297a96638cac6ae65e6541f4169",
    "0x3923390ad55e90c237593b3b0e401f3b08a03185",
    "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
)

# Same page, genesis file for contract validator selection: no validators in extraData.
QBFT_DOCS_CONTRACT_GENESIS = (
    "0xe5a00000000000000000000000000000000000000000000000000000000000000000c0c080c0"
)

# Same page, "Generate extra data": toEncode.json and the RLP encoded output of
# `besu rlp encode --from=toEncode.json --type=QBFT_EXTRA_DATA`.
QBFT_DOCS_TO_ENCODE = [
    "0x4592c8e45706cc08b8f44b11e43cba0cfc5892cb",
    "0x06e23768a0f59cf365e18c2e0c89e151bcdedc70",
    "0xc5327f96ee02d7bcbc1bf1236b8c15148971e1de",
    "0xab5e7f4061c605820d3744227eed91ff8e2c8908",
]
QBFT_DOCS_ENCODED = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f854944592c8e45706"
    "cc08b8f44b11e43cba0cfc5892cb9406e23768a0f59cf365e18c2e0c89e151bcdedc7094c5327f96ee02d7bcbc"
    "1bf1236b8c15148971e1de94ab5e7f4061c605820d3744227eed91ff8e2c8908c080c0"
)

# --- vectors from Besu's unit tests -----------------------------------------------------------

# hyperledger/besu consensus/qbft/src/test/java/org/hyperledger/besu/consensus/qbft/
# QbftExtraDataCodecTest.java, RAW_HEX_ENCODING_STRING (copied piece by piece).
QBFT_BESU_TEST_RAW = (
    "0xf8f0a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ea940000000000000000"
    "000000000000000000000001940000000000000000000000000000000000000002d7940000000000000000"
    "00000000000000000000000181ff83fedcbaf886b841000000000000000000000000000000000000000000"
    "0000000000000000000001000000000000000000000000000000000000000000000000000000000000000a"
    "00b841000000000000000000000000000000000000000000000000000000000000000a0000000000000000"
    "00000000000000000000000000000000000000000000000100"
)
# hyperledger/besu consensus/ibft/src/test/java/org/hyperledger/besu/consensus/ibft/
# IbftExtraDataTest.java, RAW_HEX_ENCODING_STRING (same content, IBFT 2.0 layout). The Java
# string pieces are kept verbatim, one per line.
IBFT2_BESU_TEST_RAW = (
    "f8f1a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ea9400000000000000000000000000000000000"
    "00001940000000000000000000000000000000000000002d794000000000000000000000000000000000000000181ff8400fedc"
    "baf886b841000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000"
    "0000000000000000000000000000000000a00b84100000000000000000000000000000000000000000000000000000000000000"
    "0a000000000000000000000000000000000000000000000000000000000000000100"
)


def _seal(r: int, s: int, rec_id: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([rec_id])


def _address(n: int) -> str:
    return "0x" + n.to_bytes(20, "big").hex()


# The decoded object of both Besu tests (getDecodedExtraDataForRawHexEncodingString):
# vanity bytes 1..32 (createNonEmptyVanityData), validators Address "1" and "2",
# Vote.authVote(Address "1"), round 0x00FEDCBA, seals (r=1, s=10, 0) and (r=10, s=1, 0).
BESU_TEST_DECODED = BftExtraData(
    vanity=bytes(range(1, 33)),
    validators=(_address(1), _address(2)),
    vote=Vote(_address(1), add=True),
    round=0x00FEDCBA,
    seals=(_seal(1, 10, 0), _seal(10, 1, 0)),
)


@pytest.mark.parametrize(
    ("protocol", "extra_data", "validators"),
    [
        ("ibft2", IBFT2_DOCS_GENESIS, IBFT2_DOCS_VALIDATORS),
        ("ibft2", IBFT2_PANTHEON_DOCS_GENESIS, IBFT2_PANTHEON_DOCS_VALIDATORS),
        ("qbft", QBFT_DOCS_GENESIS, QBFT_DOCS_VALIDATORS),
        ("qbft", QBFT_DOCS_CONTRACT_GENESIS, ()),
        ("qbft", QBFT_DOCS_ENCODED, tuple(QBFT_DOCS_TO_ENCODE)),
    ],
)
def test_docs_genesis_extra_data(
    protocol: Protocol, extra_data: str, validators: tuple[str, ...]
) -> None:
    decoded = decode_extra_data(protocol, extra_data)
    assert decoded == BftExtraData(validators=validators)
    assert decoded.vanity == ZERO_VANITY
    assert decoded.vote is None
    assert decoded.round == 0
    assert decoded.seals == ()
    assert encode_extra_data(protocol, decoded) == extra_data
    assert genesis_extra_data(protocol, validators) == extra_data


def test_qbft_docs_rlp_encode_example() -> None:
    assert genesis_extra_data("qbft", QBFT_DOCS_TO_ENCODE) == QBFT_DOCS_ENCODED


@pytest.mark.parametrize(
    ("protocol", "raw"), [("qbft", QBFT_BESU_TEST_RAW), ("ibft2", IBFT2_BESU_TEST_RAW)]
)
def test_besu_unit_test_vectors(protocol: Protocol, raw: str) -> None:
    assert decode_extra_data(protocol, raw) == BESU_TEST_DECODED
    assert encode_extra_data(protocol, BESU_TEST_DECODED) == "0x" + raw.removeprefix("0x")


def test_cross_protocol_decoding_fails() -> None:
    # IBFT 2.0 writes "no vote" as empty bytes, QBFT as an empty list; the round differs too.
    with pytest.raises(ValueError, match="vote"):
        decode_extra_data("qbft", IBFT2_DOCS_GENESIS)
    with pytest.raises(ValueError, match="vote"):
        decode_extra_data("ibft2", QBFT_DOCS_GENESIS)


def _rlp_hex(items: object) -> str:
    encoded: bytes = rlp.encode(items)
    return "0x" + encoded.hex()


RECIPIENT = bytes.fromhex("00" * 19 + "01")


def test_qbft_drop_vote_layouts() -> None:
    # QbftExtraDataCodec.encodeVote writes DROP as writeNull() (empty bytes).
    drop = BftExtraData(vote=Vote(_address(1), add=False), round=1)
    encoded = encode_extra_data("qbft", drop)
    assert encoded == _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b""], b"\x01", []])
    assert decode_extra_data("qbft", encoded) == drop
    # decodeVote also maps the DROP_BYTE_VALUE 0x00 to DROP (voteToValue bimap).
    assert decode_extra_data("qbft", _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b"\x00"], b"", []]))
    # QbftExtraDataCodecTest.emptyListConstituteValidContent: writeNull() vote type, round scalar.
    besu_test = _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b""], bytes.fromhex("fedcba"), []])
    assert decode_extra_data("qbft", besu_test).vote == Vote(_address(1), add=False)


def test_ibft2_drop_vote_layout() -> None:
    # IbftExtraDataCodec.encodeVote writes DROP as the byte 0x00 and the round as 4 bytes.
    drop = BftExtraData(vote=Vote(_address(1), add=False), round=1)
    encoded = encode_extra_data("ibft2", drop)
    assert encoded == _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b"\x00"], b"\x00\x00\x00\x01", []])
    assert decode_extra_data("ibft2", encoded) == drop


def test_qbft_round_encoding() -> None:
    # QbftExtraDataCodecTest.correctlyCodedRoundConstitutesValidContent: round 0xDCBA as 2 bytes.
    assert (
        decode_extra_data(
            "qbft", _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b"\xff"], b"\xdc\xba", []])
        ).round
        == 0xDCBA
    )
    # incorrectlyEncodedRoundThrowsRlpException: a leading zero byte is not a valid scalar.
    with pytest.raises(ValueError, match="leading zero"):
        decode_extra_data(
            "qbft", _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b"\xff"], b"\x00\xdc\xba", []])
        )
    # Round 0 is the empty scalar 0x80, as in every docs genesis above.
    assert encode_extra_data("qbft", BftExtraData()).endswith("c080c0")


def test_ibft2_round_must_be_four_bytes() -> None:
    # IbftExtraDataTest.incorrectlyEncodedRoundThrowsRlpException: 3-byte round is rejected.
    with pytest.raises(ValueError, match="4 bytes"):
        decode_extra_data(
            "ibft2", _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b"\xff"], b"\xfe\xdc\xba", []])
        )


@pytest.mark.parametrize("protocol", ["ibft2", "qbft"])
def test_incorrect_vote_type_is_rejected(protocol: Protocol) -> None:
    # QbftExtraDataCodecTest.incorrectVoteTypeThrowsException uses vote byte 0xAA.
    round_bytes = b"\x00\x00\x00\x01" if protocol == "ibft2" else b"\x01"
    with pytest.raises(ValueError, match="vote type"):
        decode_extra_data(
            protocol, _rlp_hex([ZERO_VANITY, [], [RECIPIENT, b"\xaa"], round_bytes, []])
        )


def test_extra_items_ibft2_rejected_qbft_ignored() -> None:
    # IbftExtraDataCodec ends with leaveList() (strict); QbftExtraDataCodec with
    # leaveListLenient(), which ignores further items.
    with pytest.raises(ValueError, match="exactly 5"):
        decode_extra_data(
            "ibft2", _rlp_hex([ZERO_VANITY, [], b"", b"\x00\x00\x00\x00", [], b"\x01"])
        )
    assert decode_extra_data("qbft", _rlp_hex([ZERO_VANITY, [], [], b"", [], b"\x01"])) == (
        BftExtraData()
    )


@pytest.mark.parametrize(
    ("extra_data", "message"),
    [
        ("", "empty"),
        ("0x", "empty"),
        ("0xabc", "hexadecimal"),
        ("0xzz", "hexadecimal"),
        ("0xc0", "at least 5"),
        ("0x80", "RLP list"),
        ("0xf8", "not valid RLP"),
        (QBFT_DOCS_GENESIS + "00", "not valid RLP"),
        ("0x8100", "not valid RLP"),  # non-canonical single byte
        (_rlp_hex([bytes(31), [], [], b"", []]), "vanity must be 32 bytes"),
        (_rlp_hex([ZERO_VANITY, [bytes(19)], [], b"", []]), "validator 0 must be 20 bytes"),
        (_rlp_hex([ZERO_VANITY, b"", [], b"", []]), "validator list must be an RLP list"),
        (_rlp_hex([ZERO_VANITY, [], b"", b"", []]), "vote must be an RLP list"),
        (_rlp_hex([ZERO_VANITY, [], [RECIPIENT], b"", []]), "vote must have 2 items"),
        (_rlp_hex([ZERO_VANITY, [], [], b"\x01" * 5, []]), "at most 4 bytes"),
        (_rlp_hex([ZERO_VANITY, [], [], b"\x80\x00\x00\x00", []]), "does not fit"),
        (_rlp_hex([ZERO_VANITY, [], [], b"", [bytes(64)]]), "seal 0 must be 65 bytes"),
        (_rlp_hex([ZERO_VANITY, [], [], b"", [bytes(65)]]), "r must be from 1"),
        (_rlp_hex([ZERO_VANITY, [], [], b"", [_seal(1, 1, 2)]]), "recovery id"),
        (_rlp_hex([ZERO_VANITY, [], [], b"", [_seal(1, SECP256K1_ORDER, 0)]]), "s must be"),
    ],
)
def test_malformed_qbft_extra_data(extra_data: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_extra_data("qbft", extra_data)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="vanity"):
        BftExtraData(vanity=b"\x00" * 33)
    with pytest.raises(ValueError, match="round"):
        BftExtraData(round=2**31)
    with pytest.raises(ValueError, match="round"):
        BftExtraData(round=-1)
    with pytest.raises(ValueError, match="40 hex digits"):
        BftExtraData(validators=("0x1234",))
    with pytest.raises(ValueError, match="protocol"):
        encode_extra_data("clique", BftExtraData())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than once"):
        genesis_extra_data("qbft", [_address(1), _address(1).upper().replace("0X", "0x")])
    checksummed = BftExtraData(validators=("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",))
    assert checksummed.validators == ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",)


# --- properties ---------------------------------------------------------------------------------

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
scalars = st.integers(min_value=1, max_value=SECP256K1_ORDER - 1)
seals = st.builds(_seal, scalars, scalars, st.sampled_from([0, 1]))
extra_datas = st.builds(
    BftExtraData,
    vanity=st.binary(min_size=32, max_size=32),
    validators=st.lists(addresses, max_size=8).map(tuple),
    vote=st.none() | st.builds(Vote, recipient=addresses, add=st.booleans()),
    round=st.integers(min_value=0, max_value=2**31 - 1),
    seals=st.lists(seals, max_size=4).map(tuple),
)


@settings(max_examples=150, database=None, deadline=None)
@given(extra_datas, st.sampled_from(["ibft2", "qbft"]))
def test_decode_inverts_encode(data: BftExtraData, protocol: Protocol) -> None:
    encoded = encode_extra_data(protocol, data)
    assert encoded.startswith("0x")
    assert decode_extra_data(protocol, encoded) == data


@settings(max_examples=50, database=None, deadline=None)
@given(st.lists(addresses, max_size=40, unique=True), st.sampled_from(["ibft2", "qbft"]))
def test_genesis_extra_data_keeps_validators(validators: list[str], protocol: Protocol) -> None:
    decoded = decode_extra_data(protocol, genesis_extra_data(protocol, validators))
    assert len(decoded.validators) == len(validators)
    assert list(decoded.validators) == validators
    assert decoded == BftExtraData(validators=tuple(validators))
