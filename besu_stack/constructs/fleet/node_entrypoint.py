r"""The validator container's entry point: verify the slot's key, fill in runtime values, run Besu.

The container definition's ``command`` is the whole Besu command line from
:func:`besu_stack.besu.command_line.besu_command_line`; this script (the ``entryPoint``) receives
it as ``"$@"`` and

1. reads ``node.env``, which the host bootstrap wrote next to the genesis file (slot, private
   IP, stable DNS name, load balancer addresses, expected address), and checks each value's form;
2. refuses to start unless the key file on the root-only tmpfs exists and Besu itself derives the
   expected address from it (``besu public-key export-address``). Besu silently creates a fresh
   node key when its key file is missing, which would give the network a stranger instead of its
   validator; a wrong or corrupted key is caught before the node joins the network;
3. waits, for a bounded time, until every peer name in the static-nodes file resolves: Besu pins a
   name that does not resolve at start to 127.0.0.1 until it restarts (``EnodeURLImpl``,
   25.11.0, with ``--Xdns-update-enabled``), so a node should not start before its peers are
   registered. After the wait it starts anyway and says which names did not resolve (those peers
   still reach this node, since they resolve its name when they start);
4. puts the runtime values in their placeholders (:data:`RUNTIME_VALUES`) and ``exec``\ s Besu
   with exactly the options it was given: it never adds, drops or rewrites an option.

A refusal prints one line starting with :data:`REFUSAL_MARKER` (a CloudWatch Logs metric filter
counts these as ``NodeKeyRefusals``) and exits :data:`REFUSAL_EXIT_CODE`; ECS then keeps
retrying while the deployment circuit breaker and the alarms make the refusal visible.

No variable the script sets or reads carries the ``BESU_`` prefix: Besu reads every
``BESU_<OPTION>`` environment variable as that option (``EnvironmentVariableDefaultProvider``,
25.11.0).
"""

from __future__ import annotations

import shlex

from besu_stack.besu.command_line import RUNTIME_VALUES, BesuNodeOptions, besu_command_line

REFUSAL_MARKER = "besu-stack: refusing to start"
REFUSAL_EXIT_CODE = 78
NODE_ENV_FILE = "/etc/besu/node.env"
ENTRYPOINT_NAME = "besu-stack-entrypoint"
"""``$0`` of the script (``sh -c <script> <name> <besu arguments...>``)."""
DNS_WAIT_SECONDS = 180
"""At most this long the entry point waits for peer names; it must end well inside the container
health check's start period (see ``task.py``), or ECS replaces the task while it waits."""
DNS_RETRY_SECONDS = 5
NODE_ENV_VARIABLES = (
    "NODE_SLOT",
    "NODE_PRIVATE_IP",
    "NODE_HOST",
    "NODE_LOAD_BALANCER_IPS",
    "NODE_EXPECTED_ADDRESS",
)
"""What ``node.env`` defines (written by the host bootstrap, read here)."""

_FORMS = {
    "NODE_SLOT": "^[0-9]{1,3}$",
    "NODE_PRIVATE_IP": "^[0-9]{1,3}([.][0-9]{1,3}){3}$",
    "NODE_HOST": "^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
    "NODE_LOAD_BALANCER_IPS": "^[0-9]{1,3}([.][0-9]{1,3}){3}(,[0-9]{1,3}([.][0-9]{1,3}){3})*$",
}
"""The form of each runtime value; checked before it is put into an option (also keeps sed's
replacement text free of metacharacters)."""


def _sed_expressions() -> str:
    return " ".join(
        f'-e "s|{placeholder}|${variable}|g"' for placeholder, variable in RUNTIME_VALUES.items()
    )


def entrypoint_script(
    options: BesuNodeOptions,
    besu_binary: str = "/opt/besu/bin/besu",
    *,
    dns_wait_seconds: int = DNS_WAIT_SECONDS,
    dns_retry_seconds: int = DNS_RETRY_SECONDS,
) -> str:
    """The POSIX ``sh`` script of the container's entry point (Besu's options arrive as ``$@``)."""
    if not 0 <= dns_wait_seconds <= 3600 or not 0 <= dns_retry_seconds <= 60:
        raise ValueError(
            "dns_wait_seconds must be from 0 to 3600 and dns_retry_seconds from 0 to 60, got "
            f"{dns_wait_seconds!r} and {dns_retry_seconds!r}"
        )
    besu = shlex.quote(besu_binary)
    key = shlex.quote(options.node_key_file)
    static_nodes = shlex.quote(options.static_nodes_file)
    env_file = shlex.quote(NODE_ENV_FILE)
    checks = [
        f'printf %s "${name}" | grep -Eq {shlex.quote(form)} || refuse "{name} in {NODE_ENV_FILE} '
        f'is not valid: [${name}]"'
        for name, form in _FORMS.items()
    ]
    return "\n".join(
        [
            # -e without -u: an unset value is empty and refused below with a clear line.
            "set -e",
            f'refuse() {{ echo "{REFUSAL_MARKER}: $*" >&2; exit {REFUSAL_EXIT_CODE}; }}',
            f'[ -r {env_file} ] || refuse "{NODE_ENV_FILE} missing (host bootstrap did not finish)"',
            # Read, not sourced: a value is data, never shell code.
            "while IFS='=' read -r name value; do",
            '  case "$name" in',
            *(f'    {name}) {name}="$value";;' for name in NODE_ENV_VARIABLES),
            "  esac",
            f"done < {env_file}",
            *checks,
            f'[ -s {key} ] || refuse "node key file missing for slot $NODE_SLOT"',
            # Besu derives the address itself; its own error (if any) is shown, never hidden.
            f"exported=$({besu} public-key export-address --node-private-key-file={key} 2>&1) "
            '|| refuse "besu public-key export-address failed for slot $NODE_SLOT: $exported"',
            "derived=$(printf '%s\\n' \"$exported\" | grep -E '^0x[0-9a-fA-F]{40}$' | tail -n 1 "
            "| tr 'A-F' 'a-f' || true)",
            "expected=$(printf %s \"$NODE_EXPECTED_ADDRESS\" | tr 'A-F' 'a-f')",
            'printf %s "$expected" | grep -Eq "^0x[0-9a-f]{40}$" || refuse "no expected address '
            'for slot $NODE_SLOT in the registry (got [$expected])"',
            '[ -n "$derived" ] || refuse "the key of slot $NODE_SLOT derives no address: $exported"',
            '[ "$derived" = "$expected" ] || refuse "key of slot $NODE_SLOT derives $derived, '
            'registry expects $expected"',
            'echo "besu-stack: slot $NODE_SLOT key verified for $expected"',
            # Peers' names: wait (bounded) until each resolves, so Besu does not pin one to
            # 127.0.0.1 (EnodeURLImpl, 25.11.0).
            f"peers=$(grep -Eo '@[A-Za-z0-9.-]+:' {static_nodes} | tr -d '@:' | sort -u || true)",
            f"deadline=$(( $(date +%s) + {dns_wait_seconds} ))",
            "while :; do",
            '  unresolved=""',
            '  for peer in $peers; do getent hosts "$peer" >/dev/null 2>&1 || '
            'unresolved="$unresolved $peer"; done',
            '  [ -n "$unresolved" ] || break',
            '  if [ "$(date +%s)" -ge "$deadline" ]; then',
            '    echo "besu-stack: starting although peer names do not resolve:$unresolved '
            '(Besu dials them only after a restart; they can still connect to this node)"',
            "    break",
            "  fi",
            '  echo "besu-stack: waiting for peer names to resolve:$unresolved"',
            f"  sleep {dns_retry_seconds}",
            "done",
            # Runtime values into their placeholders; every option stays as given.
            "for argument do",
            "  shift",
            f"  argument=$(printf '%s\\n' \"$argument\" | sed {_sed_expressions()})",
            '  case "$argument" in *@*@*) refuse "unfilled runtime placeholder in $argument";; esac',
            '  set -- "$@" "$argument"',
            "done",
            'echo "besu-stack: starting Besu for slot $NODE_SLOT as $NODE_HOST ($NODE_PRIVATE_IP)"',
            f'exec {besu} "$@"',
            "",
        ]
    )


def container_entry_point(options: BesuNodeOptions) -> list[str]:
    """The ECS container ``entryPoint``: ``sh -c <script> <name>``; Besu's options follow."""
    return ["/bin/sh", "-c", entrypoint_script(options), ENTRYPOINT_NAME]


def container_command(options: BesuNodeOptions) -> list[str]:
    """The ECS container ``command``: exactly Besu's options (the entry point receives them)."""
    return list(besu_command_line(options))
