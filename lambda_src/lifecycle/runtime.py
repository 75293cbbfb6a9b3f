"""Cold-start construction shared by the three handlers: configuration, logger, clients."""

from __future__ import annotations

import os
from collections.abc import Collection

from .config import LifecycleConfig
from .store import STORE_NAMES, Stores


def load(called: Collection[str] = STORE_NAMES) -> tuple[LifecycleConfig, Stores]:
    """Read the configuration from the environment and build the stores a handler calls.

    ``called`` names the handler's stores (its ``STORES_CALLED``); only their clients are built.
    """
    config = LifecycleConfig.from_env(os.environ)
    stores = Stores.from_boto3(
        table_name=config.registry_table_name,
        zone_id=config.private_zone_id,
        instance_role_arn=config.instance_role_arn,
        key_lambda_role_arn=config.key_lambda_role_arn,
        secrets_key_arn=config.secrets_key_arn,
        metric_namespace=config.metric_namespace,
        network=config.network_name,
        ecs_cluster=config.ecs_cluster_name,
        called=called,
    )
    return config, stores
