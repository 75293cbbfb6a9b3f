"""The validator hosts' IAM role: scoped inline policies, no AWS-managed policy."""

from __future__ import annotations

from constructs import Construct

from besu_stack.constructs.fleet.reference import FleetReference
from besu_stack.constructs.iam import Role, Statement, service_trust_policy
from besu_stack.constructs.identity import NetworkIdentity

CLOUDWATCH_AGENT_NAMESPACE = "CWAgent"
"""The namespace the hosts' CloudWatch agent publishes to (its configuration in
``host_bootstrap.py``); never the stack's own ``BesuStack`` namespace."""


def session_manager_statements(identity: NetworkIdentity) -> list[Statement]:
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
            "Resource": identity.instances_arn,
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
    identity: NetworkIdentity,
    reference: FleetReference,
    node_log_group_arn: str,
) -> Role:
    """The validator hosts' role, created in ``scope``, with one inline policy and no other.

    The ECS agent for this cluster, Session Manager without parameter reads, the CloudWatch
    agent in its own namespace, finding the load balancer's addresses. Other constructs add
    their grants to it: the artifact bucket the two network files
    (:meth:`~besu_stack.constructs.state_bucket.SecureBucket.grant_read`), the validator keys
    their key's use through Secrets Manager
    (:meth:`~besu_stack.constructs.validator_keys.ValidatorKeys.grant_read`). No statement names
    the slot secrets: a host reads its slot's key only because that secret's resource policy,
    written by the launch hook, allows this role from that one instance
    (``ec2:SourceInstanceARN``); a secret without such a policy is closed to every host.
    """
    role = Role(
        scope,
        "instance_role",
        name=reference.instance_role_name,
        description="Validator hosts: ECS agent, SSM, CloudWatch agent, own slot's key",
        assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
        policy_id="instance_policy",
    )
    role.add_statements(
        [
            *reference.ecs_agent_statements(node_log_group_arn),
            *session_manager_statements(identity),
            *cloudwatch_agent_statements(),
            {
                # The host bootstrap reads the NLB's addresses (its health check sends one as
                # Host, which Besu's allow-list must admit). Describe actions support no
                # resource-level permissions, hence "*" (read-only).
                "Sid": "FindLoadBalancerAddresses",
                "Effect": "Allow",
                "Action": "ec2:DescribeNetworkInterfaces",
                "Resource": "*",
            },
        ]
    )
    return role
