"""Recursive Length Prefix (RLP) encoding, strict as Besu reads it: canonical input only.

RLP (Ethereum Yellow Paper, appendix B) serializes an item that is either a byte string or a
list of items. This module is all the BFT ``extraData`` codec needs, with no dependencies and
nothing to load: the popular ``rlp`` package pulls ``eth-utils``, ``pydantic`` and ``cytoolz``
(about 150 ms of imports, 6 MB in a Lambda package) for the same two functions.

Decoding accepts only the one canonical encoding of each item, as Besu's non-lenient
``RLPInput`` does: a single byte below ``0x80`` written with a length prefix, a long form for
a length below 56, a length with leading zero bytes, a length past the end and bytes after the
item are all errors. Verified against the ``ethereum/tests`` RLP vectors and, property-based,
against ``pyrlp`` in strict mode (``tests/unit/besu/test_rlp.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

RlpItem: TypeAlias = bytes | list["RlpItem"]
"""A decoded RLP item: a byte string, or a list of items."""

MAX_DEPTH = 32
"""At most this many levels of nested lists are decoded (extraData has three)."""

_SHORT_LIMIT = 56
_STRING_OFFSET = 0x80
_LIST_OFFSET = 0xC0


class RlpError(ValueError):
    """The input is not the canonical RLP encoding of one item."""


Encodable: TypeAlias = bytes | bytearray | Sequence["Encodable"]
"""What :func:`encode` takes: bytes, or a list or tuple of encodable items."""


def _length_prefix(offset: int, length: int) -> bytes:
    if length < _SHORT_LIMIT:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + _SHORT_LIMIT - 1 + len(size)]) + size


def encode(item: Encodable) -> bytes:
    """Return the RLP encoding of ``item`` (bytes, or a list or tuple of items)."""
    if isinstance(item, bytes | bytearray):
        data = bytes(item)
        if len(data) == 1 and data[0] < _STRING_OFFSET:
            return data
        return _length_prefix(_STRING_OFFSET, len(data)) + data
    if isinstance(item, list | tuple):
        payload = b"".join(encode(element) for element in item)
        return _length_prefix(_LIST_OFFSET, len(payload)) + payload
    raise TypeError(f"RLP encodes bytes and lists of them, got {type(item).__name__}")


def decode(data: bytes) -> RlpItem:
    """Decode exactly one canonical RLP item that spans all of ``data``; raise :class:`RlpError`."""
    if not data:
        raise RlpError("no input: an RLP item is at least one byte")
    item, end = _decode_at(bytes(data), 0, len(data), 0)
    if end != len(data):
        raise RlpError(f"{len(data) - end} bytes follow the RLP item")
    return item


def _decode_at(data: bytes, start: int, limit: int, depth: int) -> tuple[RlpItem, int]:
    """Decode the item at ``start`` that must end by ``limit``; return it and where it ends."""
    if start >= limit:
        raise RlpError(f"truncated: an item should start at byte {start}")
    first = data[start]
    if first < _STRING_OFFSET:
        return data[start : start + 1], start + 1
    is_list = first >= _LIST_OFFSET
    short = first - (_LIST_OFFSET if is_list else _STRING_OFFSET)
    if short < _SHORT_LIMIT:
        length, payload = short, start + 1
    else:
        size = short - _SHORT_LIMIT + 1
        payload = start + 1 + size
        if payload > limit:
            raise RlpError(f"truncated: the length at byte {start} needs {size} more bytes")
        length_bytes = data[start + 1 : payload]
        if length_bytes[0] == 0:
            raise RlpError(f"non-canonical: the length at byte {start} has leading zero bytes")
        length = int.from_bytes(length_bytes, "big")
        if length < _SHORT_LIMIT:
            raise RlpError(f"non-canonical: long form for a length of {length} at byte {start}")
    end = payload + length
    if end > limit:
        raise RlpError(f"truncated: the item at byte {start} needs {end - limit} more bytes")
    if not is_list:
        if length == 1 and data[payload] < _STRING_OFFSET:
            raise RlpError(f"non-canonical: single byte below 0x80 prefixed at byte {start}")
        return data[payload:end], end
    if depth >= MAX_DEPTH:
        raise RlpError(f"lists nested deeper than {MAX_DEPTH} levels")
    items: list[RlpItem] = []
    position = payload
    while position < end:
        element, position = _decode_at(data, position, end, depth + 1)
        items.append(element)
    return items, end
