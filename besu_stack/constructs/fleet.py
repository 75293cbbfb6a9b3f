"""The validator fleet: ECS on EC2 Auto Scaling, one Besu task per instance, rolled f at a time."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf import (
    Fn,
    ITerraformDependable,
    Op,
    Precondition,
    TerraformLocal,
    TerraformResourceLifecycle,
    Token,
)
from cdktf_cdktf_provider_aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInitialLifecycleHook,
    AutoscalingGroupTag,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import CloudwatchLogMetricFilter
from cdktf_cdktf_provider_aws.data_aws_ec2_instance_type import DataAwsEc2InstanceType
from cdktf_cdktf_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktf_cdktf_provider_aws.dlm_lifecycle_policy import (
    DlmLifecyclePolicy,
    DlmLifecyclePolicyPolicyDetails,
    DlmLifecyclePolicyPolicyDetailsSchedule,
)
from cdktf_cdktf_provider_aws.ecs_capacity_provider import EcsCapacityProvider
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster, EcsClusterSetting
from cdktf_cdktf_provider_aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService,
    EcsServiceCapacityProviderStrategy,
    EcsServiceLoadBalancer,
    EcsServicePlacementConstraints,
)
from cdktf_cdktf_provider_aws.ecs_task_definition import EcsTaskDefinition, EcsTaskDefinitionVolume
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateNetworkInterfaces,
    LaunchTemplateTagSpecifications,
)
from constructs import Construct

from besu_stack.besu.command_line import BesuNodeOptions, PlanValue
from besu_stack.besu.extra_data import Protocol
from besu_stack.constructs.iam import Statement, policy_document
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform
from besu_stack.constructs.ports import RPC_HTTP_PORT
from besu_stack.host_bootstrap import BESU_UID, host_bootstrap_script
from besu_stack.node_entrypoint import REFUSAL_MARKER, container_command, container_entry_point
from besu_stack.rollout import RolloutPolicy

ECS_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/{arch}recommended/image_id"
"""Public SSM parameter of the current ECS-optimized Amazon Linux 2023 AMI (``arm64/`` for
Graviton, nothing for x86_64)."""

CONTAINER_NAME = "besu"
LIVENESS_PROBE = (
    f"exec 3<>/dev/tcp/127.0.0.1/{RPC_HTTP_PORT} && printf 'GET /liveness HTTP/1.1\\r\\n"
    f"Host: localhost:{RPC_HTTP_PORT}\\r\\nConnection: close\\r\\n\\r\\n' >&3 && "
    "head -n 1 <&3 | grep -q ' 200 '"
)
"""The container health check, run with bash (``/dev/tcp``; the image ships no curl)."""
_MEMORY_SENTINEL = "__besu_memory_mib__"
DATA_VOLUME_TAG = "Network"
"""Tag key the launch hook puts on each data volume (value: the network name); DLM targets it."""
METRIC_NAMESPACE = "BesuStack"
KEY_REFUSAL_METRIC = "NodeKeyRefusals"


@dataclass(frozen=True)
class NodeSizing:
    """Instance and container sizes (plan-time tokens or literals)."""

    instance_type: str
    besu_memory_mib: float
    besu_jvm_heap_mib: float
    root_volume_size_gib: float


def fleet_name(naming: Naming) -> str:
    """Name of the cluster, Auto Scaling group, capacity provider and service (known at synth)."""
    return naming.name("validators")


def instance_role_name(naming: Naming) -> str:
    """Name of the validator hosts' IAM role (known at synth)."""
    return naming.name("validator-host")


@dataclass(frozen=True)
class LifecycleHooks:
    """The Auto Scaling lifecycle hooks the node lifecycle Lambdas answer."""

    launch_hook_name: str
    terminate_hook_name: str
    launch_timeout_seconds: int
    terminate_timeout_seconds: int


@dataclass(frozen=True)
class SnapshotSchedule:
    """Data Lifecycle Manager snapshots of the data volumes.

    A snapshot every ``interval_hours``; ``retention_count`` are kept per volume.
    """

    interval_hours: float
    retention_count: float


@dataclass(frozen=True)
class NodeImage:
    """The Besu container image: repository (ECR name in this account, or a full path) and tag."""

    repository: str
    tag: str


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
      the host bootstrap as user data.
    * The instance role: SSM agent, ECS agent and CloudWatch agent policies, plus reading the
      two network files and the slot secrets (each secret's resource policy narrows this to the
      slot's own instance).
    * A task definition in host network mode: the Besu image, memory and JVM heap from the
      variables, the full command line behind an entrypoint that refuses to start without the
      slot's verified key, a container health check on ``/liveness``, logs to an encrypted log
      group, and a metric filter counting key refusals.
    * An ECS service of ``validator_count`` tasks, one per instance (``distinctInstance``),
      registered in the RPC target groups, with the deployment circuit breaker (rollback) and
      the deployment percentages from :func:`besu_stack.rollout.rollout_policy`, so a deployment
      never stops more than f validators. The Auto Scaling instance refresh uses the same
      minimum healthy percentage.

    Attributes: ``cluster_name``, ``cluster_arn``, ``service_name``, ``autoscaling_group_name``,
    ``autoscaling_group_arn``, ``instance_role_arn``, ``instance_role_name``,
    ``node_log_group_name``, ``launch_template_id``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        naming: Naming,
        platform: Platform,
        validator_count: int,
        protocol: Protocol,
        rollout: RolloutPolicy,
        subnet_ids: Sequence[str],
        node_security_group_id: str,
        target_group_arns: Sequence[str],
        kms_key_arn: str,
        log_retention_days: float,
        sizing: NodeSizing,
        image: NodeImage,
        data_storage_format: str,
        consumer_apis: Sequence[str],
        host_allowlist: Sequence[str],
        snapshots: SnapshotSchedule,
        slot_secret_arns: Sequence[str],
        artifact_bucket_arn: str,
        genesis_object_key: str,
        static_nodes_object_key: str,
        lifecycle_hooks: LifecycleHooks,
        rollout_alarm_names: Sequence[str] = (),
        load_balancer_name: str | None = None,
        depends_on: Sequence[ITerraformDependable] = (),
        instance_warmup_seconds: float = 300,
    ) -> None:
        super().__init__(scope, id)
        name = fleet_name(naming)
        lifecycle_hook_timeout_seconds = lifecycle_hooks.launch_timeout_seconds

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

        self.instance_role = self._instance_role(
            naming,
            platform,
            slot_secret_arns,
            artifact_bucket_arn,
            [genesis_object_key, static_nodes_object_key],
            kms_key_arn,
        )
        profile = IamInstanceProfile(
            self, "instance_profile", name=name, role=self.instance_role.name
        )

        instance_type = DataAwsEc2InstanceType(
            self, "instance_type", instance_type=sizing.instance_type
        )
        ami_parameter = TerraformLocal(
            self,
            "ecs_ami_parameter",
            Fn.conditional(
                Fn.contains(instance_type.supported_architectures, "arm64"),
                ECS_AMI_PARAMETER.format(arch="arm64/"),
                ECS_AMI_PARAMETER.format(arch=""),
            ),
        )
        ami = DataAwsSsmParameter(self, "ecs_ami", name=ami_parameter.as_string)

        self.launch_template = LaunchTemplate(
            self,
            "launch_template",
            name=name,
            description=f"Validator hosts of Besu network {naming.network_name}",
            image_id=ami.value,
            instance_type=sizing.instance_type,
            update_default_version=True,
            iam_instance_profile={"arn": profile.arn},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "enabled",
            },
            monitoring={"enabled": True},
            ebs_optimized="true",
            network_interfaces=[
                LaunchTemplateNetworkInterfaces(
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[node_security_group_id],
                )
            ],
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name="/dev/xvda",
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        encrypted="true",
                        kms_key_id=kms_key_arn,
                        volume_type="gp3",
                        volume_size=sizing.root_volume_size_gib,
                        delete_on_termination="true",
                    ),
                )
            ],
            # A literal script (the cluster name is known at synth): base64 here keeps bash's
            # ${...} away from Terraform's interpolation.
            user_data=base64.b64encode(
                host_bootstrap_script(
                    cluster_name=name,
                    wait_seconds=lifecycle_hook_timeout_seconds,
                    load_balancer_name=load_balancer_name,
                ).encode()
            ).decode("ascii"),
            tag_specifications=[
                LaunchTemplateTagSpecifications(
                    resource_type="instance",
                    tags={"Name": name, "besu:network": naming.network_name},
                ),
                LaunchTemplateTagSpecifications(
                    resource_type="volume",
                    tags={"Name": f"{name}-root", "besu:network": naming.network_name},
                ),
            ],
            lifecycle=TerraformResourceLifecycle(
                precondition=[
                    Precondition(
                        condition=Op.gte(
                            instance_type.memory_size, Op.add(sizing.besu_memory_mib, 1024)
                        ),
                        error_message="besu_memory_mib must leave at least 1024 MiB of the instance's memory to the OS, the ECS agent and the CloudWatch agent.",
                    )
                ]
            ),
        )
        self.launch_template_id: str = self.launch_template.id

        self.autoscaling_group = AutoscalingGroup(
            self,
            "autoscaling_group",
            name=name,
            min_size=validator_count,
            max_size=validator_count,
            desired_capacity=validator_count,
            vpc_zone_identifier=list(subnet_ids),
            launch_template={
                "id": self.launch_template.id,
                "version": Token.as_string(self.launch_template.latest_version),
            },
            # EC2 status only: the deep health check decides when a node is replaced, within f.
            # An ELB health check here would replace every node at once when the chain stalls.
            health_check_type="EC2",
            health_check_grace_period=600,
            protect_from_scale_in=True,
            # A validator's data volume lives in one AZ; rebalancing would move nodes away from
            # their volumes for no benefit.
            suspended_processes=["AZRebalance"],
            default_instance_warmup=instance_warmup_seconds,
            # Declared with the group so that even its first instances wait for a slot.
            initial_lifecycle_hook=[
                AutoscalingGroupInitialLifecycleHook(
                    name=lifecycle_hooks.launch_hook_name,
                    lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING",
                    heartbeat_timeout=lifecycle_hooks.launch_timeout_seconds,
                    default_result="ABANDON",
                ),
                AutoscalingGroupInitialLifecycleHook(
                    name=lifecycle_hooks.terminate_hook_name,
                    lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
                    heartbeat_timeout=lifecycle_hooks.terminate_timeout_seconds,
                    default_result="CONTINUE",
                ),
            ],
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {
                    "min_healthy_percentage": rollout.minimum_healthy_percent,
                    "max_healthy_percentage": 100,
                    "instance_warmup": Token.as_string(instance_warmup_seconds),
                    "skip_matching": True,
                    "auto_rollback": True,
                    # The refresh stops and rolls back when the network loses health: a replaced
                    # node that does not come back ready fails the refresh instead of the next
                    # node being stopped.
                    **(
                        {"alarm_specification": {"alarms": list(rollout_alarm_names)}}
                        if rollout_alarm_names
                        else {}
                    ),
                    "scale_in_protected_instances": "Refresh",
                    "standby_instances": "Wait",
                },
                "triggers": ["tag"],
            },
            enabled_metrics=[
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
                "GroupTerminatingInstances",
            ],
            tag=[
                AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                for key, value in (
                    ("Name", name),
                    ("AmazonECSManaged", "true"),
                    ("besu:network", naming.network_name),
                )
            ],
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
            # The hook functions and their EventBridge rules must exist before the first launch.
            depends_on=list(depends_on),
        )
        self.autoscaling_group_name: str = self.autoscaling_group.name
        self.autoscaling_group_arn: str = self.autoscaling_group.arn

        self.capacity_provider = EcsCapacityProvider(
            self,
            "capacity_provider",
            name=name,
            auto_scaling_group_provider={
                "auto_scaling_group_arn": self.autoscaling_group.arn,
                "managed_termination_protection": "ENABLED",
                "managed_draining": "ENABLED",
                # ECS requires managed scaling for managed termination protection; with the
                # group pinned at n instances it only ever asks for n.
                "managed_scaling": {
                    "status": "ENABLED",
                    "target_capacity": 100,
                    "minimum_scaling_step_size": 1,
                    "maximum_scaling_step_size": 1,
                },
            },
        )
        EcsClusterCapacityProviders(
            self,
            "cluster_capacity_providers",
            cluster_name=self.cluster.name,
            capacity_providers=[self.capacity_provider.name],
            default_capacity_provider_strategy=[
                EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(
                    capacity_provider=self.capacity_provider.name, weight=1, base=0
                )
            ],
        )

        self.task_definition = EcsTaskDefinition(
            self,
            "task_definition",
            family=name,
            network_mode="host",
            requires_compatibilities=["EC2"],
            container_definitions=self._container_definitions(
                naming,
                platform,
                protocol,
                sizing,
                image,
                data_storage_format,
                consumer_apis,
                host_allowlist,
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

        self._snapshot_policy(naming, platform, kms_key_arn, snapshots)

        self.cluster_name: str = self.cluster.name
        self.cluster_arn: str = self.cluster.arn
        self.service_name: str = self.service.name
        self.instance_role_arn: str = self.instance_role.arn
        self.instance_role_name: str = self.instance_role.name
        self.node_log_group_name: str = self.node_log_group.name

    def _snapshot_policy(
        self, naming: Naming, platform: Platform, kms_key_arn: str, schedule: SnapshotSchedule
    ) -> None:
        """Data Lifecycle Manager snapshots of every data volume of this network."""
        role = IamRole(
            self,
            "snapshot_role",
            name=naming.name("snapshots"),
            description="Data Lifecycle Manager: snapshots of the validators' data volumes",
            assume_role_policy=policy_document(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "dlm.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            ),
        )
        IamRolePolicyAttachment(
            self,
            "snapshot_role_dlm",
            role=role.name,
            policy_arn=f"arn:{platform.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole",
        )
        IamRolePolicy(
            self,
            "snapshot_role_kms",
            role=role.id,
            name=naming.name("snapshots-kms"),
            policy=policy_document(
                [
                    {
                        "Sid": "SnapshotEncryptedVolumesThroughEc2",
                        "Effect": "Allow",
                        "Action": [
                            "kms:CreateGrant",
                            "kms:Decrypt",
                            "kms:DescribeKey",
                            "kms:Encrypt",
                            "kms:GenerateDataKeyWithoutPlaintext",
                            "kms:ReEncryptFrom",
                            "kms:ReEncryptTo",
                        ],
                        "Resource": kms_key_arn,
                        "Condition": {
                            "StringEquals": {
                                "kms:ViaService": f"ec2.{platform.region}.amazonaws.com"
                            }
                        },
                    }
                ]
            ),
        )
        DlmLifecyclePolicy(
            self,
            "snapshots",
            description=f"Snapshots of the data volumes of Besu network {naming.network_name}",
            execution_role_arn=role.arn,
            state="ENABLED",
            policy_details=DlmLifecyclePolicyPolicyDetails(
                resource_types=["VOLUME"],
                target_tags={DATA_VOLUME_TAG: naming.network_name},
                schedule=[
                    DlmLifecyclePolicyPolicyDetailsSchedule(
                        name="periodic",
                        copy_tags=True,
                        create_rule={"interval": schedule.interval_hours, "interval_unit": "HOURS"},
                        retain_rule={"count": schedule.retention_count},
                        tags_to_add={"besu:snapshot": "dlm"},
                    )
                ],
            ),
        )

    def _instance_role(
        self,
        naming: Naming,
        platform: Platform,
        slot_secret_arns: Sequence[str],
        artifact_bucket_arn: str,
        object_keys: Sequence[str],
        kms_key_arn: str,
    ) -> IamRole:
        role = IamRole(
            self,
            "instance_role",
            name=instance_role_name(naming),
            description="Validator hosts: ECS agent, SSM, CloudWatch agent, own slot's key",
            assume_role_policy=policy_document(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            ),
        )
        for managed in (
            "AmazonSSMManagedInstanceCore",
            "service-role/AmazonEC2ContainerServiceforEC2Role",
            "CloudWatchAgentServerPolicy",
        ):
            IamRolePolicyAttachment(
                self,
                "instance_" + managed.rsplit("/", 1)[-1],
                role=role.name,
                policy_arn=f"arn:{platform.partition}:iam::aws:policy/{managed}",
            )
        statements: list[Statement] = [
            {
                # Each secret's resource policy admits only the instance that holds the slot.
                "Sid": "ReadSlotKey",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": list(slot_secret_arns),
            },
            {
                "Sid": "ReadNetworkFiles",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"{artifact_bucket_arn}/{key}" for key in object_keys],
            },
            {
                # The host bootstrap reads the NLB's addresses (its health check sends one as
                # Host, which Besu's allow-list must admit). Describe actions support no
                # resource-level permissions, hence "*" (read-only; for issue 13's review).
                "Sid": "FindLoadBalancerAddresses",
                "Effect": "Allow",
                "Action": "ec2:DescribeNetworkInterfaces",
                "Resource": "*",
            },
            {
                "Sid": "DecryptThroughSecretsManagerAndS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": [
                            f"secretsmanager.{platform.region}.amazonaws.com",
                            f"s3.{platform.region}.amazonaws.com",
                        ]
                    }
                },
            },
        ]
        IamRolePolicy(
            self,
            "instance_policy",
            role=role.id,
            name=instance_role_name(naming),
            policy=policy_document(statements),
        )
        return role

    def _container_definitions(
        self,
        naming: Naming,
        platform: Platform,
        protocol: Protocol,
        sizing: NodeSizing,
        image: NodeImage,
        data_storage_format: str,
        consumer_apis: Sequence[str],
        host_allowlist: Sequence[str],
    ) -> str:
        # The one command line (besu_stack/besu/command_line.py). Plan-time values are Terraform
        # tokens whose variable validations enforce the same rules; the entry point fills in only
        # the runtime values (private IP, DNS name, load balancer IPs).
        options = BesuNodeOptions(
            protocol=protocol,
            data_storage_format=PlanValue(data_storage_format, "besu_data_storage_format"),
            consumer_apis=PlanValue(
                TerraformLocal(self, "consumer_apis", Fn.join(",", list(consumer_apis))).as_string,
                "rpc_consumer_apis",
            ),
            # Zero or more ",<host>" items, as PlanValue host lists are rendered.
            host_allowlist=PlanValue(
                TerraformLocal(
                    self,
                    "host_allowlist",
                    # join(",", concat([""], hosts)): "" for none, ",a,b" for [a, b].
                    Fn.join(",", Token.as_list(Fn.concat([[""], host_allowlist]))),
                ).as_string,
                "rpc_host_allowlist",
            ),
        )
        ecr = Fn.format(
            "%s.dkr.ecr.%s.%s", [platform.account_id, platform.region, platform.dns_suffix]
        )
        # A bare repository name is an ECR repository of this account and region.
        repository = Fn.conditional(
            Fn.strcontains(image.repository, "/"),
            image.repository,
            Fn.join("/", [ecr, image.repository]),
        )
        # A digest pins with "@", a tag with ":".
        image_ref = TerraformLocal(
            self,
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
                "startPeriod": 120,
            },
            "stopTimeout": 120,
            "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": self.node_log_group.name,
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
