"""Capacity of the validator fleet: AMI, launch template, Auto Scaling group, capacity provider.

Resources are created in the fleet construct's scope with their historical ids, so their
Terraform addresses do not change (tests/synth/test_resource_addresses.py).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

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
from cdktf_cdktf_provider_aws.data_aws_ec2_instance_type import DataAwsEc2InstanceType
from cdktf_cdktf_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktf_cdktf_provider_aws.ecs_capacity_provider import EcsCapacityProvider
from cdktf_cdktf_provider_aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateNetworkInterfaces,
    LaunchTemplateTagSpecifications,
)
from constructs import Construct

from besu_stack.constructs.fleet.host_bootstrap import host_bootstrap_script
from besu_stack.constructs.fleet.names import (
    ECS_AMI_PARAMETER,
    LifecycleHooks,
    NodeSizing,
    fleet_name,
)
from besu_stack.constructs.naming import Naming
from besu_stack.rollout import RolloutPolicy


@dataclass(frozen=True)
class Capacity:
    """What the fleet's capacity consists of."""

    launch_template: LaunchTemplate
    autoscaling_group: AutoscalingGroup
    capacity_provider: EcsCapacityProvider


def validator_capacity(
    scope: Construct,
    *,
    naming: Naming,
    cluster_name: str,
    validator_count: int,
    rollout: RolloutPolicy,
    sizing: NodeSizing,
    subnet_ids: Sequence[str],
    node_security_group_id: str,
    kms_key_arn: str,
    instance_profile_arn: str,
    lifecycle_hooks: LifecycleHooks,
    rollout_alarm_names: Sequence[str],
    load_balancer_name: str | None,
    rpc_token_key_alias: str,
    depends_on: Sequence[ITerraformDependable],
    instance_warmup_seconds: float,
) -> Capacity:
    """The Auto Scaling capacity of the ECS cluster ``cluster_name``, created in ``scope``.

    * the ECS-optimized Amazon Linux 2023 AMI of the instance type's architecture (public SSM
      parameter, read at plan time);
    * a launch template: IMDSv2 required with a hop limit of 1 (Besu uses host networking, so no
      container hop is needed), encrypted gp3 root volume with the network key, detailed
      monitoring, no SSH key, no public IP, the node security group and the host bootstrap as
      user data;
    * an Auto Scaling group of exactly ``validator_count`` instances with the lifecycle hooks and
      an instance refresh that keeps the rollout's minimum healthy percentage;
    * a capacity provider (managed termination protection and draining) as the cluster default.
    """
    name = fleet_name(naming)
    instance_type = DataAwsEc2InstanceType(
        scope, "instance_type", instance_type=sizing.instance_type
    )
    ami_parameter = TerraformLocal(
        scope,
        "ecs_ami_parameter",
        Fn.conditional(
            Fn.contains(instance_type.supported_architectures, "arm64"),
            ECS_AMI_PARAMETER.format(arch="arm64/"),
            ECS_AMI_PARAMETER.format(arch=""),
        ),
    )
    ami = DataAwsSsmParameter(scope, "ecs_ami", name=ami_parameter.as_string)

    launch_template = LaunchTemplate(
        scope,
        "launch_template",
        name=name,
        description=f"Validator hosts of Besu network {naming.network_name}",
        image_id=ami.value,
        instance_type=sizing.instance_type,
        update_default_version=True,
        iam_instance_profile={"arn": instance_profile_arn},
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
                wait_seconds=lifecycle_hooks.launch_timeout_seconds,
                load_balancer_name=load_balancer_name,
                rpc_token_key=rpc_token_key_alias,
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

    autoscaling_group = AutoscalingGroup(
        scope,
        "autoscaling_group",
        name=name,
        min_size=validator_count,
        max_size=validator_count,
        desired_capacity=validator_count,
        vpc_zone_identifier=list(subnet_ids),
        launch_template={
            "id": launch_template.id,
            "version": Token.as_string(launch_template.latest_version),
        },
        # EC2 status only: the deep health check decides when a node is replaced, within f.
        # An ELB health check here would replace every node at once when the chain stalls.
        health_check_type="EC2",
        health_check_grace_period=600,
        protect_from_scale_in=True,
        # Destroy deletes the group with its instances: scale-in protection (which ECS
        # managed termination protection needs) would otherwise leave the group waiting to
        # scale to zero until the delete times out (terraform-provider-aws #18849,
        # hashicorp/terraform #18507, aws-cdk #18179). Only a destroy or a replacement of
        # the group uses it.
        force_delete=True,
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

    capacity_provider = EcsCapacityProvider(
        scope,
        "capacity_provider",
        name=name,
        auto_scaling_group_provider={
            "auto_scaling_group_arn": autoscaling_group.arn,
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
        scope,
        "cluster_capacity_providers",
        cluster_name=cluster_name,
        capacity_providers=[capacity_provider.name],
        default_capacity_provider_strategy=[
            EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(
                capacity_provider=capacity_provider.name, weight=1, base=0
            )
        ],
    )

    return Capacity(launch_template, autoscaling_group, capacity_provider)
