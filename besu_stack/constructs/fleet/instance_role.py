"""The validator hosts' IAM role: scoped inline policies, no AWS-managed policy."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from besu_stack.constructs.fleet.names import instance_role_name
from besu_stack.constructs.iam import Statement, policy_document
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform

CLOUDWATCH_AGENT_NAMESPACE = "CWAgent"
"""The namespace the hosts' CloudWatch agent publishes to (its configuration in
``host_bootstrap.py``); never the stack's own ``BesuStack`` namespace."""

ECS_AGENT_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html"
ECS_ACTIONS_DOC = (
    "https://docs.aws.amazon.com/service-authorization/latest/reference/"
    "list_amazonelasticcontainerservice.html"
)


def ecs_agent_statements(
    platform: Platform, *, cluster_arn: str, cluster_name: str, log_group_arn: str
) -> list[Statement]:
    """What the ECS agent does on a host of this cluster, and nothing for any other cluster.

    The actions of ``AmazonEC2ContainerServiceforEC2Role`` the agent uses (``ECS_AGENT_DOC``)
    with the resource types of the Service Authorization Reference (``ECS_ACTIONS_DOC``):
    registration and state changes on the cluster, polling and telemetry on this cluster's
    container instances. There is no task execution role, so the agent pulls the image and
    writes the awslogs stream with these credentials: ECR reads in this account and region, and
    the node log group only. ``ecs:CreateCluster`` (the agent's "default" cluster) and tagging are
    left out: ``ECS_CLUSTER`` is always set and no instance tags are propagated.
    """
    container_instances = platform.arn("ecs", f"container-instance/{cluster_name}/*")
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
            "Resource": cluster_arn,
        },
        {
            "Sid": "EcsAgentOnThisClustersInstances",
            "Effect": "Allow",
            "Action": sorted(
                ["ecs:Poll", "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState"]
            ),
            "Resource": container_instances,
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
            "Resource": platform.arn("ecr", "repository/*"),
        },
        {
            "Sid": "WriteNodeLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        },
    ]


def session_manager_statements(platform: Platform) -> list[Statement]:
    """Session Manager and Run Command channels, and no parameter or document reads.

    The minimum the Session Manager guide lists for an instance profile ("Step 2: Verify or add
    instance permissions for Session Manager",
    https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-create-iam-instance-profile.html):
    the ``ssmmessages`` channel actions and ``ssm:UpdateInstanceInformation``; plus the
    ``ec2messages`` actions the agent polls for commands. None of ``AmazonSSMManagedInstanceCore``'s
    ``ssm:GetParameter*``/``GetDocument``/``ListAssociations``: a host reads no parameters.
    """
    return [
        {
            # The message channels support no resource-level permissions.
            "Sid": "SessionManagerChannels",
            "Effect": "Allow",
            "Action": sorted(
                [
                    "ec2messages:AcknowledgeMessage",
                    "ec2messages:DeleteMessage",
                    "ec2messages:FailMessage",
                    "ec2messages:GetEndpoint",
                    "ec2messages:GetMessages",
                    "ec2messages:SendReply",
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                ]
            ),
            "Resource": "*",
        },
        {
            "Sid": "SsmAgentReportsThisAccountsInstances",
            "Effect": "Allow",
            "Action": "ssm:UpdateInstanceInformation",
            "Resource": platform.arn("ec2", "instance/*"),
        },
    ]


def cloudwatch_agent_statements() -> list[Statement]:
    """The CloudWatch agent: metrics in its own namespace only; it ships no logs.

    ``cloudwatch:namespace`` limits ``PutMetricData`` ("Using condition keys to limit access to
    CloudWatch namespaces",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html),
    so a host cannot forge the ``BesuStack`` metrics behind the rollback and stall alarms. The
    agent's configuration collects disk metrics only (no ``logs`` section), so it needs no log
    group. ``ec2:DescribeTags`` resolves the ``${aws:AutoScalingGroupName}`` dimension.
    """
    return [
        {
            # PutMetricData and DescribeTags support no resource-level permissions.
            "Sid": "CloudWatchAgentOwnNamespace",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": CLOUDWATCH_AGENT_NAMESPACE}},
        },
        {
            "Sid": "CloudWatchAgentResolvesItsGroup",
            "Effect": "Allow",
            "Action": "ec2:DescribeTags",
            "Resource": "*",
        },
    ]


def instance_role(
    scope: Construct,
    *,
    naming: Naming,
    platform: Platform,
    cluster_arn: str,
    cluster_name: str,
    node_log_group_arn: str,
    artifact_bucket_arn: str,
    object_keys: Sequence[str],
    kms_key_arn: str,
) -> IamRole:
    """The validator hosts' role, created in ``scope``, with inline policies only.

    The ECS agent for this cluster, Session Manager without parameter reads, the CloudWatch
    agent in its own namespace, reading the two network files (decrypting them through S3),
    finding the load balancer's addresses. No statement names the slot secrets or their key: a
    host reads its slot's key only because that secret's resource policy, written by the launch
    hook, allows this role from that one instance (``ec2:SourceInstanceARN``), and the secrets'
    own key admits this role through Secrets Manager (``ValidatorKeys.grant_decrypt``); a
    secret without such a policy is closed to every host.
    """
    role = IamRole(
        scope,
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
    statements: list[Statement] = [
        *ecs_agent_statements(
            platform,
            cluster_arn=cluster_arn,
            cluster_name=cluster_name,
            log_group_arn=node_log_group_arn,
        ),
        *session_manager_statements(platform),
        *cloudwatch_agent_statements(),
        {
            "Sid": "ReadNetworkFiles",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"{artifact_bucket_arn}/{key}" for key in object_keys],
        },
        {
            # The host bootstrap reads the NLB's addresses (its health check sends one as
            # Host, which Besu's allow-list must admit). Describe actions support no
            # resource-level permissions, hence "*" (read-only).
            "Sid": "FindLoadBalancerAddresses",
            "Effect": "Allow",
            "Action": "ec2:DescribeNetworkInterfaces",
            "Resource": "*",
        },
        {
            "Sid": "DecryptNetworkFilesThroughS3",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{platform.region}.amazonaws.com"}
            },
        },
    ]
    IamRolePolicy(
        scope,
        "instance_policy",
        role=role.id,
        name=instance_role_name(naming),
        policy=policy_document(statements),
    )
    return role
