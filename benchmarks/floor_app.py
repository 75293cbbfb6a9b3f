"""The benchmark floor: import the provider modules besu-stack uses, synthesize one resource.

Everything the default synth spends above this process is besu-stack's own cost.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_RE = re.compile(r"^from (cdktf_cdktf_provider_aws\.[a-z0-9_]+) import", re.MULTILINE)


def provider_modules() -> list[str]:
    """Every provider module imported anywhere in besu_stack/."""
    found: set[str] = set()
    for path in (ROOT / "besu_stack").rglob("*.py"):
        found.update(IMPORT_RE.findall(path.read_text(encoding="utf-8")))
    return sorted(found)


def main(outdir: str) -> None:
    from besu_stack.node_runtime import use_project_node

    use_project_node()
    from cdktf import App, TerraformStack

    modules = [importlib.import_module(name) for name in provider_modules()]
    from cdktf_cdktf_provider_aws.kms_key import KmsKey
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    app = App(outdir=outdir, stack_traces=False)
    stack = TerraformStack(app, "floor")
    AwsProvider(stack, "aws", region="eu-west-1")
    KmsKey(stack, "key", enable_key_rotation=True)
    app.synth()
    print(f"floor: {len(modules)} provider modules imported", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
