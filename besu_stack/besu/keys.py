"""secp256k1 node keys, Ethereum addresses and enode URLs, as Besu uses them.

A Besu node key is a secp256k1 private key; the node's public key (the 64-byte uncompressed point
without its ``0x04`` prefix) is its devp2p node ID, and its address (the last 20 bytes of the
Keccak-256 hash of that public key) is its validator address in IBFT 2.0 and QBFT.

Curve arithmetic is done by ``coincurve`` (libsecp256k1) and Keccak-256 by ``pycryptodome``.
No error message or ``repr`` in this module ever contains a private key.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from Crypto.Hash import keccak

from besu_stack.besu.errors import require_bytes, require_text

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""n, the order of the secp256k1 group (SEC 2, section 2.4.1)."""

PRIVATE_KEY_LENGTH = 32
PUBLIC_KEY_LENGTH = 64
ADDRESS_LENGTH = 20
DEFAULT_P2P_PORT = 30303
"""Besu's default ``--p2p-port`` (TCP and UDP)."""

_HEX_RE = re.compile(r"[0-9a-fA-F]*")
_DNS_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PRIVATE_KEY_FORMAT = "64 hexadecimal characters, optionally prefixed with 0x"
_REDACTED = "<redacted>"


def keccak256(data: bytes) -> bytes:
    """Return the Keccak-256 digest (Ethereum's hash, not NIST SHA3-256) of ``data``."""
    digest = keccak.new(digest_bits=256)
    digest.update(require_bytes(data, "data", "encode text first"))
    return digest.digest()


def _int_in_range(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _strip_0x(text: str) -> str:
    return text[2:] if text[:2] in ("0x", "0X") else text


# --- private keys -------------------------------------------------------------------------------


def _check_private_key(private_key: bytes) -> bytes:
    """Validate a raw private key; messages describe the problem, never the key."""
    key = require_bytes(
        private_key, "private_key", "for hex text use parse_private_key (value not shown)"
    )
    if len(key) != PRIVATE_KEY_LENGTH:
        raise ValueError(
            f"private key must be {PRIVATE_KEY_LENGTH} bytes, got {len(key)} (value not shown)"
        )
    if not 0 < int.from_bytes(key, "big") < SECP256K1_ORDER:
        raise ValueError(
            "private key is not a valid secp256k1 scalar: it must be from 1 to n-1 where n is the "
            "curve order (value not shown)"
        )
    return key


def generate_private_key() -> bytes:
    """Return a new random secp256k1 private key: 32 bytes from :mod:`secrets`, in [1, n-1]."""
    while True:
        candidate = secrets.token_bytes(PRIVATE_KEY_LENGTH)
        if 0 < int.from_bytes(candidate, "big") < SECP256K1_ORDER:
            return candidate


def parse_private_key(hex_str: str) -> bytes:
    """Parse a private key written as hex, for instance the content of a Besu ``key`` file.

    Besu writes ``0x`` followed by 64 hex digits; surrounding whitespace (such as a trailing
    newline) and a missing ``0x`` are accepted. Raises :class:`ValueError`, whose message never
    contains the input.
    """
    text = require_text(hex_str, "private key", "hex text", "raw key bytes need no parsing")
    digits = _strip_0x(text.strip())
    if len(digits) != 2 * PRIVATE_KEY_LENGTH or not _HEX_RE.fullmatch(digits):
        raise ValueError(
            f"private key must be {_PRIVATE_KEY_FORMAT}; got {len(digits)} characters that are "
            f"{'all' if _HEX_RE.fullmatch(digits) else 'not all'} hexadecimal (value not shown)"
        )
    return _check_private_key(bytes.fromhex(digits))


def public_key_from_private(private_key: bytes) -> bytes:
    """Return the 64-byte uncompressed public key (no ``0x04`` prefix) of a 32-byte private key."""
    key = _check_private_key(private_key)
    return PrivateKey(key).public_key.format(compressed=False)[1:]


# --- public keys --------------------------------------------------------------------------------


def _check_public_key(public_key: bytes) -> bytes:
    key = require_bytes(public_key, "public_key", "for hex text use parse_public_key")
    if len(key) == PUBLIC_KEY_LENGTH + 1 and key[0] == 0x04:
        key = key[1:]
    if len(key) != PUBLIC_KEY_LENGTH:
        raise ValueError(
            f"public key must be {PUBLIC_KEY_LENGTH} bytes (uncompressed point without the 04 "
            f"prefix) or 65 bytes starting with 04, got {len(bytes(public_key))} bytes"
        )
    try:
        PublicKey(b"\x04" + key)
    except ValueError:
        raise ValueError("public key is not a point on the secp256k1 curve") from None
    return key


def parse_public_key(hex_str: str) -> bytes:
    """Parse a secp256k1 public key from hex and return its 64 bytes (without ``0x04``).

    Accepts 128 hex digits (Besu's ``key.pub`` format and node ID), or 130 starting with ``04``,
    with or without ``0x`` and surrounding whitespace. The point must lie on the curve.
    """
    text = require_text(hex_str, "public key", "hex text", "raw key bytes need no parsing")
    digits = _strip_0x(text.strip())
    if not _HEX_RE.fullmatch(digits) or len(digits) % 2:
        raise ValueError("public key must be hexadecimal: 128 hex digits, optionally 0x-prefixed")
    if len(digits) == 2 * PRIVATE_KEY_LENGTH:
        raise ValueError(
            "expected a public key (128 hex digits) but got 64 hex digits, the length of a "
            "private key; never pass private keys here (value not shown)"
        )
    return _check_public_key(bytes.fromhex(digits))


# --- addresses ----------------------------------------------------------------------------------


def address_from_public_key(public_key: bytes) -> str:
    """Return the address of a public key: ``0x`` + lowercase hex of keccak256(key)[12:]."""
    key = _check_public_key(public_key)
    return "0x" + keccak256(key)[-ADDRESS_LENGTH:].hex()


def _checksum(lower_hex: str) -> str:
    """Apply EIP-55 to 40 lowercase hex digits (no 0x) and return the mixed-case digits."""
    digest = keccak256(lower_hex.encode("ascii")).hex()
    return "".join(
        char.upper() if char in "abcdef" and int(digest[i], 16) >= 8 else char
        for i, char in enumerate(lower_hex)
    )


def normalize_address(address: str) -> str:
    """Return ``address`` as ``0x`` + 40 lowercase hex digits.

    Accepts the address with or without ``0x``, in one case or EIP-55 mixed case; a mixed-case
    address whose checksum is wrong is rejected (it is most likely mistyped).
    """
    text = require_text(address, "address", "hex text (0x + 40 digits)", "for raw bytes use .hex()")
    digits = _strip_0x(text.strip())
    if len(digits) != 2 * ADDRESS_LENGTH or not _HEX_RE.fullmatch(digits):
        raise ValueError(
            f"address must be 40 hex digits, optionally prefixed with 0x, got {address!r}"
        )
    lower = digits.lower()
    if digits not in (lower, digits.upper()) and _checksum(lower) != digits:
        raise ValueError(
            f"address {address!r} is mixed-case but its EIP-55 checksum is wrong "
            f"(expected 0x{_checksum(lower)})"
        )
    return "0x" + lower


def to_checksum_address(address: str) -> str:
    """Return the EIP-55 mixed-case checksum form of an address (``0x`` + 40 characters)."""
    return "0x" + _checksum(normalize_address(address)[2:])


# --- enode URLs ---------------------------------------------------------------------------------


def _normalize_host(host: str) -> str:
    """Validate an enode host: an IPv4/IPv6 address or a DNS name; return it as written in URLs."""
    if not host or host != host.strip():
        raise ValueError(f"host must be a non-empty IP address or DNS name, got {host!r}")
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        pass
    else:
        return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    name = host.lower().removesuffix(".")
    labels = name.split(".")
    if (
        len(name) > 253
        or not all(_DNS_LABEL_RE.fullmatch(label) for label in labels)
        or all(label.isdigit() for label in labels)
    ):
        raise ValueError(
            f"host {host!r} is neither an IP address nor a valid DNS name (labels of 1-63 "
            "letters, digits or hyphens, not starting or ending with a hyphen, 253 characters "
            "at most)"
        )
    return name


def _node_id(public_key: bytes | str) -> str:
    key = parse_public_key(public_key) if isinstance(public_key, str) else public_key
    return _check_public_key(key).hex()


def enode_url(
    public_key: bytes | str,
    host: str,
    port: int = DEFAULT_P2P_PORT,
    discport: int | None = None,
) -> str:
    """Return the enode URL ``enode://<node id>@<host>:<port>[?discport=<discport>]``.

    ``public_key`` is the node public key (bytes, or hex as accepted by :func:`parse_public_key`).
    ``host`` may be an IPv4 or IPv6 address or a DNS name; Besu resolves DNS names in enode URLs
    only with DNS support enabled (``--Xdns-enabled``, and ``--Xdns-update-enabled`` when the
    address behind the name can change). ``discport`` is the UDP discovery port, written only
    when it differs from ``port``.
    """
    node_id = _node_id(public_key)
    url_host = _normalize_host(host)
    tcp = _int_in_range(port, "port", 1, 65535)
    url = f"enode://{node_id}@{url_host}:{tcp}"
    if discport is not None and _int_in_range(discport, "discport", 0, 65535) != tcp:
        url += f"?discport={discport}"
    return url


_ENODE_RE = re.compile(
    r"enode://(?P<id>[0-9a-fA-F]{128})@(?P<host>\[[0-9a-fA-F:.]+\]|[^:@/?\[\]]+)"
    r":(?P<port>[0-9]{1,5})(?:\?discport=(?P<discport>[0-9]{1,5}))?"
)


def validate_enode_url(url: str) -> str:
    """Check an enode URL (node ID on the curve, valid host and ports) and return it normalized."""
    match = _ENODE_RE.fullmatch(require_text(url, "enode URL").strip())
    if match is None:
        raise ValueError(
            f"not an enode URL: {url!r} (expected enode://<128 hex digits>@<host>:<port>"
            "[?discport=<port>])"
        )
    discport = match.group("discport")
    return enode_url(
        match.group("id"),
        match.group("host"),
        int(match.group("port")),
        None if discport is None else int(discport),
    )


# --- identities ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatorIdentity:
    """The public identity of a node: its public key (node ID) and its address.

    ``public_key`` is stored as 128 lowercase hex digits without ``0x`` and ``address`` as
    ``0x`` + 40 lowercase hex digits; the constructor normalizes both and checks that the address
    belongs to the key.
    """

    public_key: str
    address: str

    def __post_init__(self) -> None:
        key = parse_public_key(self.public_key)
        derived = address_from_public_key(key)
        if normalize_address(self.address) != derived:
            raise ValueError(
                f"address {self.address} does not belong to public key 0x{key.hex()} "
                f"(its address is {derived})"
            )
        object.__setattr__(self, "public_key", key.hex())
        object.__setattr__(self, "address", derived)

    @classmethod
    def from_public_key(cls, public_key: bytes | str) -> ValidatorIdentity:
        """Build the identity of a public key (bytes, or hex as :func:`parse_public_key` takes)."""
        key = parse_public_key(public_key) if isinstance(public_key, str) else public_key
        key = _check_public_key(key)
        return cls(public_key=key.hex(), address=address_from_public_key(key))

    @classmethod
    def from_private_key(cls, private_key: bytes) -> ValidatorIdentity:
        """Build the identity of a 32-byte private key; the private key is not kept."""
        return cls.from_public_key(public_key_from_private(private_key))

    @property
    def checksum_address(self) -> str:
        """The address in EIP-55 mixed-case form."""
        return to_checksum_address(self.address)

    def enode(self, host: str, port: int = DEFAULT_P2P_PORT, discport: int | None = None) -> str:
        """Return this node's enode URL at ``host:port`` (see :func:`enode_url`)."""
        return enode_url(self.public_key, host, port, discport)


class NodeKey:
    """A node private key together with its public identity.

    ``repr()`` and ``str()`` show the address only; the private key is reachable only through
    :attr:`private_key` and :meth:`to_key_file`. Instances compare in constant time.
    """

    __slots__ = ("_identity", "_private_key")

    def __init__(self, private_key: bytes) -> None:
        self._private_key = _check_private_key(private_key)
        self._identity = ValidatorIdentity.from_private_key(self._private_key)

    @classmethod
    def generate(cls) -> NodeKey:
        """Return a new random node key (see :func:`generate_private_key`)."""
        return cls(generate_private_key())

    @classmethod
    def from_key_file(cls, text: str) -> NodeKey:
        """Parse the content of a Besu ``key`` file (``0x`` + 64 hex digits, newline optional)."""
        return cls(parse_private_key(text))

    @property
    def private_key(self) -> bytes:
        """The 32-byte private key. Handle with care: never log it."""
        return self._private_key

    @property
    def identity(self) -> ValidatorIdentity:
        """The public key and address of this key."""
        return self._identity

    @property
    def public_key(self) -> str:
        """The public key (node ID) as 128 lowercase hex digits."""
        return self._identity.public_key

    @property
    def address(self) -> str:
        """The address as ``0x`` + 40 lowercase hex digits."""
        return self._identity.address

    def to_key_file(self) -> str:
        """Return the private key in Besu's ``key`` file format: ``0x`` + 64 lowercase hex."""
        return "0x" + self._private_key.hex()

    def __repr__(self) -> str:
        return f"NodeKey(address={self.address!r}, private_key={_REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeKey):
            return NotImplemented
        return hmac.compare_digest(self._private_key, other._private_key)

    def __hash__(self) -> int:
        return hash(self.address)
