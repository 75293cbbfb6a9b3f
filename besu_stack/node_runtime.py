"""Choosing the Node.js that runs the jsii kernel behind cdktf.

jsii runs the constructs in a Node.js child process. The machine's Node may be end-of-life
(jsii then prints a large warning on every synth); ``make setup`` installs a supported Node (22
LTS, from the npm registry) under ``.tools/node`` in the repository. This module points jsii at
it (``JSII_NODE``) unless the user already chose a Node explicitly.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

PROJECT_NODE = Path(__file__).resolve().parent.parent / ".tools" / "node" / "bin" / "node"


def use_project_node(
    environ: MutableMapping[str, str] | None = None, node: Path = PROJECT_NODE
) -> str | None:
    """Set ``JSII_NODE`` to the project's Node when it is installed and none was chosen.

    Returns the Node path jsii will use when this function chose it, else None. Must run before
    the first ``cdktf`` import starts the jsii kernel.
    """
    env = os.environ if environ is None else environ
    # jsii's bundled code calls util.isArray, which Node 22 reports as deprecated on every
    # synth; the warning is about jsii's internals and says nothing actionable to the user.
    env.setdefault("NODE_OPTIONS", "--no-deprecation")
    if env.get("JSII_NODE"):
        return None
    if node.is_file() and os.access(node, os.X_OK):
        env["JSII_NODE"] = str(node)
        return str(node)
    return None
