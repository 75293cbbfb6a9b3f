"""Everything about a network's resources that is known at synth time: names and ARNs.

Several resources are referred to before they exist: the lifecycle hooks, the health checker
and the alarms need the cluster, the Auto Scaling group and the hosts' role, which the fleet
creates last (it waits for the hooks). Their names derive from the network name alone, and their
ARNs from those names and the :class:`~besu_stack.constructs.platform.Platform` data sources. This
module is the one place that knows them, so no construct formats a name or an ``arn:`` string of
another construct's resource by hand (``tests/synth/test_iam_wiring.py``).
"""

from __future__ import annotations

from besu_stack.constructs.fleet.names import fleet_name, instance_role_name
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform
from besu_stack.lambda_kernel import slots


class NetworkIdentity:
    """The names and ARNs of one network's resources, from its name and the platform.

    Attributes: ``naming``, ``platform``, ``network_name``; the fleet's ``fleet_name`` (cluster,
    Auto Scaling group, capacity provider and service share it) and the hosts'
    ``instance_role_name``.
    """

    def __init__(self, naming: Naming, platform: Platform) -> None:
        self.naming = naming
        self.platform = platform
        self.network_name = naming.network_name
        self.fleet_name = fleet_name(naming)
        self.instance_role_name = instance_role_name(naming)

    def name(self, *parts: str) -> str:
        """``<network_name>-<part>-...``: the name of one of the network's resources."""
        return self.naming.name(*parts)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """An ARN in this account (and region, unless ``regional`` is false)."""
        return self.platform.arn(service, resource, regional=regional)

    # The fleet (created last; see the module docstring).

    @property
    def cluster_arn(self) -> str:
        """The validators' ECS cluster."""
        return self.arn("ecs", f"cluster/{self.fleet_name}")

    @property
    def container_instances_arn(self) -> str:
        """Every container instance of the cluster."""
        return self.arn("ecs", f"container-instance/{self.fleet_name}/*")

    @property
    def tasks_arn(self) -> str:
        """Every task of the cluster."""
        return self.arn("ecs", f"task/{self.fleet_name}/*")

    @property
    def autoscaling_group_arn(self) -> str:
        """The validators' Auto Scaling group (its ARN holds a generated id: matched by ``*``)."""
        return self.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{self.fleet_name}")

    @property
    def instance_role_arn(self) -> str:
        """The validator hosts' IAM role."""
        return self.arn("iam", f"role/{self.instance_role_name}", regional=False)

    # EC2 resources the lifecycle functions act on (narrowed by tag conditions where granted).

    @property
    def instances_arn(self) -> str:
        """Every EC2 instance of this account and region."""
        return self.arn("ec2", "instance/*")

    @property
    def volumes_arn(self) -> str:
        """Every EBS volume of this account and region."""
        return self.arn("ec2", "volume/*")

    @property
    def snapshots_arn(self) -> str:
        """Every EBS snapshot of this region (snapshot ARNs name no account)."""
        return self.platform.arn("ec2", "snapshot/*", in_account=False)

    # The validator keys.

    def secret_name(self, slot: int) -> str:
        """The Secrets Manager name of a slot's node key (the Lambdas derive the same)."""
        return slots.secret_name(self.network_name, slot)

    @property
    def secret_name_prefix(self) -> str:
        """What every slot secret's name starts with."""
        return f"{self.network_name}/validator-"

    @property
    def secrets_arn(self) -> str:
        """Every slot secret (Secrets Manager appends a random suffix to each ARN)."""
        return self.arn("secretsmanager", f"secret:{self.secret_name_prefix}*")

    # Patterns of this account's resources other services act on.

    def log_groups_arn(self, pattern: str = "*") -> str:
        """CloudWatch Logs log groups whose name matches ``pattern``."""
        return self.arn("logs", f"log-group:{pattern}")

    @property
    def alarms_arn(self) -> str:
        """Every CloudWatch alarm of this network (their names start with the network's)."""
        return self.arn("cloudwatch", f"alarm:{self.network_name}-*")

    def event_rules_arn(self, name_prefix: str) -> str:
        """EventBridge rules of this network whose name starts with ``name_prefix``."""
        return self.arn("events", f"rule/{self.name(name_prefix)}-*")

    @property
    def flow_logs_arn(self) -> str:
        """Every VPC flow log of this account and region."""
        return self.arn("ec2", "vpc-flow-log/*")
