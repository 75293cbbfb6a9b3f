"""The validator container's entrypoint: refuse to start without the slot's verified key.

Besu silently creates a fresh node key when its key file is missing, which would give the network
a stranger instead of its validator. The entrypoint therefore starts Besu only when

1. the host bootstrap wrote ``node.env`` (slot, stable DNS name, expected address) next to the
   genesis file, and
2. the key file on the root-only tmpfs exists and Besu itself derives the expected address from
   it (``besu public-key export-address``): a wrong or corrupted key is caught before the node
   joins the network.

Otherwise it prints one line starting with :data:`REFUSAL_MARKER` (a CloudWatch Logs metric
filter counts these as ``NodeKeyRefusals``) and exits non-zero; ECS then keeps retrying while the
deployment circuit breaker and the alarms make the refusal visible.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from besu_stack.besu.command_line import BesuNodeOptions, besu_command_line

REFUSAL_MARKER = "besu-stack: refusing to start"
NODE_ENV_FILE = "/etc/besu/node.env"
HOST_PLACEHOLDER = "validator-placeholder.besu-stack.invalid"
"""Stands for the node's stable DNS name while the command line is built; the entrypoint puts
``$BESU_NODE_HOST`` (from ``node.env``) in its place, since one task definition serves all
slots."""


ARGUMENTS_FROM_ENVIRONMENT = {
    "--rpc-http-api": "BESU_CONSUMER_APIS",
    "--data-storage-format": "BESU_STORAGE_FORMAT",
}
"""Options whose value comes from the task's environment (plan-time variables validated by
Terraform against the same allow-lists as :class:`BesuNodeOptions`) instead of the literal
default the command line was built and checked with."""


def node_command_line(options: BesuNodeOptions) -> list[str]:
    """Besu's arguments with the node's host left as the shell variable ``$BESU_NODE_HOST``."""
    if options.p2p_host != HOST_PLACEHOLDER:
        raise ValueError(f"p2p_host must be {HOST_PLACEHOLDER!r}; the entrypoint fills it in")
    return list(besu_command_line(options))


def _quote(argument: str) -> str:
    """Shell-quote an argument, letting ``$BESU_NODE_HOST`` and the environment options expand."""
    option = argument.split("=", 1)[0]
    if option == "--host-allowlist":
        return '--host-allowlist="$allowed_hosts"'
    if option in ARGUMENTS_FROM_ENVIRONMENT:
        return f'{option}="${ARGUMENTS_FROM_ENVIRONMENT[option]}"'
    if HOST_PLACEHOLDER not in argument:
        return shlex.quote(argument)
    head, _, tail = argument.partition(HOST_PLACEHOLDER)
    return (
        f'{shlex.quote(head) if head else ""}"$BESU_NODE_HOST"{shlex.quote(tail) if tail else ""}'
    )


def entrypoint_script(options: BesuNodeOptions, besu_binary: str = "/opt/besu/bin/besu") -> str:
    """The ``sh`` script the container runs: verify, then ``exec`` Besu."""
    arguments = " \\\n  ".join(_quote(a) for a in node_command_line(options))
    key = shlex.quote(options.node_key_file)
    refuse = f'echo "{REFUSAL_MARKER}:'
    return "\n".join(
        [
            "set -eu",
            f'if [ ! -r {shlex.quote(NODE_ENV_FILE)} ]; then {refuse} {NODE_ENV_FILE} missing (host bootstrap did not finish)" >&2; exit 78; fi',
            f". {shlex.quote(NODE_ENV_FILE)}",
            f'if [ ! -s {key} ]; then {refuse} node key file missing for slot $BESU_SLOT" >&2; exit 78; fi',
            f"derived=$({shlex.quote(besu_binary)} public-key export-address --node-private-key-file={key} 2>/dev/null | tail -n 1 | tr 'A-F' 'a-f')",
            "expected=$(printf %s \"$BESU_EXPECTED_ADDRESS\" | tr 'A-F' 'a-f')",
            'case "$expected" in 0x[0-9a-f]*) ;; *) expected="";; esac',
            f'if ! printf %s "$expected" | grep -Eq "^0x[0-9a-f]{{40}}$" || ! printf %s "$derived" | grep -Eq "^0x[0-9a-f]{{40}}$"; then {refuse} no verifiable address for slot $BESU_SLOT (key derives [$derived], registry expects [$expected])" >&2; exit 78; fi',
            f'if [ "$derived" != "$expected" ]; then {refuse} key of slot $BESU_SLOT derives $derived, registry expects $expected" >&2; exit 78; fi',
            # localhost and the node's own name, plus the names consumers use (rpc_host_allowlist).
            'allowed_hosts="localhost,127.0.0.1,$BESU_NODE_HOST"',
            # (no ${...} anywhere: the script travels inside Terraform strings)
            "extra_hosts=$(printenv BESU_HOST_ALLOWLIST_EXTRA || true)",
            'if [ -n "$extra_hosts" ]; then allowed_hosts="$allowed_hosts,$extra_hosts"; fi',
            'echo "besu-stack: slot $BESU_SLOT key verified for $expected; starting Besu as $BESU_NODE_HOST"',
            f"exec {shlex.quote(besu_binary)} \\\n  {arguments}",
            "",
        ]
    )


def container_command(options: BesuNodeOptions) -> Sequence[str]:
    """The ECS container ``entryPoint`` + ``command``: ``sh -c <script>``."""
    return ["/bin/sh", "-c", entrypoint_script(options)]
