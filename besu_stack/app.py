"""Building and synthesizing the cdktf app for one or more networks."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cdktf import App

from besu_stack.settings import Settings
from besu_stack.stacks.network_stack import BesuNetworkStack
from besu_stack.stacks.state_bootstrap_stack import StateBootstrapStack


def state_stack_name(settings: Settings) -> str:
    """Name of the state-bootstrap stack of a network."""
    return f"{settings.network_name}-state"


def build_app(networks: Sequence[Settings], *, outdir: str | Path = "cdktf.out") -> App:
    """An ``App`` with a network stack and a state-bootstrap stack for each network."""
    names = [s.network_name for s in networks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"two networks share the network_name {duplicates[0]!r}; names must differ"
        )
    app = App(outdir=str(outdir), stack_traces=False)
    for settings in networks:
        BesuNetworkStack(app, settings.network_name, settings=settings)
        StateBootstrapStack(app, state_stack_name(settings), settings=settings)
    return app


def build_module_app(
    networks: Sequence[Settings], *, names: Sequence[str], outdir: str | Path
) -> App:
    """An ``App`` with one backend-less network stack per module (see :mod:`besu_stack.modules`)."""
    app = App(outdir=str(outdir), stack_traces=False)
    for settings, name in zip(networks, names, strict=True):
        BesuNetworkStack(app, name, settings=settings, with_backend=False)
    return app


@dataclass(frozen=True)
class StackSummary:
    """What one synthesized stack contains."""

    name: str
    path: Path
    resources: dict[str, int]
    data_sources: dict[str, int]
    variables: list[str]
    outputs: list[str]

    @property
    def resource_count(self) -> int:
        """Total number of resources in the stack."""
        return sum(self.resources.values())


def summarize(outdir: str | Path) -> list[StackSummary]:
    """Read a synthesized ``cdktf.out`` tree and summarize each stack (sorted by name)."""
    root = Path(outdir)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    summaries = []
    for name, stack in sorted(manifest["stacks"].items()):
        path = root / stack["synthesizedStackPath"]
        config = json.loads(path.read_text(encoding="utf-8"))
        summaries.append(
            StackSummary(
                name=name,
                path=path,
                resources=_count(config.get("resource", {})),
                data_sources=_count(config.get("data", {})),
                variables=sorted(config.get("variable", {})),
                outputs=sorted(config.get("output", {})),
            )
        )
    return summaries


def _count(block: dict[str, dict[str, object]]) -> dict[str, int]:
    return dict(sorted(Counter({kind: len(items) for kind, items in block.items()}).items()))


def format_summary(summaries: Sequence[StackSummary], outdir: str | Path) -> str:
    """Human-readable synthesis summary: stacks, resources by type, variables, output path."""
    lines = [f"Synthesized {len(summaries)} stack(s) into {outdir}/"]
    for s in summaries:
        lines.append("")
        lines.append(
            f"  {s.name}: {s.resource_count} resources, {len(s.variables)} variables, "
            f"{len(s.outputs)} outputs  ->  {s.path}"
        )
        for kind, count in s.resources.items():
            lines.append(f"    {count:>3}  {kind}")
        if s.variables:
            lines.append("    variables: " + ", ".join(s.variables))
    return "\n".join(lines)


def summary_as_json(summaries: Sequence[StackSummary], outdir: str | Path) -> str:
    """The summary as JSON for pipelines."""
    return json.dumps(
        {
            "outdir": str(outdir),
            "stacks": [
                {
                    "name": s.name,
                    "path": str(s.path),
                    "resources": s.resources,
                    "data_sources": s.data_sources,
                    "variables": s.variables,
                    "outputs": s.outputs,
                }
                for s in summaries
            ],
        },
        indent=2,
        sort_keys=True,
    )
