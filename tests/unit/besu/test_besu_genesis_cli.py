"""The ``genesis`` CLI subcommand, run through its own argparse wiring."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from besu_stack.besu import NodeKey, UserInputError, decode_extra_data
from besu_stack.genesis_cli import main, parse_public_keys, register

KEYS = [NodeKey(bytes(31) + bytes([i])) for i in range(1, 5)]

# QBFT docs genesis extraData (besu-eth/besu-docs .../consensus/qbft.md).
DOCS_QBFT_EXTRA_DATA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b"
    "7297a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5"
    "b6b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0"
)


def _build_args(keys_file: Path, out_dir: Path, *extra: str) -> list[str]:
    return [
        "genesis",
        "build",
        str(keys_file),
        "--protocol",
        "qbft",
        "--chain-id",
        "381660001",
        "--host-template",
        "validator-{slot}.besu.internal",
        "--out-dir",
        str(out_dir),
        *extra,
    ]


def test_build_writes_genesis_and_static_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys_file = tmp_path / "validators.pub"
    lines = ["# validator public keys", ""]
    lines += [f"0x{k.public_key}  # slot {i}" for i, k in enumerate(KEYS)]
    keys_file.write_text("\n".join(lines) + "\n")
    out_dir = tmp_path / "out" / "network"

    assert main(_build_args(keys_file, out_dir, "--p2p-port", "30304")) == 0

    stdout = capsys.readouterr().out
    assert str(out_dir / "genesis.json") in stdout
    assert str(out_dir / "static-nodes.json") in stdout
    genesis = json.loads((out_dir / "genesis.json").read_text())
    assert genesis["config"]["chainId"] == 381660001
    assert "qbft" in genesis["config"]
    decoded = decode_extra_data("qbft", genesis["extraData"])
    assert decoded.validators == tuple(k.address for k in KEYS)
    nodes = json.loads((out_dir / "static-nodes.json").read_text())
    assert nodes == [
        f"enode://{k.public_key}@validator-{i}.besu.internal:30304" for i, k in enumerate(KEYS)
    ]


def test_build_is_deterministic_and_accepts_json(tmp_path: Path) -> None:
    text_file = tmp_path / "keys.txt"
    text_file.write_text("\n".join(k.public_key for k in KEYS))
    json_file = tmp_path / "keys.json"
    json_file.write_text(json.dumps(["04" + k.public_key for k in KEYS]))
    assert main(_build_args(text_file, tmp_path / "a")) == 0
    assert main(_build_args(json_file, tmp_path / "b")) == 0
    for name in ("genesis.json", "static-nodes.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_decode_extra_data_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["genesis", "decode-extra-data", DOCS_QBFT_EXTRA_DATA, "--protocol", "qbft"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert fields["validators"] == [
        "0x64a702e6263b7297a96638cac6ae65e6541f4169",
        "0x3923390ad55e90c237593b3b0e401f3b08a03185",
        "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
        "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
    ]
    assert fields["vote"] is None
    assert fields["round"] == 0
    assert fields["seals"] == []
    assert fields["vanity"] == "0x" + "00" * 32


SECRET = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no validator public keys"),
        ("# only a comment\n", "no validator public keys"),
        ("0x1234\n", "line 1"),
        (f"{KEYS[0].public_key}\n{KEYS[0].public_key}\n", "line 2: public key already given"),
        ("[1, 2]", "list of public key strings"),
        ("[", "invalid JSON"),
        (f"0x{SECRET}\n", "private key"),
    ],
)
def test_bad_key_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(content)
    assert main(_build_args(keys_file, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert SECRET not in err
    assert not (tmp_path / "out").exists()


def test_missing_file_and_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_build_args(tmp_path / "missing.txt", tmp_path / "out")) == 2
    assert "cannot read" in capsys.readouterr().err
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(k.public_key for k in KEYS))
    bad_runs = [
        (["--host-template", "v-{name}"], "{slot}"),
        (["--host-template", "bad_host_{slot}"], "DNS name"),
        (["--block-period", "0"], "block_period_seconds"),
        (["--empty-block-period", "1"], "empty_block_period_seconds"),
        (["--alloc", f"0x{'11' * 20}=1", "--alloc", f"0x{'11' * 20}=2"], "more than once"),
        (["--alloc", "0x1234=1"], "alloc"),
    ]
    for extra, message in bad_runs:
        assert main(_build_args(keys_file, tmp_path / "out", *extra)) == 2
        assert message in capsys.readouterr().err
    assert main(["genesis", "decode-extra-data", "0xzz", "--protocol", "ibft2"]) == 2
    assert "cannot decode ibft2 extraData" in capsys.readouterr().err


def test_handlers_raise_user_input_error_for_the_main_cli(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["genesis", "decode-extra-data", "0x80", "--protocol", "qbft"])
    with pytest.raises(UserInputError) as info:
        args.func(args)
    assert isinstance(info.value, ValueError)
    assert info.value.exit_code == 2


def test_argparse_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["genesis"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["genesis", "build", "keys.txt", "--protocol", "clique"])
    assert info.value.code == 2


def test_parse_public_keys_reports_item_index() -> None:
    with pytest.raises(UserInputError, match="item 1"):
        parse_public_keys(json.dumps([KEYS[0].public_key, "nope"]), "keys.json")
