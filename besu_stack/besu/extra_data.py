"""IBFT 2.0 and QBFT block header ``extraData``: encode and decode exactly as Besu does.

Both protocols store ``RLP([vanity, validators, vote, round, seals])`` in ``extraData``; they
differ in how the vote and the round are written. From Besu's ``IbftExtraDataCodec`` and
``QbftExtraDataCodec`` (consensus/ibft and consensus/qbft in hyperledger/besu):

============  ===============================  ==========================================
field         IBFT 2.0                         QBFT
============  ===============================  ==========================================
vanity        32 bytes                         32 bytes
validators    list of 20-byte addresses        list of 20-byte addresses
no vote       RLP null, empty bytes (``80``)   empty list (``c0``)
vote          ``[address, ff]`` add,           ``[address, ff]`` add,
              ``[address, 00]`` drop           ``[address, 80]`` drop (empty bytes);
                                               decoding also takes ``00`` as drop
round         always 4 bytes (``writeInt``)    scalar, no leading zeros
                                               (``writeIntScalar``; 0 is ``80``)
seals         list of 65-byte signatures       list of 65-byte signatures
extra items   rejected (``leaveList``)         ignored (``leaveListLenient``)
============  ===============================  ==========================================

A seal is ``r (32 bytes) || s (32 bytes) || recId (1 byte)`` with ``1 <= r, s < n`` and recId 0
or 1, as Besu's ``SECPSignature.decode`` requires. The round is a Java ``int`` in Besu, so it is
limited to ``0 .. 2**31 - 1`` here. RLP itself is :mod:`besu_stack.besu.rlp`, which like Besu's
non-lenient input rejects non-canonical encodings and trailing bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from besu_stack.besu import rlp
from besu_stack.besu.errors import ArgumentTypeError, require_bytes, require_text
from besu_stack.besu.keys import ADDRESS_LENGTH, SECP256K1_ORDER, normalize_address
from besu_stack.besu.protocol import PROTOCOLS, Protocol, check_protocol

__all__ = [
    "PROTOCOLS",
    "BftExtraData",
    "Protocol",
    "Vote",
    "check_protocol",
    "decode_extra_data",
    "encode_extra_data",
    "genesis_extra_data",
]
VANITY_LENGTH = 32
"""Besu's ``BftExtraDataCodec.EXTRA_VANITY_LENGTH``."""
SEAL_LENGTH = 65
"""Besu's ``SECPSignature.BYTES_REQUIRED``."""
MAX_ROUND = 2**31 - 1
ADD_BYTE = b"\xff"
"""Besu's ``Vote.ADD_BYTE_VALUE``."""
DROP_BYTE = b"\x00"
"""Besu's ``Vote.DROP_BYTE_VALUE``."""

_ZERO_VANITY = bytes(VANITY_LENGTH)
_FIELDS = ("vanity", "validators", "vote", "round", "seals")


def _check_round(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ROUND:
        raise ValueError(f"round must be a whole number from 0 to {MAX_ROUND}, got {value!r}")
    return value


def _check_seal(seal: object, index: int) -> bytes:
    data = require_bytes(seal, f"seal {index}", "decode hex with bytes.fromhex first")
    if len(data) != SEAL_LENGTH:
        raise ValueError(f"seal {index} must be {SEAL_LENGTH} bytes (r, s, recId), got {len(data)}")
    for name, part in (("r", data[:32]), ("s", data[32:64])):
        if not 1 <= int.from_bytes(part, "big") < SECP256K1_ORDER:
            raise ValueError(f"seal {index}: {name} must be from 1 to n-1 (secp256k1 order)")
    if data[64] not in (0, 1):
        raise ValueError(f"seal {index}: recovery id must be 0 or 1, got {data[64]}")
    return data


@dataclass(frozen=True)
class Vote:
    """A validator vote carried in a block: add (``add=True``) or drop ``recipient``."""

    recipient: str
    add: bool

    def __post_init__(self) -> None:
        if not isinstance(self.add, bool):
            raise ValueError(f"vote add must be True or False, got {self.add!r}")
        require_text(self.recipient, "vote recipient", "an address as hex text (0x + 40 digits)")
        object.__setattr__(self, "recipient", normalize_address(self.recipient))


@dataclass(frozen=True)
class BftExtraData:
    """Decoded ``extraData`` of an IBFT 2.0 or QBFT block header.

    ``validators`` are ``0x`` + 40 lowercase hex digits (other spellings are normalized, list
    input becomes a tuple); ``seals`` are 65-byte commit seals. The defaults are those of a
    genesis block: zero vanity, no vote, round 0, no seals.
    """

    vanity: bytes = _ZERO_VANITY
    validators: tuple[str, ...] = ()
    vote: Vote | None = None
    round: int = 0
    seals: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        require_bytes(self.vanity, "vanity", "decode hex with bytes.fromhex first")
        if len(self.vanity) != VANITY_LENGTH:
            raise ValueError(f"vanity must be {VANITY_LENGTH} bytes, got {len(self.vanity)}")
        if self.vote is not None and not isinstance(self.vote, Vote):
            raise ValueError(f"vote must be a Vote or None, got {self.vote!r}")
        object.__setattr__(self, "vanity", bytes(self.vanity))
        object.__setattr__(self, "validators", _addresses(self.validators, "validators"))
        object.__setattr__(self, "round", _check_round(self.round))
        object.__setattr__(
            self, "seals", tuple(_check_seal(s, i) for i, s in enumerate(self.seals))
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values (bytes as ``0x`` hex)."""
        return {
            "vanity": "0x" + self.vanity.hex(),
            "validators": list(self.validators),
            "vote": None
            if self.vote is None
            else {"recipient": self.vote.recipient, "add": self.vote.add},
            "round": self.round,
            "seals": ["0x" + seal.hex() for seal in self.seals],
        }


def _addresses(values: object, argument: str) -> tuple[str, ...]:
    """Normalized addresses from an iterable of hex strings (one string alone is refused)."""
    if isinstance(values, str | bytes | bytearray) or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(
            f"{argument} must be a list of addresses (hex text), got {type(values).__name__}"
        )
    return tuple(
        normalize_address(require_text(v, f"{argument}[{i}]", "an address as hex text"))
        for i, v in enumerate(values)
    )


def _address_bytes(address: str) -> bytes:
    return bytes.fromhex(normalize_address(address)[2:])


def encode_extra_data(protocol: Protocol, data: BftExtraData) -> str:
    """Return ``data`` RLP-encoded as Besu writes it for ``protocol``, as ``0x`` hex."""
    proto = check_protocol(protocol)
    if not isinstance(data, BftExtraData):
        raise ArgumentTypeError(f"data must be a BftExtraData, got {type(data).__name__}")
    vote: bytes | list[bytes]
    if data.vote is None:
        vote = b"" if proto == "ibft2" else []
    elif data.vote.add:
        vote = [_address_bytes(data.vote.recipient), ADD_BYTE]
    else:
        vote = [_address_bytes(data.vote.recipient), DROP_BYTE if proto == "ibft2" else b""]
    round_number = _check_round(data.round)
    if proto == "ibft2":
        round_bytes = round_number.to_bytes(4, "big")
    else:
        round_bytes = round_number.to_bytes((round_number.bit_length() + 7) // 8, "big")
    encoded = rlp.encode(
        [
            data.vanity,
            [_address_bytes(v) for v in data.validators],
            vote,
            round_bytes,
            list(data.seals),
        ]
    )
    return "0x" + encoded.hex()


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _parse_hex(extra_data: object) -> bytes:
    """The bytes of ``0x`` hex text; whitespace around it is allowed, inside it is not."""
    text = require_text(
        extra_data, "extra_data", "0x-prefixed hex text", "for raw bytes use .hex() first"
    ).strip()
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if not digits:
        raise ValueError("extra_data is empty; BFT extra data is required")
    if len(digits) % 2 or not _HEX_DIGITS.issuperset(digits):
        shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
        raise ValueError(
            "extra_data must be hexadecimal with an even number of digits and nothing else "
            f"(no spaces inside), got {shown!r}"
        )
    return bytes.fromhex(digits)


def _expect_bytes(item: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(item, bytes):
        raise ValueError(f"{what} must be an RLP byte string, got a list")
    if length is not None and len(item) != length:
        raise ValueError(f"{what} must be {length} bytes, got {len(item)}")
    return item


def _expect_list(item: object, what: str) -> list[object]:
    if not isinstance(item, list):
        raise ValueError(f"{what} must be an RLP list, got a byte string")
    return item


def _address_of(item: object, what: str) -> str:
    return "0x" + _expect_bytes(item, what, ADDRESS_LENGTH).hex()


def _decode_vote(proto: Protocol, item: object) -> Vote | None:
    if proto == "ibft2":
        # IbftExtraDataCodec: nextIsNull() (empty bytes) means no vote, else a 2-item list.
        if item == b"":
            return None
        parts = _expect_list(item, "vote")
    else:
        # QbftExtraDataCodec: an empty list means no vote, anything else must be a 2-item list.
        parts = _expect_list(item, "vote")
        if not parts:
            return None
    if len(parts) != 2:
        raise ValueError(f"vote must have 2 items (recipient, type), got {len(parts)}")
    recipient = _address_of(parts[0], "vote recipient")
    kind = parts[1]
    if proto == "qbft" and kind in (b"", []):
        return Vote(recipient, add=False)  # written by writeNull(); nextSize() == 0 is DROP
    value = _expect_bytes(kind, "vote type", 1)
    if value not in (ADD_BYTE, DROP_BYTE):
        raise ValueError(f"vote type must be 0xff (add) or 0x00 (drop), got 0x{value.hex()}")
    return Vote(recipient, add=value == ADD_BYTE)


def _decode_round(proto: Protocol, item: object) -> int:
    raw = _expect_bytes(item, "round")
    if proto == "ibft2":
        if len(raw) != 4:
            raise ValueError(f"IBFT 2.0 round must be exactly 4 bytes, got {len(raw)}")
    else:
        if len(raw) > 4:
            raise ValueError(f"QBFT round must be at most 4 bytes, got {len(raw)}")
        if raw[:1] == b"\x00":
            raise ValueError("QBFT round is a scalar and must not have leading zero bytes")
    value = int.from_bytes(raw, "big")
    if value > MAX_ROUND:
        raise ValueError(f"round {value} does not fit Besu's int (maximum {MAX_ROUND})")
    return value


def decode_extra_data(protocol: Protocol, extra_data: str) -> BftExtraData:
    """Decode ``0x`` hex ``extraData`` of an IBFT 2.0 or QBFT header like Besu's codec does.

    Raises :class:`ValueError` naming the malformed part (bad hex, bad RLP, wrong vanity or
    address length, bad vote, bad round, bad seal), and :class:`ArgumentTypeError` (also a
    ``ValueError``) when ``extra_data`` is not text, such as raw bytes.
    """
    proto = check_protocol(protocol)
    raw = _parse_hex(extra_data)
    try:
        decoded = rlp.decode(raw)
    except rlp.RlpError as exc:
        raise ValueError(f"extraData is not valid RLP: {exc}") from None
    items = _expect_list(decoded, "extraData")
    if len(items) < len(_FIELDS) or (proto == "ibft2" and len(items) > len(_FIELDS)):
        expected = "exactly 5" if proto == "ibft2" else "at least 5"
        raise ValueError(
            f"extraData must be an RLP list of {expected} items ({', '.join(_FIELDS)}), "
            f"got {len(items)}"
        )
    vanity = _expect_bytes(items[0], "vanity", VANITY_LENGTH)
    validators = tuple(
        _address_of(v, f"validator {i}")
        for i, v in enumerate(_expect_list(items[1], "validator list"))
    )
    vote = _decode_vote(proto, items[2])
    round_number = _decode_round(proto, items[3])
    seals = tuple(
        _check_seal(_expect_bytes(s, f"seal {i}"), i)
        for i, s in enumerate(_expect_list(items[4], "seal list"))
    )
    return BftExtraData(vanity, validators, vote, round_number, seals)


def genesis_extra_data(protocol: Protocol, validators: Iterable[str]) -> str:
    """Return the genesis ``extraData`` for ``validators``, in the order given.

    Like Besu's ``encodeFromAddresses``: zero vanity, no vote, round 0, no seals. An empty list
    is valid for QBFT with contract validator selection. Duplicate validators are rejected.
    """
    addresses = _addresses(validators, "validators")
    seen: set[str] = set()
    for address in addresses:
        if address in seen:
            raise ValueError(f"validator {address} is listed more than once")
        seen.add(address)
    return encode_extra_data(protocol, BftExtraData(validators=addresses))
