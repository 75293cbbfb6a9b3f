"""Keys, addresses, EIP-55 and enode URLs against published vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from besu_stack.besu.keys import (
    SECP256K1_ORDER,
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

# (private key, address as published) pairs.
PRIVATE_KEY_VECTORS = [
    # eth-account docs/doctests (eth_account/account.py: sign_transaction with this key,
    # recover_transaction returns this address); also used in web3.js docs.
    (
        "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
        "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
    ),
    # Besu docs, QBFT tutorial qbftConfigFile.json alloc (privateKey -> account):
    # besu-eth/besu-docs docs/private-networks/tutorials/qbft.md
    (
        "8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63",
        "fe3b557e8fb62b89f4916b721be55ceb828dbd73",
    ),
    (
        "c87509a1c067bbde78beb793e6fa76530b6382a4c0241e5e4a9ec0a0f44dc0d3",
        "627306090abaB3A6e1400e9345bC60c78a8BEf57",
    ),
    (
        "ae6ae8e5ccbfb04590405997ee2d52d2b330726137b875053c36d94e974d162f",
        "f17f52151EbEF6C7334FAD080c5704D77216b732",
    ),
    # gakonst/ethers-rs ethers-core/src/types/crypto/keys.rs, test key_to_address (keys 1, 2, 3).
    ("00" * 31 + "01", "7E5F4552091A69125d5DfCb7b8C2659029395Bdf"),
    ("00" * 31 + "02", "2B5AD5c4795c026514f8317c7a215E218DcCD6cF"),
    ("00" * 31 + "03", "6813Eb9362372EEF6200f3b1dbC3f819671cBA69"),
    # Foundry Book, cheatcode `addr` example.
    (
        "0x6df21769a2082e03f7e21f6395561279e9a7feb846b2bf740798c794ad196e00",
        "0xdf8Ef652AdE0FA4790843a726164df8cf8649339",
    ),
]

# EIP-55 (ethereum/EIPs EIPS/eip-55.md, "test(...)" lines of the specification).
EIP55_VECTORS = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]

# Besu docs, node keys page, enode URL example (besu-eth/besu-docs
# docs/public-networks/concepts/node-keys.md): public key, host, ports and resulting URLs.
DOCS_NODE_PUBLIC_KEY = (
    "0xc35c3ec90a8a51fd5703594c6303382f3ae6b2ecb9589bab2c04b3794f2bc3fc"
    "2631dabb0c08af795787a6c004d8f532230ae6e9925cbbefb0b28b79295d615f"
)
DOCS_ENODE_WITH_DISCPORT = (
    "enode://c35c3ec90a8a51fd5703594c6303382f3ae6b2ecb9589bab2c04b3794f2bc3fc"
    "2631dabb0c08af795787a6c004d8f532230ae6e9925cbbefb0b28b79295d615f@10.3.58.6:30303?discport=30301"
)
DOCS_ENODE_DNS = (
    "enode://c35c3ec90a8a51fd5703594c6303382f3ae6b2ecb9589bab2c04b3794f2bc3fc"
    "2631dabb0c08af795787a6c004d8f532230ae6e9925cbbefb0b28b79295d615f@mydomain.dev.example.net:30301"
)

private_keys = st.integers(min_value=1, max_value=SECP256K1_ORDER - 1).map(
    lambda k: k.to_bytes(32, "big")
)


@pytest.mark.parametrize(("private_key", "address"), PRIVATE_KEY_VECTORS)
def test_private_key_to_address_vectors(private_key: str, address: str) -> None:
    public_key = public_key_from_private(parse_private_key(private_key))
    assert len(public_key) == 64
    assert address_from_public_key(public_key) == "0x" + address.lower().removeprefix("0x")


MIXED_CASE_ADDRESSES = [
    digits
    for digits in (address.removeprefix("0x") for _, address in PRIVATE_KEY_VECTORS)
    if digits not in (digits.lower(), digits.upper())
]


@pytest.mark.parametrize("digits", MIXED_CASE_ADDRESSES)
def test_checksum_of_published_mixed_case_addresses(digits: str) -> None:
    # Addresses published in EIP-55 mixed case carry their own expected checksum.
    assert to_checksum_address(digits.lower()) == "0x" + digits


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_vectors(address: str) -> None:
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address(address.upper().replace("0X", "0x")) == address
    assert normalize_address(address) == address.lower()


def test_mixed_case_with_bad_checksum_is_rejected() -> None:
    good = EIP55_VECTORS[0]
    bad = good[:-1] + good[-1].swapcase()  # flip the case of the last letter ("d" -> "D")
    with pytest.raises(ValueError, match="checksum"):
        normalize_address(bad)


@pytest.mark.parametrize("bad", ["", "0x", "0x1234", "0x" + "g" * 40, "0x" + "00" * 21])
def test_normalize_address_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="40 hex digits"):
        normalize_address(bad)


def test_keccak256_of_empty_input() -> None:
    # Keccak-256("") as used throughout Ethereum, e.g. the empty code hash in the Yellow Paper.
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_enode_url_docs_examples() -> None:
    assert enode_url(DOCS_NODE_PUBLIC_KEY, "10.3.58.6", 30303, 30301) == DOCS_ENODE_WITH_DISCPORT
    assert enode_url(DOCS_NODE_PUBLIC_KEY, "mydomain.dev.example.net", 30301) == DOCS_ENODE_DNS
    assert validate_enode_url(DOCS_ENODE_WITH_DISCPORT) == DOCS_ENODE_WITH_DISCPORT
    assert validate_enode_url(DOCS_ENODE_DNS) == DOCS_ENODE_DNS


def test_enode_url_forms() -> None:
    key = parse_public_key(DOCS_NODE_PUBLIC_KEY)
    base = f"enode://{key.hex()}@"
    assert enode_url(key, "10.0.0.1") == base + "10.0.0.1:30303"
    assert enode_url(b"\x04" + key, "10.0.0.1", 30303, 30303) == base + "10.0.0.1:30303"
    assert enode_url(key, "::1", 30304) == base + "[::1]:30304"
    assert enode_url(key, "[2001:db8::1]") == base + "[2001:db8::1]:30303"
    assert enode_url(key, "Validator-0.Besu.Internal") == base + "validator-0.besu.internal:30303"


@pytest.mark.parametrize(
    ("host", "port", "discport", "message"),
    [
        ("", 30303, None, "host"),
        (" 10.0.0.1", 30303, None, "host"),
        ("bad_host.example", 30303, None, "DNS name"),
        ("-bad.example", 30303, None, "DNS name"),
        ("a" * 64 + ".example", 30303, None, "DNS name"),
        ("999.1.1.1", 30303, None, "DNS name"),
        ("10.0.0.1", 0, None, "port"),
        ("10.0.0.1", 65536, None, "port"),
        ("10.0.0.1", True, None, "port"),
        ("10.0.0.1", 30303, 70000, "discport"),
    ],
)
def test_enode_url_rejects_bad_host_or_port(
    host: str, port: int, discport: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        enode_url(DOCS_NODE_PUBLIC_KEY, host, port, discport)


@pytest.mark.parametrize(
    "url",
    [
        "enode://abc@10.0.0.1:30303",
        DOCS_ENODE_DNS.replace("enode://", "enr://"),
        DOCS_ENODE_DNS.replace(":30301", ""),
        DOCS_ENODE_DNS.replace("c35c", "0000"),  # not a point on the curve
    ],
)
def test_validate_enode_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        validate_enode_url(url)


def test_parse_public_key_formats() -> None:
    key = parse_public_key(DOCS_NODE_PUBLIC_KEY)
    digits = DOCS_NODE_PUBLIC_KEY.removeprefix("0x")
    assert key.hex() == digits
    assert parse_public_key(digits) == key
    assert parse_public_key("04" + digits) == key
    assert parse_public_key("0x04" + digits.upper() + "\n") == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0x1234", "64 bytes"),
        ("zz" * 64, "hexadecimal"),
        ("00" * 64, "not a point"),
        ("05" + "11" * 64, "64 bytes"),
        ("11" * 32, "private key"),
    ],
)
def test_parse_public_key_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_public_key(text)


SECRET = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def test_parse_private_key_accepts_besu_key_file_format() -> None:
    # Besu writes the key file as 0x + 64 hex digits; a trailing newline must be accepted.
    assert parse_private_key("0x" + SECRET + "\n") == bytes.fromhex(SECRET)
    assert parse_private_key(SECRET.upper()) == bytes.fromhex(SECRET)


@pytest.mark.parametrize(
    "text",
    [
        SECRET[:-1],
        SECRET + "00",
        SECRET[:-2] + "zz",
        "00" * 32,
        f"{SECP256K1_ORDER:064x}",
        f"{SECP256K1_ORDER + 1:064x}",
    ],
)
def test_parse_private_key_errors_never_echo_the_key(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_private_key(text)
    message = str(info.value)
    assert "value not shown" in message
    assert text not in message
    assert text[:16] not in message


def test_public_key_from_private_rejects_bad_scalars() -> None:
    for bad in (b"", bytes(32), SECP256K1_ORDER.to_bytes(32, "big"), b"\x01" * 33):
        with pytest.raises(ValueError, match="private key"):
            public_key_from_private(bad)


def test_node_key_never_shows_the_private_key() -> None:
    node_key = NodeKey.from_key_file("0x" + SECRET + "\n")
    for text in (repr(node_key), str(node_key), f"{node_key}", repr([node_key])):
        assert SECRET not in text
        assert SECRET[:12] not in text
        assert "redacted" in text
    assert node_key.address == "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    assert node_key.to_key_file() == "0x" + SECRET
    assert node_key == NodeKey(bytes.fromhex(SECRET))
    assert node_key != NodeKey(bytes(31) + b"\x01")


def test_validator_identity() -> None:
    private_key, address = PRIVATE_KEY_VECTORS[0]
    identity = ValidatorIdentity.from_private_key(parse_private_key(private_key))
    assert identity.address == address.lower()
    assert identity.checksum_address == address
    assert len(identity.public_key) == 128
    assert identity.public_key == identity.public_key.lower()
    assert ValidatorIdentity.from_public_key("0x04" + identity.public_key) == identity
    assert ValidatorIdentity(identity.public_key.upper(), address) == identity
    assert identity.enode("10.0.0.1", 30304) == f"enode://{identity.public_key}@10.0.0.1:30304"
    with pytest.raises(ValueError, match="does not belong"):
        ValidatorIdentity(identity.public_key, EIP55_VECTORS[0])


def test_generate_private_key_is_valid_and_fresh() -> None:
    keys = {generate_private_key() for _ in range(8)}
    assert len(keys) == 8
    for key in keys:
        assert len(key) == 32
        assert 0 < int.from_bytes(key, "big") < SECP256K1_ORDER
    assert NodeKey.generate() != NodeKey.generate()


@settings(max_examples=50, database=None, deadline=None)
@given(private_keys)
def test_address_shape_and_checksum_roundtrip(private_key: bytes) -> None:
    address = address_from_public_key(public_key_from_private(private_key))
    assert len(address) == 42
    assert address.startswith("0x")
    assert address == address.lower()
    int(address, 16)
    checksummed = to_checksum_address(address)
    assert checksummed.lower() == address
    assert normalize_address(checksummed) == address
    identity = ValidatorIdentity.from_private_key(private_key)
    assert identity.address == address
