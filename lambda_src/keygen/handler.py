"""Lambda entry point of key generation: ``keygen.handler.handler``.

Invoked by Terraform (``aws_lambda_invocation``) with ``{"validator_count": <n>}``; returns
public data only (see :func:`keygen.logic.generate_keys`). The configuration and the AWS clients
are built once per cold start; a missing environment variable fails the import loudly.
"""

from __future__ import annotations

import os
from typing import Any

from besu_stack.lambda_log import JsonLogger

from .config import KeygenConfig
from .errors import KeygenError
from .logic import generate_keys, parse_validator_count
from .store import Stores

LOG = JsonLogger("keygen")
CONFIG = KeygenConfig.from_env(os.environ)
STORES = Stores.from_boto3(
    CONFIG.registry_table_name, CONFIG.artifact_bucket_name, CONFIG.kms_key_id
)


def handler(event: object, context: Any) -> dict[str, Any]:
    """Generate missing validator keys and write the network files; return public data."""
    try:
        count = parse_validator_count(event)
        LOG.info("key generation started", validator_count=count)
        result = generate_keys(CONFIG, STORES, LOG, count)
    except KeygenError as exc:
        LOG.error("key generation failed", error=type(exc).__name__, detail=str(exc))
        raise
    LOG.info(
        "key generation finished",
        created_slots=result["created_slots"],
        genesis_sha256=result["genesis_sha256"],
    )
    return result
