"""``genesis`` subcommand of the besu-stack CLI: build a genesis file, decode extraData.

The main CLI wires it with :func:`register` and runs ``args.func(args)``; handlers return the
exit code and raise :class:`~besu_stack.besu.errors.UserInputError` (exit code 2) for unusable
input. This module only uses the pure-Python :mod:`besu_stack.besu` package.

Examples::

    besu-stack genesis build validators.pub --protocol qbft --chain-id 381660001
        --host-template 'validator-{slot}.besu.internal' --out-dir build/network
    besu-stack genesis decode-extra-data 0xf87aa0... --protocol qbft
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from besu_stack.besu.bft import max_faulty, quorum
from besu_stack.besu.errors import UserInputError
from besu_stack.besu.extra_data import PROTOCOLS, check_protocol, decode_extra_data
from besu_stack.besu.genesis import (
    GenesisOptions,
    build_genesis,
    genesis_json,
    static_nodes,
)
from besu_stack.besu.keys import DEFAULT_P2P_PORT, ValidatorIdentity, parse_public_key

GENESIS_FILE = "genesis.json"
STATIC_NODES_FILE = "static-nodes.json"
_DEFAULTS = GenesisOptions(chain_id=1)


def _int(text: str) -> int:
    """Parse a decimal or 0x-hex integer for argparse."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _alloc_entry(text: str) -> tuple[str, int]:
    """Parse ``ADDRESS=WEI`` for ``--alloc``."""
    address, sep, balance = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected ADDRESS=WEI, got {text!r}")
    return address.strip(), _int(balance.strip())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``genesis`` command (``build``, ``decode-extra-data``) to ``subparsers``."""
    genesis = subparsers.add_parser(
        "genesis",
        help="build a Besu BFT genesis file and static-nodes.json, or decode extraData",
        description="Build a Besu IBFT 2.0/QBFT genesis file, or decode block extraData.",
    )
    commands = genesis.add_subparsers(dest="genesis_command", metavar="COMMAND", required=True)

    build = commands.add_parser(
        "build",
        help="write genesis.json and static-nodes.json for a set of validator public keys",
        description=(
            "Write genesis.json and static-nodes.json for validators given by their node "
            "public keys. Validators keep the order of the input; slot numbers follow it."
        ),
    )
    build.add_argument(
        "keys_file",
        metavar="KEYS_FILE",
        help=(
            "validator public keys ('-' for stdin): one per line as 128 hex digits "
            "(0x and a leading 04 accepted; '#' starts a comment), or a JSON list of strings"
        ),
    )
    build.add_argument("--protocol", choices=PROTOCOLS, required=True, help="consensus protocol")
    build.add_argument("--chain-id", type=_int, required=True, help="network chain ID")
    build.add_argument(
        "--host-template",
        required=True,
        help="P2P host name of each validator, with {slot} for its slot number "
        "(e.g. validator-{slot}.besu.internal); DNS names need Besu's --Xdns-enabled",
    )
    build.add_argument(
        "--first-slot", type=_int, default=0, help="slot number of the first key (default 0)"
    )
    build.add_argument(
        "--p2p-port", type=_int, default=DEFAULT_P2P_PORT, help="P2P port (default 30303)"
    )
    build.add_argument(
        "--block-period",
        type=_int,
        default=_DEFAULTS.block_period_seconds,
        help=f"blockperiodseconds (default {_DEFAULTS.block_period_seconds})",
    )
    build.add_argument(
        "--request-timeout",
        type=_int,
        default=_DEFAULTS.request_timeout_seconds,
        help=f"requesttimeoutseconds (default {_DEFAULTS.request_timeout_seconds})",
    )
    build.add_argument(
        "--epoch-length",
        type=_int,
        default=_DEFAULTS.epoch_length,
        help=f"epochlength (default {_DEFAULTS.epoch_length})",
    )
    build.add_argument(
        "--empty-block-period",
        type=_int,
        default=None,
        help="QBFT only: seconds between blocks without transactions (default: not set)",
    )
    build.add_argument(
        "--empty-block-period-key",
        choices=("xemptyblockperiodseconds", "emptyblockperiodseconds"),
        default=_DEFAULTS.empty_block_period_key,
        help="genesis key for --empty-block-period: emptyblockperiodseconds needs Besu >= 26.x "
        f"(default {_DEFAULTS.empty_block_period_key})",
    )
    build.add_argument(
        "--gas-limit",
        type=_int,
        default=_DEFAULTS.gas_limit,
        help=f"block gas limit (default {hex(_DEFAULTS.gas_limit)})",
    )
    build.add_argument(
        "--no-zero-base-fee",
        dest="zero_base_fee",
        action="store_false",
        help="charge gas: leave zeroBaseFee out of the genesis",
    )
    build.add_argument(
        "--alloc",
        type=_alloc_entry,
        action="append",
        default=[],
        metavar="ADDRESS=WEI",
        help="pre-fund an account (repeatable)",
    )
    build.add_argument(
        "--out-dir", type=Path, default=Path(), help="output directory (default: current)"
    )
    build.set_defaults(func=cmd_build)

    decode = commands.add_parser(
        "decode-extra-data",
        help="decode IBFT 2.0/QBFT block extraData and print its fields as JSON",
    )
    decode.add_argument("extra_data", metavar="HEX", help="extraData as 0x-prefixed hex")
    decode.add_argument("--protocol", choices=PROTOCOLS, required=True, help="consensus protocol")
    decode.set_defaults(func=cmd_decode_extra_data)


def _read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"cannot read {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"cannot read {source}: not UTF-8 text") from None


def parse_public_keys(text: str, source: str = "input") -> list[bytes]:
    """Parse validator public keys from a JSON list or one-per-line text (``#`` comments).

    Raises :class:`UserInputError` naming the entry (line or list index) that is unusable.
    """
    entries: list[tuple[str, str]] = []
    if text.lstrip().startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{source}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(loaded, list) or not all(isinstance(v, str) for v in loaded):
            raise UserInputError(f"{source}: the JSON must be a list of public key strings")
        entries = [(f"item {i}", value) for i, value in enumerate(loaded)]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            value = line.split("#", 1)[0].strip()
            if value:
                entries.append((f"line {number}", value))
    if not entries:
        raise UserInputError(f"{source}: no validator public keys found")
    keys: list[bytes] = []
    first_seen: dict[bytes, str] = {}
    for where, value in entries:
        try:
            key = parse_public_key(value)
        except ValueError as exc:
            raise UserInputError(f"{source}, {where}: {exc}") from None
        if key in first_seen:
            raise UserInputError(
                f"{source}, {where}: public key already given at {first_seen[key]}"
            )
        first_seen[key] = where
        keys.append(key)
    return keys


def _host(template: str, slot: int) -> str:
    try:
        return template.format(slot=slot)
    except (KeyError, IndexError, ValueError) as exc:
        raise UserInputError(
            f"--host-template {template!r} is invalid: only the {{slot}} placeholder is "
            f"available ({exc!r})"
        ) from None


def _write_atomic(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_build(args: argparse.Namespace) -> int:
    """Handle ``genesis build``: write genesis.json and static-nodes.json; return 0."""
    source = "stdin" if args.keys_file == "-" else str(args.keys_file)
    keys = parse_public_keys(_read_text(args.keys_file), source)
    try:
        protocol = check_protocol(args.protocol)
        identities = [ValidatorIdentity.from_public_key(key) for key in keys]
        if len(dict(args.alloc)) != len(args.alloc):
            raise ValueError("--alloc: an account is given more than once")
        options = GenesisOptions(
            chain_id=args.chain_id,
            block_period_seconds=args.block_period,
            request_timeout_seconds=args.request_timeout,
            epoch_length=args.epoch_length,
            empty_block_period_seconds=args.empty_block_period,
            empty_block_period_key=args.empty_block_period_key,
            gas_limit=args.gas_limit,
            zero_base_fee=args.zero_base_fee,
            alloc=dict(args.alloc),
        )
        genesis = build_genesis(protocol, [i.address for i in identities], options)
        enodes = static_nodes(
            identity.enode(_host(args.host_template, args.first_slot + slot), args.p2p_port)
            for slot, identity in enumerate(identities)
        )
    except UserInputError:
        raise
    except ValueError as exc:
        raise UserInputError(str(exc)) from None

    out_dir: Path = args.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        genesis_path = out_dir / GENESIS_FILE
        nodes_path = out_dir / STATIC_NODES_FILE
        _write_atomic(genesis_path, genesis_json(genesis))
        _write_atomic(nodes_path, json.dumps(enodes, indent=2) + "\n")
    except OSError as exc:
        raise UserInputError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None

    n = len(identities)
    print(f"wrote {genesis_path}")
    print(f"wrote {nodes_path}")
    print(
        f"{protocol}: {n} validator{'s' if n != 1 else ''}, quorum {quorum(n)}, "
        f"tolerates {max_faulty(n)} faulty"
    )
    return 0


def cmd_decode_extra_data(args: argparse.Namespace) -> int:
    """Handle ``genesis decode-extra-data``: print the decoded fields as JSON; return 0."""
    try:
        data = decode_extra_data(check_protocol(args.protocol), args.extra_data)
    except ValueError as exc:
        raise UserInputError(f"cannot decode {args.protocol} extraData: {exc}") from None
    print(json.dumps(data.to_dict(), indent=2, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``genesis`` command on its own (for tests and ``python -m``)."""
    parser = argparse.ArgumentParser(prog="besu-stack")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
