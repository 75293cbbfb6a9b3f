"""QBFT with 7 validators (f = 2: two may fail, rolling changes move two at a time) and TLS.

TLS on the RPC listener is a plan-time choice: see ``terraform.tfvars`` (``rpc_certificate_arn``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cdktf import App

from besu_stack.settings import Settings
from besu_stack.stacks.network_stack import BesuNetworkStack

SETTINGS = Settings(network_name="qbft7", consensus="qbft", validator_count=7)


def build(outdir: str | Path) -> App:
    """The app: a QBFT network of seven validators."""
    app = App(outdir=str(outdir), stack_traces=False)
    BesuNetworkStack(app, SETTINGS.network_name, settings=SETTINGS)
    return app


if __name__ == "__main__":
    build(Path(__file__).parent / "cdktf.out").synth()
    sys.exit(0)
