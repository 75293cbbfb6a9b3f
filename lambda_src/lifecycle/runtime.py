"""Cold-start construction shared by the three handlers: configuration, logger, clients."""

from __future__ import annotations

import os

from .config import LifecycleConfig
from .store import Stores


def load() -> tuple[LifecycleConfig, Stores]:
    """Read the configuration from the environment and build the stores on boto3 clients."""
    config = LifecycleConfig.from_env(os.environ)
    stores = Stores.from_boto3(
        table_name=config.registry_table_name,
        zone_id=config.private_zone_id,
        role_arn=config.instance_role_arn,
        metric_namespace=config.metric_namespace,
        network=config.network_name,
        ecs_cluster=config.ecs_cluster_name,
    )
    return config, stores
