"""Our RLP codec against vectors we did not write and against pyrlp, an independent codec.

Vectors: ethereum/tests ``RLPTests/rlptest.json`` (valid) and ``RLPTests/invalidRLPTest.json``
(invalid), the shared test suite of the Ethereum clients (commits 0d2c026f and 16806bfc). pyrlp
(``rlp``, a dev dependency only) in strict mode is the property-based oracle.
"""

from __future__ import annotations

import pytest
import rlp as pyrlp
from hypothesis import given
from hypothesis import strategies as st

from besu_stack.besu import rlp

LOREM_55 = b"Lorem ipsum dolor sit amet, consectetur adipisicing eli"
ASDF = [b"asdf", b"qwer", b"zxcv"]

# ethereum/tests RLPTests/rlptest.json: (name, input, output); integers written as their
# big-endian bytes, as RLP encodes them.
VALID = [
    ("emptystring", b"", "80"),
    ("bytestring00", b"\x00", "00"),
    ("bytestring7F", b"\x7f", "7f"),
    ("shortstring", b"dog", "83646f67"),
    ("shortstring2", LOREM_55, "b7" + LOREM_55.hex()),
    ("longstring", LOREM_55 + b"t", "b838" + (LOREM_55 + b"t").hex()),
    ("mediumint1", b"\x80", "8180"),
    ("mediumint2", (1000).to_bytes(2, "big"), "8203e8"),
    (
        "bigint",
        (2**256).to_bytes(33, "big"),
        "a1010000000000000000000000000000000000000000000000000000000000000000",
    ),
    ("emptylist", [], "c0"),
    ("stringlist", [b"dog", b"god", b"cat"], "cc83646f6783676f6483636174"),
    ("multilist", [b"zw", [b"\x04"], b"\x01"], "c6827a77c10401"),
    (
        "shortListMax1",
        [b"asdf", b"qwer", b"zxcv"] * 3 + [b"asdf", b"qwer"],
        "f784617364668471776572847a78637684617364668471776572847a78637684617364668471776572847a78637684617364668471776572",
    ),
    ("longList1", [ASDF] * 4, "f840" + "cf84617364668471776572847a786376" * 4),
    ("longList2", [ASDF] * 32, "f90200" + "cf84617364668471776572847a786376" * 32),
    ("listsoflists", [[[], []], []], "c4c2c0c0c0"),
    ("listsoflists2", [[], [[]], [[], [[]]]], "c7c0c1c0c3c0c1c0"),
]

# ethereum/tests RLPTests/invalidRLPTest.json (all of it).
INVALID = {
    "int32Overflow": "bf0f000000000000021111",
    "int32Overflow2": "ff0f000000000000021111",
    "wrongSizeList": "f80180",
    "wrongSizeList2": "f80100",
    "incorrectLengthInArray": "b9002100dc2b275d0f74e8a53e6f4ec61b27f24278820be3f82ea2110e582081b0565df0",
    "randomRLP": "f861f83eb9002100dc2b275d0f74e8a53e6f4ec61b27f24278820be3f82ea2110e582081b0565df027b90015002d5ef8325ae4d034df55d4b58d0dfba64d61ddd17be00000b9001a00dae30907045a2f66fa36f2bb8aa9029cbb0b8a7b3b5c435ab331",
    "bytesShouldBeSingleByte00": "8100",
    "bytesShouldBeSingleByte01": "8101",
    "bytesShouldBeSingleByte7F": "817F",
    "leadingZerosInLongLengthArray1": "b90040" + bytes(range(64)).hex(),
    "leadingZerosInLongLengthArray2": "b800",
    "leadingZerosInLongLengthList1": "fb00000040" + bytes(range(64)).hex(),
    "leadingZerosInLongLengthList2": "f800",
    "nonOptimalLongLengthArray1": "b81000112233445566778899aabbccddeeff",
    "nonOptimalLongLengthArray2": "b801ff",
    "nonOptimalLongLengthList1": "f810000102030405060708090a0b0c0d0e0f",
    "nonOptimalLongLengthList2": "f803112233",
}


@pytest.mark.parametrize(("name", "item", "encoded"), VALID, ids=[v[0] for v in VALID])
def test_ethereum_tests_valid_vectors(name: str, item: rlp.RlpItem, encoded: str) -> None:
    assert rlp.encode(item).hex() == encoded
    assert rlp.decode(bytes.fromhex(encoded)) == item


@pytest.mark.parametrize("encoded", INVALID.values(), ids=list(INVALID))
def test_ethereum_tests_invalid_vectors(encoded: str) -> None:
    with pytest.raises(rlp.RlpError):
        rlp.decode(bytes.fromhex(encoded))


def test_trailing_bytes_empty_input_and_deep_nesting_are_refused() -> None:
    with pytest.raises(rlp.RlpError, match="follow"):
        rlp.decode(bytes.fromhex("8000"))
    with pytest.raises(rlp.RlpError, match="no input"):
        rlp.decode(b"")
    nested: rlp.RlpItem = []
    for _ in range(rlp.MAX_DEPTH - 1):  # MAX_DEPTH levels of lists in all
        nested = [nested]
    assert rlp.decode(rlp.encode(nested)) == nested
    with pytest.raises(rlp.RlpError, match="nested"):
        rlp.decode(rlp.encode([nested]))


def test_encode_refuses_what_is_not_bytes_or_a_list() -> None:
    with pytest.raises(TypeError, match="str"):
        rlp.encode("dog")  # type: ignore[arg-type]


items = st.recursive(
    st.binary(max_size=80), lambda inner: st.lists(inner, max_size=6), max_leaves=20
)


@given(items)
def test_encoding_matches_pyrlp_and_round_trips(item: rlp.RlpItem) -> None:
    encoded = rlp.encode(item)
    assert encoded == pyrlp.encode(item)
    assert rlp.decode(encoded) == item


@given(st.binary(min_size=1, max_size=64))
def test_decoding_arbitrary_bytes_agrees_with_strict_pyrlp(data: bytes) -> None:
    try:
        expected: object = pyrlp.decode(data, strict=True)
    except pyrlp.exceptions.RLPException:
        expected = None
    try:
        ours: object = rlp.decode(data)
    except rlp.RlpError:
        ours = None
    assert ours == expected
