"""Key, volume and identity follow the validator: lifecycle-hook Lambdas, reconciler, node DNS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from cdktf import ITerraformDependable, Token
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.route53_zone import Route53Zone, Route53ZoneVpc
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from besu_stack.constructs.iam import Statement
from besu_stack.constructs.naming import Naming
from besu_stack.constructs.platform import Platform
from besu_stack.constructs.python_function import PythonFunction
from besu_stack.constructs.registry import ValidatorRegistry

HOOK_FUNCTION_TIMEOUT_SECONDS = 300
"""Timeout of the launch and termination functions: each run completes its lifecycle action
(or undoes and abandons) within it, as its time budget keeps a reserve for that
(``tests/lambdas/test_time_budgets.py``)."""
RECONCILER_TIMEOUT_SECONDS = 120
DELIVERY_MARGIN_SECONDS = 120
"""From the lifecycle action to the function's start: EventBridge delivery, Lambda's
asynchronous queue and a cold start."""
LAUNCH_HOOK_TIMEOUT_SECONDS = HOOK_FUNCTION_TIMEOUT_SECONDS + DELIVERY_MARGIN_SECONDS
"""How long a launching instance may wait for its slot (the launch Lambda's lease matches).

A run that waits for a slot's release records a heartbeat, which restarts this timeout before
Lambda retries the event. It must stay well inside Terraform's wait for the group's capacity on
the first apply (``wait_for_capacity_timeout``, default 10 minutes, for the instances to be
InService: https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/autoscaling_group#wait_for_capacity_timeout)."""
TERMINATE_HOOK_TIMEOUT_SECONDS = 600
"""The termination function's run (stop Besu, drain, unmount, detach, snapshot start; at most
its timeout) plus the delivery margin, with room to spare."""
METRIC_NAMESPACE = "BesuStack/Validators"


@dataclass(frozen=True)
class DataVolumeSpec:
    """Size and performance of each slot's gp3 data volume (tokens or literals)."""

    size_gib: float
    iops: float
    throughput_mibps: float


def hook_names(naming: Naming) -> tuple[str, str]:
    """Names of the launch and termination lifecycle hooks of the validators' group."""
    return naming.name("launch"), naming.name("terminate")


class NodeLifecycle(Construct):
    """Moves a validator's key, volume and DNS name to whichever instance holds its slot.

    * A private hosted zone ``node_domain`` in the VPC: slot ``i`` is ``validator-<i>``.
    * The launch hook Lambda (EventBridge ``EC2 Instance-launch Lifecycle Action`` of the
      validators' group): claims a slot with one conditional write, attaches or creates (or
      restores in another AZ) the slot's encrypted gp3 volume, points the slot's name at the
      instance, opens the slot's secret to this instance only, tags the instance with the
      slot's public configuration and completes the hook; on failure it undoes its steps and
      abandons the hook.
    * The termination hook Lambda: marks the slot as being released, drains the container
      instance (ECS stops Besu), unmounts the volume on the host (SSM Run Command), detaches
      and snapshots it, releases the slot if this instance owns it.
    * The reconciler (every 5 minutes): releases slots of vanished instances and reports stuck
      ones (metric ``SlotsStuck``).
    * A KMS-encrypted dead-letter queue for events the hook functions could not process.

    The three functions run outside the VPC: they call only AWS APIs, Route 53's among them,
    which no VPC endpoint serves. The functions' IAM is scoped to the network's table, zone,
    secrets, Auto Scaling group and Network-tagged volumes; EC2 ``Describe*`` calls have no
    resource-level permissions.

    Attributes: ``zone_id``, ``zone_name``, ``launch_function``, ``termination_function``,
    ``reconciler_function``, ``dead_letter_queue_arn``, ``function_names``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        naming: Naming,
        platform: Platform,
        vpc_id: str,
        node_domain: str,
        registry: ValidatorRegistry,
        secret_name_prefix: str,
        artifact_bucket_name: str,
        kms_key_arn: str,
        autoscaling_group_name: str,
        cluster_name: str,
        instance_role_arn: str,
        data_volume: DataVolumeSpec,
        log_retention_days: float,
    ) -> None:
        super().__init__(scope, id)
        self.zone = Route53Zone(
            self,
            "zone",
            name=node_domain,
            comment=f"Stable names of the validators of Besu network {naming.network_name}",
            vpc=[Route53ZoneVpc(vpc_id=vpc_id)],
            # The launch hook writes the validator-<slot> records, so they are not in state;
            # without this a destroy would fail on a non-empty zone.
            force_destroy=True,
        )
        self.zone_id: str = self.zone.zone_id
        self.zone_name: str = node_domain
        self.dead_letter_queue = SqsQueue(
            self,
            "dead_letters",
            name=naming.name("lifecycle-dead-letters"),
            kms_master_key_id=kms_key_arn,
            message_retention_seconds=14 * 24 * 3600,
        )
        self.dead_letter_queue_arn: str = self.dead_letter_queue.arn

        launch_hook, terminate_hook = hook_names(naming)
        partition, region, account = platform.partition, platform.region, platform.account_id
        asg_arn = (
            f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:"
            f"autoScalingGroupName/{autoscaling_group_name}"
        )
        cluster_arn = f"arn:{partition}:ecs:{region}:{account}:cluster/{cluster_name}"
        secrets_arn = f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_name_prefix}/validator-*"
        volumes = f"arn:{partition}:ec2:{region}:{account}:volume/*"
        instances = f"arn:{partition}:ec2:{region}:{account}:instance/*"
        snapshots = f"arn:{partition}:ec2:{region}::snapshot/*"
        network_tag = {"StringEquals": {"aws:ResourceTag/Network": naming.network_name}}
        ec2_via = {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}}

        common: list[Statement] = [
            {
                "Sid": "Registry",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"],
                "Resource": registry.table_arn,
            },
            {
                "Sid": "DescribeHasNoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": ["ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeVolumes"],
                "Resource": "*",
            },
            {
                "Sid": "SlotSecretAccessPolicies",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetResourcePolicy", "secretsmanager:PutResourcePolicy"],
                "Resource": secrets_arn,
            },
            {
                "Sid": "OnlyNonPublicSecretPolicies",
                "Effect": "Deny",
                "Action": "secretsmanager:PutResourcePolicy",
                "Resource": secrets_arn,
                "Condition": {"Bool": {"secretsmanager:BlockPublicPolicy": "false"}},
            },
            {
                "Sid": "DetachNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:DetachVolume",
                "Resource": volumes,
                "Condition": network_tag,
            },
            {
                "Sid": "DetachFromInstances",
                "Effect": "Allow",
                "Action": "ec2:DetachVolume",
                "Resource": instances,
            },
            {
                "Sid": "CompleteHooksOfTheValidatorGroup",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:CompleteLifecycleAction",
                    "autoscaling:RecordLifecycleActionHeartbeat",
                ],
                "Resource": asg_arn,
            },
            {
                "Sid": "Metrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            },
        ]
        launch_only: list[Statement] = [
            {
                "Sid": "CreateEncryptedNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateVolume",
                "Resource": volumes,
                "Condition": {
                    "StringEquals": {
                        "aws:RequestTag/Network": naming.network_name,
                        "ec2:VolumeType": "gp3",
                    },
                    "Bool": {"ec2:Encrypted": "true"},
                },
            },
            {
                "Sid": "RestoreFromNetworkSnapshots",
                "Effect": "Allow",
                "Action": "ec2:CreateVolume",
                "Resource": snapshots,
                "Condition": network_tag,
            },
            {
                "Sid": "TagNewVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": volumes,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateVolume"}},
            },
            {
                "Sid": "MarkSupersededVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": volumes,
                "Condition": {
                    "StringEquals": {"aws:ResourceTag/Network": naming.network_name},
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": [
                            "besu:superseded-by",
                            "besu:superseded-slot",
                            "besu:superseded-at",
                        ]
                    },
                },
            },
            {
                "Sid": "TakeSupersededVolumesOutOfTheirSlot",
                "Effect": "Allow",
                "Action": "ec2:DeleteTags",
                "Resource": volumes,
                "Condition": {
                    "StringEquals": {"aws:ResourceTag/Network": naming.network_name},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["Slot"]},
                },
            },
            {
                "Sid": "TagValidatorInstances",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": instances,
                "Condition": {
                    "StringEquals": {
                        "aws:ResourceTag/aws:autoscaling:groupName": autoscaling_group_name
                    },
                    "ForAllValues:StringLike": {"aws:TagKeys": ["besu:*"]},
                },
            },
            {
                "Sid": "AttachNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:AttachVolume",
                "Resource": volumes,
                "Condition": network_tag,
            },
            {
                "Sid": "AttachToValidatorInstances",
                "Effect": "Allow",
                "Action": "ec2:AttachVolume",
                "Resource": instances,
                "Condition": {
                    "StringEquals": {
                        "aws:ResourceTag/aws:autoscaling:groupName": autoscaling_group_name
                    }
                },
            },
            {
                "Sid": "DeleteVolumesOfFailedLaunches",
                "Effect": "Allow",
                "Action": "ec2:DeleteVolume",
                "Resource": volumes,
                "Condition": network_tag,
            },
            {
                "Sid": "VolumeKeyThroughEc2",
                "Effect": "Allow",
                "Action": [
                    "kms:CreateGrant",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                ],
                "Resource": kms_key_arn,
                "Condition": ec2_via,
            },
            {
                "Sid": "PointSlotNamesAtInstances",
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": f"arn:{partition}:route53:::hostedzone/{self.zone.zone_id}",
                "Condition": {
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                        "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
                    },
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                            f"validator-*.{node_domain}"
                        ]
                    },
                },
            },
        ]
        reconciler_only: list[Statement] = [
            {
                "Sid": "DeleteSupersededVolumesAfterRetention",
                "Effect": "Allow",
                "Action": "ec2:DeleteVolume",
                "Resource": volumes,
                "Condition": {
                    "StringEquals": {"aws:ResourceTag/Network": naming.network_name},
                    "StringLike": {"aws:ResourceTag/besu:superseded-by": "vol-*"},
                },
            },
        ]
        termination_only: list[Statement] = [
            {
                "Sid": "SnapshotNetworkVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateSnapshot",
                "Resource": volumes,
                "Condition": network_tag,
            },
            {
                "Sid": "CreateNetworkSnapshots",
                "Effect": "Allow",
                "Action": ["ec2:CreateSnapshot", "ec2:CreateTags"],
                "Resource": snapshots,
                "Condition": {"StringEquals": {"aws:RequestTag/Network": naming.network_name}},
            },
            {
                "Sid": "UnmountWithRunShellScript",
                "Effect": "Allow",
                "Action": "ssm:SendCommand",
                "Resource": f"arn:{partition}:ssm:{region}::document/AWS-RunShellScript",
            },
            {
                "Sid": "UnmountOnValidatorInstances",
                "Effect": "Allow",
                "Action": "ssm:SendCommand",
                "Resource": instances,
                "Condition": {
                    "StringEquals": {
                        "ssm:resourceTag/aws:autoscaling:groupName": autoscaling_group_name
                    }
                },
            },
            {
                # GetCommandInvocation has no resource-level permissions; it reads the result
                # of the command above and nothing else of value.
                "Sid": "ReadUnmountResult",
                "Effect": "Allow",
                "Action": "ssm:GetCommandInvocation",
                "Resource": "*",
            },
            {
                "Sid": "FindContainerInstances",
                "Effect": "Allow",
                "Action": "ecs:ListContainerInstances",
                "Resource": cluster_arn,
            },
            {
                "Sid": "DrainContainerInstances",
                "Effect": "Allow",
                "Action": ["ecs:DescribeContainerInstances", "ecs:UpdateContainerInstancesState"],
                "Resource": f"arn:{partition}:ecs:{region}:{account}:container-instance/{cluster_name}/*",
                "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
            },
        ]
        environment = {
            "NETWORK_NAME": naming.network_name,
            "REGISTRY_TABLE_NAME": registry.table_name,
            "ARTIFACT_BUCKET_NAME": artifact_bucket_name,
            "PRIVATE_ZONE_ID": self.zone.zone_id,
            "PRIVATE_ZONE_DOMAIN": node_domain,
            "INSTANCE_ROLE_ARN": instance_role_arn,
            "DATA_VOLUME_KMS_KEY_ID": kms_key_arn,
            "DATA_VOLUME_SIZE_GIB": Token.as_string(data_volume.size_gib),
            "DATA_VOLUME_IOPS": Token.as_string(data_volume.iops),
            "DATA_VOLUME_THROUGHPUT_MIBPS": Token.as_string(data_volume.throughput_mibps),
            "LAUNCH_LEASE_SECONDS": str(LAUNCH_HOOK_TIMEOUT_SECONDS),
            "ECS_CLUSTER_NAME": cluster_name,
            "METRIC_NAMESPACE": METRIC_NAMESPACE,
        }

        sqs_via: Statement = {
            "Sid": "DeadLetterQueueKeyThroughSqs",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
        }
        common.append(sqs_via)

        def function(
            construct_id: str,
            short: str,
            handler: str,
            statements: list[Statement],
            timeout: int,
            concurrency: int,
            description: str,
        ) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                function_name=naming.name(short),
                source="lifecycle",
                handler=handler,
                description=description,
                platform=platform,
                statements=statements,
                environment={**environment, "FUNCTION_TIMEOUT_SECONDS": str(timeout)},
                kms_key_arn=kms_key_arn,
                log_retention_days=log_retention_days,
                # Outside the VPC: these functions call only AWS APIs, and Route 53's API has no
                # VPC endpoint (it is not among the services of
                # https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html),
                # so from the isolated subnets ChangeResourceRecordSets could never connect.
                # Outside a VPC, Lambda reaches every public AWS endpoint
                # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html).
                subnet_ids=None,
                dead_letter_queue_arn=self.dead_letter_queue.arn,
                timeout_seconds=timeout,
                reserved_concurrency=concurrency,
            )

        self.launch_function = function(
            "launch",
            "launch-hook",
            "launch_handler",
            [*common, *launch_only],
            HOOK_FUNCTION_TIMEOUT_SECONDS,
            3,
            "Claims a slot for a launching validator host and gives it the slot's volume, name and key access",
        )
        self.termination_function = function(
            "termination",
            "terminate-hook",
            "termination_handler",
            [*common, *termination_only],
            HOOK_FUNCTION_TIMEOUT_SECONDS,
            3,
            "Drains a terminating validator host, detaches and snapshots its volume, releases its slot",
        )
        self.reconciler_function = function(
            "reconciler",
            "reconciler",
            "reconcile_handler",
            [*common, *reconciler_only],
            RECONCILER_TIMEOUT_SECONDS,
            1,
            "Releases slots of vanished instances and reports stuck slots",
        )
        self.event_wiring: list[ITerraformDependable] = []
        """The rules, targets and invoke permissions: every host must launch after them, or its
        lifecycle events are lost and it waits out the hook's timeout."""
        self.function_names = {
            "launch": self.launch_function.function_name,
            "terminate": self.termination_function.function_name,
            "reconciler": self.reconciler_function.function_name,
        }

        for construct_id, detail_type, hook, target in (
            (
                "launch_rule",
                "EC2 Instance-launch Lifecycle Action",
                launch_hook,
                self.launch_function,
            ),
            (
                "terminate_rule",
                "EC2 Instance-terminate Lifecycle Action",
                terminate_hook,
                self.termination_function,
            ),
        ):
            pattern = {
                "source": ["aws.autoscaling"],
                "detail-type": [detail_type],
                "detail": {
                    "AutoScalingGroupName": [autoscaling_group_name],
                    "LifecycleHookName": [hook],
                },
            }
            self._rule(
                construct_id,
                naming.name(hook.removeprefix(naming.network_name + "-") + "-hook"),
                target,
                event_pattern=pattern,
            )
        self._rule(
            "reconcile_schedule",
            naming.name("reconcile"),
            self.reconciler_function,
            schedule="rate(5 minutes)",
        )

    def _rule(
        self,
        construct_id: str,
        name: str,
        target: PythonFunction,
        *,
        event_pattern: Mapping[str, object] | None = None,
        schedule: str | None = None,
    ) -> None:
        rule = CloudwatchEventRule(
            self,
            construct_id,
            name=name,
            description=f"Invokes {name}",
            event_pattern=json.dumps(event_pattern, sort_keys=True) if event_pattern else None,
            schedule_expression=schedule,
        )
        # EventBridge invokes asynchronously: Lambda retries twice, then the function's
        # dead-letter queue keeps the event.
        event_target = CloudwatchEventTarget(
            self, f"{construct_id}_target", rule=rule.name, arn=target.function_arn
        )
        permission = LambdaPermission(
            self,
            f"{construct_id}_permission",
            action="lambda:InvokeFunction",
            function_name=target.function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )
        self.event_wiring.extend([rule, event_target, permission])
