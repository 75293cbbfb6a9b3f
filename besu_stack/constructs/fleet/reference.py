"""The validator fleet as the constructs created before it see it: names, ARNs, grants.

The fleet (cluster, Auto Scaling group, service, hosts' role) is created last, because no host
may launch before the lifecycle hooks, the keys and the alarms exist; yet the hooks, the health
checker and the alarms need permissions on it. Its names derive from the network name
(:class:`~besu_stack.constructs.identity.NetworkIdentity`), so this reference knows them up
front, and the permissions on the fleet's resources are written here, next to the names of the
resources they protect. :class:`~besu_stack.constructs.fleet.validator_fleet.ValidatorFleet`
creates its resources under exactly these names.
"""

from __future__ import annotations

from besu_stack.constructs.iam import Grantable, Statement
from besu_stack.constructs.identity import NetworkIdentity

ECS_AGENT_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html"
ECS_ACTIONS_DOC = (
    "https://docs.aws.amazon.com/service-authorization/latest/reference/"
    "list_amazonelasticcontainerservice.html"
)
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
"""The AWS-owned SSM document the termination hook runs (its ARN names no account)."""


class FleetReference:
    """Names, ARNs and grants of the validator fleet, known before it exists.

    Attributes: ``cluster_name``, ``cluster_arn``, ``service_name``, ``autoscaling_group_name``,
    ``autoscaling_group_arn``, ``instance_role_name``, ``instance_role_arn``.
    """

    def __init__(self, identity: NetworkIdentity) -> None:
        self._identity = identity
        self.cluster_name = identity.fleet_name
        self.cluster_arn = identity.cluster_arn
        self.service_name = identity.fleet_name
        self.autoscaling_group_name = identity.fleet_name
        self.autoscaling_group_arn = identity.autoscaling_group_arn
        self.instance_role_name = identity.instance_role_name
        self.instance_role_arn = identity.instance_role_arn

    @property
    def _in_cluster(self) -> dict[str, dict[str, str]]:
        return {"ArnEquals": {"ecs:cluster": self.cluster_arn}}

    @property
    def instances_of_the_group(self) -> dict[str, dict[str, str]]:
        """The condition that limits an EC2 action to this group's instances.

        By the tag Auto Scaling puts on them, ``aws:autoscaling:groupName``.
        """
        return {
            "StringEquals": {
                "aws:ResourceTag/aws:autoscaling:groupName": self.autoscaling_group_name
            }
        }

    def grant_restart_tasks(self, grantee: Grantable) -> None:
        """Find the task on a host of the cluster and stop it (the service starts a new one)."""
        identity = self._identity
        for statement in (
            {
                "Sid": "ListClusterInstances",
                "Effect": "Allow",
                "Action": "ecs:ListContainerInstances",
                "Resource": self.cluster_arn,
            },
            {
                "Sid": "FindTasksOnClusterInstances",
                "Effect": "Allow",
                "Action": ["ecs:DescribeContainerInstances", "ecs:ListTasks"],
                "Resource": identity.container_instances_arn,
                "Condition": self._in_cluster,
            },
            {
                "Sid": "RestartClusterTasks",
                "Effect": "Allow",
                "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
                "Resource": identity.tasks_arn,
                "Condition": self._in_cluster,
            },
        ):
            grantee.add_to_policy(statement)

    def grant_replace_instances(self, grantee: Grantable) -> None:
        """Mark a host of the group unhealthy, so Auto Scaling replaces it."""
        grantee.add_to_policy(
            {
                # Supports no resource-level permissions: "*" is the only resource it accepts.
                # It is read-only (which group owns an instance).
                "Sid": "FindInstancesGroupNoResourceLevelSupport",
                "Effect": "Allow",
                "Action": "autoscaling:DescribeAutoScalingInstances",
                "Resource": "*",
            }
        )
        grantee.add_to_policy(
            {
                "Sid": "ReplaceGroupInstances",
                "Effect": "Allow",
                "Action": "autoscaling:SetInstanceHealth",
                "Resource": self.autoscaling_group_arn,
            }
        )

    def grant_complete_lifecycle_actions(self, grantee: Grantable, *, heartbeat: bool) -> None:
        """Complete the group's lifecycle actions (and, with ``heartbeat``, extend them)."""
        actions = ["autoscaling:CompleteLifecycleAction"]
        if heartbeat:
            actions.append("autoscaling:RecordLifecycleActionHeartbeat")
        grantee.add_to_policy(
            {
                "Sid": "CompleteHooksOfTheValidatorGroup",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": self.autoscaling_group_arn,
            }
        )

    def grant_drain_instances(self, grantee: Grantable) -> None:
        """Find a host's container instance and set it to DRAINING (ECS stops its task)."""
        grantee.add_to_policy(
            {
                "Sid": "FindContainerInstances",
                "Effect": "Allow",
                "Action": "ecs:ListContainerInstances",
                "Resource": self.cluster_arn,
            }
        )
        grantee.add_to_policy(
            {
                "Sid": "DrainContainerInstances",
                "Effect": "Allow",
                "Action": ["ecs:DescribeContainerInstances", "ecs:UpdateContainerInstancesState"],
                "Resource": self._identity.container_instances_arn,
                "Condition": self._in_cluster,
            }
        )

    def grant_run_shell_commands(self, grantee: Grantable) -> None:
        """Run ``AWS-RunShellScript`` on the group's hosts and read the result."""
        platform = self._identity.platform
        for statement in (
            {
                "Sid": "RunShellScriptDocument",
                "Effect": "Allow",
                "Action": "ssm:SendCommand",
                "Resource": platform.arn("ssm", f"document/{RUN_SHELL_SCRIPT}", in_account=False),
            },
            {
                "Sid": "RunOnValidatorInstances",
                "Effect": "Allow",
                "Action": "ssm:SendCommand",
                "Resource": self._identity.instances_arn,
                "Condition": {
                    "StringEquals": {
                        "ssm:resourceTag/aws:autoscaling:groupName": self.autoscaling_group_name
                    }
                },
            },
            {
                # GetCommandInvocation has no resource-level permissions; it reads the result
                # of the command above and nothing else of value.
                "Sid": "ReadCommandResultNoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": "ssm:GetCommandInvocation",
                "Resource": "*",
            },
        ):
            grantee.add_to_policy(statement)

    def grant_tag_instances(self, grantee: Grantable, tag_key_pattern: str) -> None:
        """Tag the group's hosts with keys matching ``tag_key_pattern`` (e.g. ``besu:*``)."""
        grantee.add_to_policy(
            {
                "Sid": "TagValidatorInstances",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": self._identity.instances_arn,
                "Condition": {
                    **self.instances_of_the_group,
                    "ForAllValues:StringLike": {"aws:TagKeys": [tag_key_pattern]},
                },
            }
        )

    def ecs_agent_statements(self, log_group_arn: str) -> list[Statement]:
        """What the ECS agent does on a host of this cluster, and nothing for any other cluster.

        The actions of ``AmazonEC2ContainerServiceforEC2Role`` the agent uses (``ECS_AGENT_DOC``)
        with the resource types of the Service Authorization Reference (``ECS_ACTIONS_DOC``):
        registration and state changes on the cluster, polling and telemetry on this cluster's
        container instances. There is no task execution role, so the agent pulls the image and
        writes the awslogs stream with these credentials: ECR reads in this account and region,
        and the node log group only. ``ecs:CreateCluster`` (the agent's "default" cluster) and
        tagging are left out: ``ECS_CLUSTER`` is always set and no instance tags are propagated.
        """
        identity = self._identity
        return [
            {
                "Sid": "EcsAgentOnThisCluster",
                "Effect": "Allow",
                "Action": sorted(
                    [
                        "ecs:DeregisterContainerInstance",
                        "ecs:RegisterContainerInstance",
                        "ecs:SubmitAttachmentStateChanges",
                        "ecs:SubmitContainerStateChange",
                        "ecs:SubmitTaskStateChange",
                    ]
                ),
                "Resource": self.cluster_arn,
            },
            {
                "Sid": "EcsAgentOnThisClustersInstances",
                "Effect": "Allow",
                "Action": sorted(
                    ["ecs:Poll", "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState"]
                ),
                "Resource": identity.container_instances_arn,
            },
            {
                # DiscoverPollEndpoint and GetAuthorizationToken support no resource-level
                # permissions (ECS_ACTIONS_DOC; ECR's list_amazonelasticcontainerregistry.html).
                "Sid": "EcsAgentActionsWithoutResources",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken", "ecs:DiscoverPollEndpoint"],
                "Resource": "*",
            },
            {
                "Sid": "PullImagesOfThisAccount",
                "Effect": "Allow",
                "Action": sorted(
                    [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ]
                ),
                "Resource": identity.arn("ecr", "repository/*"),
            },
            {
                "Sid": "WriteNodeLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
            },
        ]
