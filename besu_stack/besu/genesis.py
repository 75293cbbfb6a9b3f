"""Besu genesis files and static-nodes lists for IBFT 2.0 and QBFT networks.

Sources for the shape and the defaults (Besu documentation, besu-eth/besu-docs):

* QBFT genesis: ``docs/private-networks/how-to/configure/consensus/qbft.md``
* IBFT 2.0 genesis: ``docs/private-networks/how-to/configure/consensus/ibft.md``
* genesis items and milestones: ``docs/public-networks/reference/genesis-items.md``
* free gas: ``docs/private-networks/how-to/configure/free-gas.md``
* QBFT tutorial (``qbftConfigFile.json``): ``docs/private-networks/tutorials/qbft.md``

and Besu's source (besu-eth/besu): ``config/.../JsonBftConfigOptions.java`` for the BFT option
names and their parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from besu_stack.besu.extra_data import Protocol, check_protocol, genesis_extra_data
from besu_stack.besu.keys import normalize_address, validate_enode_url

BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
"""Fixed ``mixHash`` identifying BFT blocks (Besu ``BftHelpers.EXPECTED_MIX_HASH``)."""

ZERO_ADDRESS = "0x" + "00" * 20

MAX_JAVA_INT = 2**31 - 1
MAX_JAVA_LONG = 2**63 - 1
MIN_GAS_LIMIT = 5000
"""Block gas limit range Besu's BFT header validation accepts: the
``BftBlockHeaderValidationRulesetFactory``/``IbftBlockHeaderValidationRulesetFactory`` rule
``new GasLimitRangeAndDeltaValidationRule(5000, 0x7fffffffffffffffL)``."""
MAX_CONTRACT_SIZE_LIMIT = 2147483647
"""Maximum ``contractSizeLimit`` (genesis-items.md: "the maximum size is 2147483647")."""

EmptyBlockPeriodKey = Literal["xemptyblockperiodseconds", "emptyblockperiodseconds"]


def _whole(name: str, value: object, low: int, high: int, allowed: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"{name} must be {allowed or f'a whole number from {low} to {high}'}, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class GenesisOptions:
    """Network parameters written into the genesis file.

    Every field is validated on construction; a :class:`ValueError` names the field, the value
    and what is allowed.
    """

    chain_id: int
    """Network chain ID (EIP-155). No default: pick one not used by another network."""

    block_period_seconds: int = 2
    """``blockperiodseconds``: minimum block time. 2 as in the docs' QBFT tutorial and IBFT 2.0
    genesis example; Besu requires a positive integer (``JsonUtil.getPositiveInt``)."""

    request_timeout_seconds: int = 4
    """``requesttimeoutseconds``: round timeout before a round change. The docs' "Tune block
    timeout" advice starts at twice ``blockperiodseconds``; 4 as in the QBFT tutorial."""

    epoch_length: int = 30000
    """``epochlength``: blocks after which pending votes are reset (Besu's default, used in every
    docs example). Do not change it on a running network (docs caution)."""

    empty_block_period_seconds: int | None = None
    """QBFT only: minimum time between blocks without transactions. ``None`` omits it; Besu's
    default 0 keeps every block at ``blockperiodseconds``. Must be >= ``blockperiodseconds``."""

    empty_block_period_key: EmptyBlockPeriodKey = "xemptyblockperiodseconds"
    """Genesis key for the empty block period. Besu 24.10 (PR #6965) introduced the experimental
    ``xemptyblockperiodseconds``; Besu 26.x (PR #10264, April 2026) renamed it
    ``emptyblockperiodseconds`` and still reads the old key with a deprecation warning. The
    default works on both (this project pins Besu 25.11); switch once all nodes run >= 26.x."""

    gas_limit: int = 0x29B92700
    """Block gas limit (700,000,000), the value of the docs' QBFT genesis example."""

    zero_base_fee: bool = True
    """``zeroBaseFee``: free gas network. From London on Besu needs it for free gas
    (free-gas.md, step 4); nodes must also run with ``--min-gas-price=0``."""

    contract_size_limit: int | None = None
    """``contractSizeLimit`` in bytes; ``None`` keeps Besu's default 24576. Free-gas networks
    may raise it up to 2147483647 (genesis-items.md)."""

    london_block: int = 0
    """``londonBlock``. genesis-items.md recommends the latest milestone; the block-numbered
    milestone set here implies the earlier ones (Berlin and before) and EIP-1559."""

    shanghai_time: int | None = None
    """``shanghaiTime`` (unix seconds) or ``None``. Off by default: time-based milestones on BFT
    chains have had open bugs (besu-eth/besu#9681, #11005: Shanghai and later made QBFT use the
    5 s proof-of-stake transaction-selection timeout); enable after testing your Besu version."""

    cancun_time: int | None = None
    """``cancunTime`` (unix seconds) or ``None``; requires ``shanghai_time`` <= it. Prague and
    later are not offered: they need system contracts predeployed in ``alloc``."""

    alloc: Mapping[str, int] = field(default_factory=dict, hash=False)
    """Pre-funded accounts: address -> balance in wei."""

    def __post_init__(self) -> None:
        _whole("chain_id", self.chain_id, 1, 2**256 - 1, "a positive whole number")
        _whole("block_period_seconds", self.block_period_seconds, 1, MAX_JAVA_INT)
        _whole("request_timeout_seconds", self.request_timeout_seconds, 1, MAX_JAVA_INT)
        _whole("epoch_length", self.epoch_length, 1, MAX_JAVA_LONG)
        if self.empty_block_period_seconds is not None:
            _whole(
                "empty_block_period_seconds",
                self.empty_block_period_seconds,
                self.block_period_seconds,
                MAX_JAVA_INT,
                f"None or a whole number from block_period_seconds "
                f"({self.block_period_seconds}) to {MAX_JAVA_INT}",
            )
        if self.empty_block_period_key not in (
            "xemptyblockperiodseconds",
            "emptyblockperiodseconds",
        ):
            raise ValueError(
                "empty_block_period_key must be 'xemptyblockperiodseconds' or "
                f"'emptyblockperiodseconds', got {self.empty_block_period_key!r}"
            )
        _whole("gas_limit", self.gas_limit, MIN_GAS_LIMIT, MAX_JAVA_LONG)
        if not isinstance(self.zero_base_fee, bool):
            raise ValueError(f"zero_base_fee must be True or False, got {self.zero_base_fee!r}")
        if self.contract_size_limit is not None:
            _whole("contract_size_limit", self.contract_size_limit, 1, MAX_CONTRACT_SIZE_LIMIT)
        _whole("london_block", self.london_block, 0, MAX_JAVA_LONG)
        if self.shanghai_time is not None:
            _whole("shanghai_time", self.shanghai_time, 0, MAX_JAVA_LONG)
        if self.cancun_time is not None:
            if self.shanghai_time is None:
                raise ValueError(
                    "cancun_time requires shanghai_time, as Cancun cannot activate before "
                    f"Shanghai; got cancun_time={self.cancun_time}, shanghai_time=None"
                )
            _whole(
                "cancun_time",
                self.cancun_time,
                self.shanghai_time,
                MAX_JAVA_LONG,
                f"None or a unix time from shanghai_time ({self.shanghai_time}) on",
            )
        alloc: dict[str, int] = {}
        for address, balance in dict(self.alloc).items():
            try:
                key = normalize_address(address)
            except ValueError as exc:
                raise ValueError(f"alloc: {exc}") from None
            if key in alloc:
                raise ValueError(f"alloc: account {key} is listed more than once")
            alloc[key] = _whole(f"alloc[{key}] balance", balance, 0, 2**256 - 1)
        object.__setattr__(self, "alloc", MappingProxyType(alloc))


def _distinct_validators(validator_addresses: Iterable[str]) -> list[str]:
    validators = [normalize_address(a) for a in validator_addresses]
    if not validators:
        raise ValueError("at least one validator address is required")
    seen: set[str] = set()
    for address in validators:
        if address in seen:
            raise ValueError(f"validator {address} is listed more than once")
        seen.add(address)
    return validators


def build_genesis(
    protocol: Protocol, validator_addresses: Iterable[str], options: GenesisOptions
) -> dict[str, Any]:
    """Return a Besu genesis document (as a dict) for ``protocol`` with these validators.

    Validators keep the order given (as ``besu operator generate-blockchain-config`` does; Besu
    sorts the set itself from block 1 on). The block fields use the values the Besu docs give
    for BFT networks: ``nonce`` 0x0, ``timestamp`` 0x0 (genesis-items.md), ``difficulty`` 0x1,
    the BFT ``mixHash``, a zero ``coinbase`` and ``extraData`` with the validators.
    """
    proto = check_protocol(protocol)
    validators = _distinct_validators(validator_addresses)
    if proto == "ibft2" and options.empty_block_period_seconds is not None:
        raise ValueError(
            "empty_block_period_seconds is a QBFT option; leave it unset for ibft2, got "
            f"{options.empty_block_period_seconds}"
        )
    bft: dict[str, Any] = {
        "blockperiodseconds": options.block_period_seconds,
        "epochlength": options.epoch_length,
        "requesttimeoutseconds": options.request_timeout_seconds,
    }
    if options.empty_block_period_seconds is not None:
        bft[options.empty_block_period_key] = options.empty_block_period_seconds
    config: dict[str, Any] = {"chainId": options.chain_id, "londonBlock": options.london_block}
    if options.shanghai_time is not None:
        config["shanghaiTime"] = options.shanghai_time
    if options.cancun_time is not None:
        config["cancunTime"] = options.cancun_time
    if options.zero_base_fee:
        config["zeroBaseFee"] = True
    if options.contract_size_limit is not None:
        config["contractSizeLimit"] = options.contract_size_limit
    config[proto] = bft
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(options.gas_limit),
        "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH,
        "coinbase": ZERO_ADDRESS,
        "extraData": genesis_extra_data(proto, validators),
        "alloc": {
            address[2:]: {"balance": hex(balance)} for address, balance in options.alloc.items()
        },
    }


def static_nodes(enodes: Iterable[str]) -> list[str]:
    """Return the content of Besu's ``static-nodes.json``: the validated enode URLs, in order.

    Each URL is checked (node ID on the curve, host, ports) and normalized; a node ID listed
    twice is rejected.
    """
    result: list[str] = []
    seen: set[str] = set()
    for url in enodes:
        normalized = validate_enode_url(url)
        node_id = normalized[len("enode://") : normalized.index("@")]
        if node_id in seen:
            raise ValueError(f"node {node_id[:16]}... appears more than once in the enode list")
        seen.add(node_id)
        result.append(normalized)
    return result


def genesis_json(genesis: Mapping[str, Any]) -> str:
    """Serialize a genesis document deterministically: sorted keys, 2-space indent, newline."""
    return json.dumps(genesis, indent=2, sort_keys=True) + "\n"
