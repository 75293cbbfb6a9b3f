"""CDKTF app entry point (``cdktf.json``: ``"app": "python main.py"``).

Synthesizes the network described by the settings (``besu-stack.toml`` and ``BESU_STACK_*``
environment variables; all optional) into ``cdktf.out/``. Same as ``besu-stack synth``.
"""

import sys

from besu_stack.cli import main

if __name__ == "__main__":
    sys.exit(main(["synth"]))
