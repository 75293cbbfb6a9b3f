"""The validator task: its task definition and the Besu container definition.

The container runs the entry point (``node_entrypoint.py``, next to this module) with the whole
Besu command line as its ``command``; the host bootstrap (``host_bootstrap.py``) prepares what
the task mounts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cdktf import Fn, Op, Precondition, TerraformLocal, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.ecs_task_definition import EcsTaskDefinition, EcsTaskDefinitionVolume
from constructs import Construct

from besu_stack.besu.command_line import BesuNodeOptions, PlanValue
from besu_stack.besu.extra_data import Protocol
from besu_stack.constructs.fleet.host_bootstrap import BESU_UID
from besu_stack.constructs.fleet.names import CONTAINER_NAME, NodeImage, NodeSizing
from besu_stack.constructs.fleet.node_entrypoint import container_command, container_entry_point
from besu_stack.constructs.platform import Platform
from besu_stack.constructs.ports import RPC_HTTP_PORT

LIVENESS_PROBE = (
    f"exec 3<>/dev/tcp/127.0.0.1/{RPC_HTTP_PORT} && printf 'GET /liveness HTTP/1.1\\r\\n"
    f"Host: localhost:{RPC_HTTP_PORT}\\r\\nConnection: close\\r\\n\\r\\n' >&3 && "
    "head -n 1 <&3 | grep -q ' 200 '"
)
"""The container health check, run with bash (``/dev/tcp``; the image ships no curl)."""
_MEMORY_SENTINEL = "__besu_memory_mib__"
HEALTH_CHECK_START_PERIOD_SECONDS = 300
"""The container health check's start period: 300 s, the most ECS accepts (HealthCheck
``startPeriod``, 0-300 s, ECS API reference)."""


def task_definition(
    scope: Construct,
    *,
    family: str,
    platform: Platform,
    protocol: Protocol,
    sizing: NodeSizing,
    image: NodeImage,
    data_storage_format: str,
    consumer_apis: Sequence[str],
    host_allowlist: Sequence[str],
    log_group_name: str,
) -> EcsTaskDefinition:
    """The validator task definition in host network mode, created in ``scope``.

    The Besu container, the three host paths it mounts (config, data, key) and a precondition
    keeping the JVM heap within 75% of the container's memory.
    """
    return EcsTaskDefinition(
        scope,
        "task_definition",
        family=family,
        network_mode="host",
        requires_compatibilities=["EC2"],
        container_definitions=container_definitions(
            scope,
            platform=platform,
            protocol=protocol,
            sizing=sizing,
            image=image,
            data_storage_format=data_storage_format,
            consumer_apis=consumer_apis,
            host_allowlist=host_allowlist,
            log_group_name=log_group_name,
        ),
        volume=[
            EcsTaskDefinitionVolume(name="config", host_path="/etc/besu"),
            EcsTaskDefinitionVolume(name="data", host_path="/var/lib/besu"),
            EcsTaskDefinitionVolume(name="key", host_path="/run/besu"),
        ],
        lifecycle=TerraformResourceLifecycle(
            precondition=[
                Precondition(
                    condition=Op.lte(
                        sizing.besu_jvm_heap_mib, Op.mul(sizing.besu_memory_mib, 0.75)
                    ),
                    error_message="besu_jvm_heap_mib must be at most 75% of besu_memory_mib: the JVM needs the rest for metaspace, threads and RocksDB.",
                )
            ]
        ),
    )


def container_definitions(
    scope: Construct,
    *,
    platform: Platform,
    protocol: Protocol,
    sizing: NodeSizing,
    image: NodeImage,
    data_storage_format: str,
    consumer_apis: Sequence[str],
    host_allowlist: Sequence[str],
    log_group_name: str,
) -> str:
    """The Besu container definition (JSON) of the validator task.

    The ``command`` is the whole Besu command line (besu_stack/besu/command_line.py), the
    ``entryPoint`` the script that verifies the key and fills in the runtime values; the
    container runs as the image's ``besu`` user, maps the load-balanced port, and its health
    check sends a Host header Besu's allow-list admits.
    """
    # The one command line (besu_stack/besu/command_line.py). Plan-time values are Terraform
    # tokens whose variable validations enforce the same rules; the entry point fills in only
    # the runtime values (private IP, DNS name, load balancer IPs).
    options = BesuNodeOptions(
        protocol=protocol,
        data_storage_format=PlanValue(data_storage_format, "besu_data_storage_format"),
        consumer_apis=PlanValue(
            TerraformLocal(scope, "consumer_apis", Fn.join(",", list(consumer_apis))).as_string,
            "rpc_consumer_apis",
        ),
        # Zero or more ",<host>" items, as PlanValue host lists are rendered.
        host_allowlist=PlanValue(
            TerraformLocal(
                scope,
                "host_allowlist",
                # join(",", concat([""], hosts)): "" for none, ",a,b" for [a, b].
                Fn.join(",", Token.as_list(Fn.concat([[""], host_allowlist]))),
            ).as_string,
            "rpc_host_allowlist",
        ),
    )
    ecr = Fn.format("%s.dkr.ecr.%s.%s", [platform.account_id, platform.region, platform.dns_suffix])
    # A bare repository name is an ECR repository of this account and region.
    repository = Fn.conditional(
        Fn.strcontains(image.repository, "/"),
        image.repository,
        Fn.join("/", [ecr, image.repository]),
    )
    # A digest pins with "@", a tag with ":".
    image_ref = TerraformLocal(
        scope,
        "besu_image",
        Fn.conditional(
            Fn.startswith(image.tag, "sha256:"),
            Fn.join("@", [Token.as_string(repository), image.tag]),
            Fn.join(":", [Token.as_string(repository), image.tag]),
        ),
    )
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image_ref.as_string,
        "essential": True,
        "memory": _MEMORY_SENTINEL,
        # The image's own entry point (besu-entry.sh) would switch from root to the besu user;
        # ours replaces it, so the container runs as that user from the start (uid 1000 in
        # docker/Dockerfile at 25.11.0).
        "user": f"{BESU_UID}:{BESU_UID}",
        "entryPoint": container_entry_point(options),
        "command": container_command(options),
        # The ECS service load-balances this port; ECS registers targets from the port
        # mappings (LoadBalancer.containerPort "must correspond to a containerPort in the
        # task definition", ECS API reference). Host network mode: hostPort == containerPort.
        "portMappings": [
            {"containerPort": RPC_HTTP_PORT, "hostPort": RPC_HTTP_PORT, "protocol": "tcp"}
        ],
        # No BESU_-prefixed variable but BESU_OPTS (JVM options for the start script): Besu
        # reads every BESU_<OPTION> variable as that option
        # (EnvironmentVariableDefaultProvider, 25.11.0).
        "environment": [
            {
                "name": "BESU_OPTS",
                "value": f"-Xmx{Token.as_string(sizing.besu_jvm_heap_mib)}m -Xms{Token.as_string(sizing.besu_jvm_heap_mib)}m",
            },
        ],
        "mountPoints": [
            {"sourceVolume": "config", "containerPath": "/etc/besu", "readOnly": True},
            {"sourceVolume": "data", "containerPath": "/var/lib/besu", "readOnly": False},
            {"sourceVolume": "key", "containerPath": "/run/besu", "readOnly": True},
        ],
        "healthCheck": {
            # Liveness only: readiness (peers, lag) gates the target group, not the process.
            # bash, not CMD-SHELL's /bin/sh: /dev/tcp is a bash feature (dash, the /bin/sh
            # of Ubuntu images, lacks it), and the image ships no curl.
            # Besu's host allow-list guards /liveness too (JsonRpcHttpService.buildRouter,
            # 25.11.0): without a Host header the answer is 403, so send one it admits.
            "command": ["CMD", "/bin/bash", "-c", LIVENESS_PROBE],
            "interval": 15,
            "timeout": 5,
            "retries": 4,
            # ECS's maximum: the entry point may wait DNS_WAIT_SECONDS for peer names
            # before Besu starts, and Besu needs time to open its RPC port after that.
            "startPeriod": HEALTH_CHECK_START_PERIOD_SECONDS,
        },
        "stopTimeout": 120,
        "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group_name,
                "awslogs-region": platform.region,
                "awslogs-stream-prefix": "besu",
            },
        },
    }
    # json.dumps, not jsonencode(): cdktf does not escape quotes inside function arguments,
    # and the entrypoint script is full of them. Tokens (image, log group, region) resolve
    # inside the string; the memory number is spliced in unquoted so ECS gets an integer.
    text = json.dumps([container], sort_keys=True)
    return text.replace(json.dumps(_MEMORY_SENTINEL), Token.as_string(sizing.besu_memory_mib))
