"""Genesis documents, static nodes and BFT arithmetic."""

from __future__ import annotations

import json
from fractions import Fraction
from math import ceil

import pytest

from besu_stack.besu import (
    BFT_MIX_HASH,
    GenesisOptions,
    build_genesis,
    decode_extra_data,
    genesis_json,
    max_faulty,
    quorum,
    static_nodes,
)

# Validators of the QBFT genesis example in the Besu docs (besu-eth/besu-docs
# docs/private-networks/how-to/configure/consensus/qbft.md) and its extraData.
DOCS_VALIDATORS = [
    "0x64a702e6263b7297a96638cac6ae65e6541f4169",
    "0x3923390ad55e90c237593b3b0e401f3b08a03185",
    "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
DOCS_QBFT_EXTRA_DATA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b"
    "7297a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5"
    "b6b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0"
)

# Besu docs node-keys.md enode example (public key, host 10.3.58.6, ports 30303/30301).
DOCS_ENODE = (
    "enode://c35c3ec90a8a51fd5703594c6303382f3ae6b2ecb9589bab2c04b3794f2bc3fc"
    "2631dabb0c08af795787a6c004d8f532230ae6e9925cbbefb0b28b79295d615f@10.3.58.6:30303?discport=30301"
)


def test_qbft_genesis_shape_matches_docs() -> None:
    genesis = build_genesis("qbft", DOCS_VALIDATORS, GenesisOptions(chain_id=1337))
    # Constant BFT fields, as listed under "properties with specific values" in the docs.
    assert genesis["difficulty"] == "0x1"
    assert genesis["mixHash"] == BFT_MIX_HASH
    assert BFT_MIX_HASH == "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
    assert genesis["nonce"] == "0x0"
    assert genesis["coinbase"] == "0x" + "00" * 20
    assert genesis["extraData"] == DOCS_QBFT_EXTRA_DATA
    assert genesis["gasLimit"] == "0x29b92700"
    assert genesis["alloc"] == {}
    config = genesis["config"]
    assert config["chainId"] == 1337
    assert config["londonBlock"] == 0
    assert config["zeroBaseFee"] is True
    assert config["qbft"] == {
        "blockperiodseconds": 2,
        "epochlength": 30000,
        "requesttimeoutseconds": 4,
    }
    assert "ibft2" not in config
    assert "shanghaiTime" not in config


def test_ibft2_genesis_uses_ibft2_block_and_layout() -> None:
    genesis = build_genesis("ibft2", DOCS_VALIDATORS[:1], GenesisOptions(chain_id=2018))
    assert "qbft" not in genesis["config"]
    assert genesis["config"]["ibft2"]["blockperiodseconds"] == 2
    decoded = decode_extra_data("ibft2", genesis["extraData"])
    assert decoded.validators == tuple(DOCS_VALIDATORS[:1])


def test_options_are_written() -> None:
    options = GenesisOptions(
        chain_id=381660001,
        block_period_seconds=5,
        request_timeout_seconds=10,
        epoch_length=100,
        empty_block_period_seconds=60,
        gas_limit=0x1FFFFFFFFFFFFF,
        zero_base_fee=False,
        contract_size_limit=2147483647,
        london_block=0,
        shanghai_time=0,
        cancun_time=1_800_000_000,
        alloc={
            "0x627306090abaB3A6e1400e9345bC60c78a8BEf57": 10**18,
            "fe3b557e8fb62b89f4916b721be55ceb828dbd73": 0,
        },
    )
    genesis = build_genesis("qbft", DOCS_VALIDATORS, options)
    config = genesis["config"]
    assert config["qbft"] == {
        "blockperiodseconds": 5,
        "epochlength": 100,
        "requesttimeoutseconds": 10,
        "xemptyblockperiodseconds": 60,
    }
    assert "zeroBaseFee" not in config
    assert config["contractSizeLimit"] == 2147483647
    assert config["shanghaiTime"] == 0
    assert config["cancunTime"] == 1_800_000_000
    assert genesis["gasLimit"] == "0x1fffffffffffff"
    assert genesis["alloc"] == {
        "627306090abab3a6e1400e9345bc60c78a8bef57": {"balance": "0xde0b6b3a7640000"},
        "fe3b557e8fb62b89f4916b721be55ceb828dbd73": {"balance": "0x0"},
    }
    renamed = GenesisOptions(
        chain_id=1, empty_block_period_seconds=30, empty_block_period_key="emptyblockperiodseconds"
    )
    assert (
        build_genesis("qbft", DOCS_VALIDATORS, renamed)["config"]["qbft"]["emptyblockperiodseconds"]
        == 30
    )


def test_empty_block_period_is_qbft_only() -> None:
    options = GenesisOptions(chain_id=1, empty_block_period_seconds=60)
    with pytest.raises(ValueError, match="QBFT option"):
        build_genesis("ibft2", DOCS_VALIDATORS, options)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"chain_id": 0}, "chain_id"),
        ({"chain_id": True}, "chain_id"),
        ({"chain_id": 1, "block_period_seconds": 0}, "block_period_seconds"),
        ({"chain_id": 1, "request_timeout_seconds": 0}, "request_timeout_seconds"),
        ({"chain_id": 1, "epoch_length": 0}, "epoch_length"),
        ({"chain_id": 1, "empty_block_period_seconds": 1}, "empty_block_period_seconds"),
        ({"chain_id": 1, "empty_block_period_key": "emptyblockperiod"}, "empty_block_period_key"),
        ({"chain_id": 1, "gas_limit": 4999}, "gas_limit"),
        ({"chain_id": 1, "gas_limit": 2**63}, "gas_limit"),
        ({"chain_id": 1, "zero_base_fee": 1}, "zero_base_fee"),
        ({"chain_id": 1, "contract_size_limit": 2**31}, "contract_size_limit"),
        ({"chain_id": 1, "london_block": -1}, "london_block"),
        ({"chain_id": 1, "cancun_time": 5}, "cancun_time"),
        ({"chain_id": 1, "shanghai_time": 10, "cancun_time": 5}, "cancun_time"),
        ({"chain_id": 1, "alloc": {"0x1234": 1}}, "alloc"),
        ({"chain_id": 1, "alloc": {"0x" + "11" * 20: -1}}, "alloc"),
        ({"chain_id": 1, "alloc": {"0x" + "aa" * 20: 1, "0x" + "AA" * 20: 2}}, "more than once"),
    ],
)
def test_options_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        GenesisOptions(**kwargs)  # type: ignore[arg-type]
    assert "got" in str(info.value) or "more than once" in str(info.value)


def test_validators_are_required_and_distinct() -> None:
    options = GenesisOptions(chain_id=1)
    with pytest.raises(ValueError, match="at least one"):
        build_genesis("qbft", [], options)
    with pytest.raises(ValueError, match="more than once"):
        build_genesis("qbft", [DOCS_VALIDATORS[0], DOCS_VALIDATORS[0].upper()[2:]], options)
    with pytest.raises(ValueError, match="protocol"):
        build_genesis("clique", DOCS_VALIDATORS, options)  # type: ignore[arg-type]


def test_genesis_json_is_deterministic() -> None:
    genesis = build_genesis("qbft", DOCS_VALIDATORS, GenesisOptions(chain_id=1337))
    text = genesis_json(genesis)
    assert text.endswith("}\n")
    assert json.loads(text) == genesis
    assert text == genesis_json(json.loads(text))
    assert text == json.dumps(genesis, indent=2, sort_keys=True) + "\n"
    assert text.index('"alloc"') < text.index('"coinbase"') < text.index('"config"')
    assert '\n  "config": {\n    "chainId": 1337,' in text


def test_static_nodes() -> None:
    other = DOCS_ENODE.replace("10.3.58.6:30303?discport=30301", "10.3.58.7:30303")
    assert static_nodes([DOCS_ENODE]) == [DOCS_ENODE]
    # Same node ID twice (even at another host) is rejected.
    with pytest.raises(ValueError, match="more than once"):
        static_nodes([DOCS_ENODE, other])
    with pytest.raises(ValueError, match="enode"):
        static_nodes(["enode://1234@10.0.0.1:30303"])
    assert static_nodes([]) == []


@pytest.mark.parametrize("f", range(11))
def test_bft_sizes_for_3f_plus_1(f: int) -> None:
    # n = 3f + 1 validators tolerate f faulty ones and need a 2f + 1 quorum.
    n = 3 * f + 1
    assert max_faulty(n) == f
    assert quorum(n) == 2 * f + 1


@pytest.mark.parametrize("n", range(1, 40))
def test_quorum_is_ceil_two_thirds(n: int) -> None:
    # BftHelpers.calculateRequiredValidatorQuorum: Util.fastDivCeiling(2 * n, 3).
    assert quorum(n) == ceil(Fraction(2 * n, 3))
    assert max_faulty(n) == (n - 1) // 3
    # A quorum always survives losing the tolerated validators.
    assert n - max_faulty(n) >= quorum(n)


@pytest.mark.parametrize("bad", [0, -1, True])
def test_bft_sizes_reject_bad_counts(bad: int) -> None:
    with pytest.raises(ValueError, match="validator count"):
        quorum(bad)
    with pytest.raises(ValueError, match="validator count"):
        max_faulty(bad)
