"""Importing a light part of ``besu_stack.besu`` loads no curve, hash or RLP code.

The health checker's Lambda imports ``besu_stack.besu.bft`` and ``besu_stack.besu.protocol``
only, and its package carries neither coincurve nor pycryptodome: a package ``__init__`` that
imported every part would fail there, and cost every function its imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = [
    "coincurve",
    "Crypto",
    "besu_stack.besu.keys",
    "besu_stack.besu.extra_data",
    "besu_stack.besu.rlp",
]


def _modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def test_bft_and_protocol_load_nothing_heavy() -> None:
    loaded = _modules_after(
        "import besu_stack.besu.bft, besu_stack.besu.protocol\n"
        "from besu_stack.besu import quorum, check_protocol\n"
        "assert quorum(4) == 3 and check_protocol('qbft') == 'qbft'"
    )
    assert not [m for m in HEAVY if m in loaded]


def test_names_of_the_package_still_resolve_on_first_use() -> None:
    import besu_stack.besu as besu

    assert besu.NodeKey.__module__ == "besu_stack.besu.keys"
    assert besu.decode_extra_data.__module__ == "besu_stack.besu.extra_data"
    assert set(besu.__all__) <= set(dir(besu))
    for name in besu.__all__:
        assert getattr(besu, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    import besu_stack.besu as besu

    try:
        besu.not_a_name  # noqa: B018
    except AttributeError as exc:
        assert "not_a_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
