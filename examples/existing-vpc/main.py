"""The network in a VPC you already have: no VPC, subnets or route tables are created.

Synthesize with ``python examples/existing-vpc/main.py``, then set ``existing_vpc_id`` and
``existing_subnet_ids`` (at least three private subnets in different AZs, each with its own
route table) in ``terraform.tfvars`` next to the synthesized stack.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cdktf import App

from besu_stack.settings import Settings
from besu_stack.stacks.network_stack import BesuNetworkStack

SETTINGS = Settings(network_name="shared-vpc", vpc_mode="existing")


def build(outdir: str | Path) -> App:
    """The app: one network stack in existing-VPC mode."""
    app = App(outdir=str(outdir), stack_traces=False)
    BesuNetworkStack(app, SETTINGS.network_name, settings=SETTINGS)
    return app


if __name__ == "__main__":
    build(Path(__file__).parent / "cdktf.out").synth()
    sys.exit(0)
