"""The validator fleet construct: ECS on EC2 Auto Scaling, one Besu task per instance."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import CloudwatchLogMetricFilter
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster, EcsClusterSetting
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService,
    EcsServiceCapacityProviderStrategy,
    EcsServiceLoadBalancer,
    EcsServicePlacementConstraints,
)
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from constructs import Construct

from besu_stack.besu.extra_data import Protocol
from besu_stack.constructs.fleet.capacity import validator_capacity
from besu_stack.constructs.fleet.instance_role import instance_role
from besu_stack.constructs.fleet.names import (
    CONTAINER_NAME,
    KEY_REFUSAL_METRIC,
    METRIC_NAMESPACE,
    LifecycleHooks,
    NodeImage,
    NodeSizing,
    SnapshotSchedule,
)
from besu_stack.constructs.fleet.node_entrypoint import REFUSAL_MARKER
from besu_stack.constructs.fleet.reference import FleetReference
from besu_stack.constructs.fleet.snapshots import snapshot_policy
from besu_stack.constructs.fleet.task import task_definition
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey
from besu_stack.constructs.ports import RPC_HTTP_PORT
from besu_stack.constructs.rpc_token_key import RpcTokenKey
from besu_stack.rollout import RolloutPolicy


class ValidatorFleet(Construct):
    """The compute that runs the validators.

    * An ECS cluster (Container Insights on) whose capacity is an Auto Scaling group of exactly
      ``validator_count`` instances across the node subnets, through a capacity provider with
      managed termination protection (ECS never loses a running validator to a scale-in).
    * A launch template: the ECS-optimized Amazon Linux 2023 AMI for the instance type's
      architecture (read at plan time from the public SSM parameter), IMDSv2 required with a hop
      limit of 1 (Besu uses host networking, so no container hop is needed and bridge-mode
      containers cannot reach the instance credentials), encrypted gp3 root volume with the
      network key, detailed monitoring, no SSH key, no public IP, the node security group, and
      the host bootstrap as user data; the bootstrap names ``rpc_token_key`` by its alias and
      writes its public key for Besu's JWT authentication of the internal RPC (the key grants
      the hosts ``kms:GetPublicKey``; the stack makes the group wait for the key).
    * The instance role (``instance_role``, a :class:`~besu_stack.constructs.iam.Role`): the ECS
      agent for this cluster, Session Manager, the CloudWatch agent in its own namespace. Reading
      the network files and decrypting the slot's key are granted to it by the constructs that
      hold them (the artifact bucket, the validator keys); which slot's secret a host may read
      is that secret's resource policy.
    * A task definition in host network mode: the Besu image, memory and JVM heap from the
      variables, the whole Besu command line as the container's ``command`` behind an entry point
      that refuses to start without the slot's verified key, the image's ``besu`` user, a port
      mapping for the load-balanced RPC port, a container health check on ``/liveness``, logs to
      an encrypted log group, and a metric filter counting key refusals.
    * An ECS service of ``validator_count`` tasks, one per instance (``distinctInstance``),
      registered in the RPC target groups, with the deployment circuit breaker (rollback) and
      the deployment percentages from :func:`besu_stack.rollout.rollout_policy`, so a deployment
      never stops more than f validators. The Auto Scaling instance refresh uses the same
      minimum healthy percentage.

    Every name is the one ``reference`` gave the constructs created before the fleet (the
    hooks, the health checker, the alarms).

    Attributes: ``cluster_name``, ``cluster_arn``, ``service_name``, ``autoscaling_group_name``,
    ``autoscaling_group_arn``, ``instance_role`` (grant to it), ``instance_role_arn``,
    ``instance_role_name``, ``node_log_group_name``, ``launch_template_id``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        reference: FleetReference,
        key: EncryptionKey,
        rpc_token_key: RpcTokenKey,
        validator_count: int,
        protocol: Protocol,
        rollout: RolloutPolicy,
        subnet_ids: Sequence[str],
        node_security_group_id: str,
        target_group_arns: Sequence[str],
        log_retention_days: float,
        sizing: NodeSizing,
        image: NodeImage,
        data_storage_format: str,
        consumer_apis: Sequence[str],
        host_allowlist: Sequence[str],
        snapshots: SnapshotSchedule,
        lifecycle_hooks: LifecycleHooks,
        rollout_alarm_names: Sequence[str] = (),
        load_balancer_name: str | None = None,
        depends_on: Sequence[ITerraformDependable] = (),
        instance_warmup_seconds: float = 300,
    ) -> None:
        super().__init__(scope, id)
        naming, platform = identity.naming, identity.platform
        name = reference.cluster_name
        kms_key_arn = key.key_arn

        self.cluster = EcsCluster(
            self,
            "cluster",
            name=name,
            setting=[EcsClusterSetting(name="containerInsights", value="enabled")],
        )
        self.node_log_group = CloudwatchLogGroup(
            self,
            "node_logs",
            name=f"/besu/{naming.network_name}/validators",
            retention_in_days=log_retention_days,
            kms_key_id=kms_key_arn,
        )
        CloudwatchLogMetricFilter(
            self,
            "key_refusals",
            name=naming.name("node-key-refusals"),
            log_group_name=self.node_log_group.name,
            pattern=f'"{REFUSAL_MARKER}"',
            metric_transformation={
                "name": KEY_REFUSAL_METRIC,
                "namespace": METRIC_NAMESPACE,
                "value": "1",
                "default_value": "0",
                "dimensions": {},
            },
        )

        self.instance_role = instance_role(
            self,
            identity=identity,
            reference=reference,
            node_log_group_arn=self.node_log_group.arn,
        )
        profile = IamInstanceProfile(
            self, "instance_profile", name=name, role=self.instance_role.name
        )
        capacity = validator_capacity(
            self,
            naming=naming,
            cluster_name=self.cluster.name,
            validator_count=validator_count,
            rollout=rollout,
            sizing=sizing,
            subnet_ids=subnet_ids,
            node_security_group_id=node_security_group_id,
            kms_key_arn=kms_key_arn,
            instance_profile_arn=profile.arn,
            lifecycle_hooks=lifecycle_hooks,
            rollout_alarm_names=rollout_alarm_names,
            load_balancer_name=load_balancer_name,
            rpc_token_key_alias=rpc_token_key.alias_name,
            depends_on=depends_on,
            instance_warmup_seconds=instance_warmup_seconds,
        )
        self.launch_template = capacity.launch_template
        self.launch_template_id: str = self.launch_template.id
        self.autoscaling_group = capacity.autoscaling_group
        self.autoscaling_group_name: str = self.autoscaling_group.name
        self.autoscaling_group_arn: str = self.autoscaling_group.arn
        self.capacity_provider = capacity.capacity_provider

        self.task_definition = task_definition(
            self,
            family=name,
            platform=platform,
            protocol=protocol,
            sizing=sizing,
            image=image,
            data_storage_format=data_storage_format,
            consumer_apis=consumer_apis,
            host_allowlist=host_allowlist,
            log_group_name=self.node_log_group.name,
        )

        self.service = EcsService(
            self,
            "service",
            name=name,
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=validator_count,
            capacity_provider_strategy=[
                EcsServiceCapacityProviderStrategy(
                    capacity_provider=self.capacity_provider.name, weight=1, base=0
                )
            ],
            placement_constraints=[EcsServicePlacementConstraints(type="distinctInstance")],
            deployment_minimum_healthy_percent=rollout.minimum_healthy_percent,
            deployment_maximum_percent=rollout.maximum_percent,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            **(
                {
                    "alarms": {
                        "alarm_names": list(rollout_alarm_names),
                        "enable": True,
                        "rollback": True,
                    }
                }
                if rollout_alarm_names
                else {}
            ),
            # Readiness (peers and head lag) through the target group gates each step.
            health_check_grace_period_seconds=600,
            load_balancer=[
                EcsServiceLoadBalancer(
                    target_group_arn=arn,
                    container_name=CONTAINER_NAME,
                    container_port=RPC_HTTP_PORT,
                )
                for arn in target_group_arns
            ],
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            wait_for_steady_state=False,
            depends_on=[self.autoscaling_group],
        )

        snapshot_policy(self, identity=identity, key=key, schedule=snapshots)

        self.cluster_name: str = self.cluster.name
        self.cluster_arn: str = self.cluster.arn
        self.service_name: str = self.service.name
        self.instance_role_arn: str = self.instance_role.arn
        self.instance_role_name: str = self.instance_role.name
        self.node_log_group_name: str = self.node_log_group.name
