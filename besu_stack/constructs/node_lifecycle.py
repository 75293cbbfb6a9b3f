"""Key, volume and identity follow the validator: lifecycle-hook Lambdas, reconciler, node DNS."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cdktf import ITerraformDependable, Token
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.route53_zone import Route53Zone, Route53ZoneVpc
from constructs import Construct

from besu_stack.constructs.data_volumes import DataVolumes, DataVolumeSpec
from besu_stack.constructs.dead_letter_queue import DeadLetterQueue
from besu_stack.constructs.fleet.reference import FleetReference
from besu_stack.constructs.iam import Grantable
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey
from besu_stack.constructs.python_function import PythonFunction
from besu_stack.constructs.registry import ValidatorRegistry
from besu_stack.constructs.validator_keys import ValidatorKeys

__all__ = [
    "LAUNCH_HOOK_TIMEOUT_SECONDS",
    "TERMINATE_HOOK_TIMEOUT_SECONDS",
    "DataVolumeSpec",
    "NodeLifecycle",
    "hook_names",
]

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


def hook_names(identity: NetworkIdentity) -> tuple[str, str]:
    """Names of the launch and termination lifecycle hooks of the validators' group."""
    return identity.name("launch"), identity.name("terminate")


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
    * A KMS-encrypted, TLS-only dead-letter queue for events the hook functions could not
      process.

    Every secret policy the launch hook writes keeps the key guard of
    :mod:`besu_stack.lambda_kernel.secret_policy` (only the key Lambda's and the hosts' roles
    read or write a key); the termination hook and the reconciler may only delete a slot
    secret's policy, never write one.

    The three functions run outside the VPC: they call only AWS APIs, Route 53's among them,
    which no VPC endpoint serves. Each gets only what its own code calls, granted by the
    resource concerned: the registry, the slot secrets' policies (``keys``), the fleet's
    lifecycle actions, hosts and container instances (``fleet``), the network's volumes and
    snapshots (:class:`~besu_stack.constructs.data_volumes.DataVolumes`), the zone's slot names
    (:meth:`grant_point_names`); EC2 ``Describe*`` calls have no resource-level permissions.

    Attributes: ``zone_id``, ``zone_name``, ``launch_function``, ``termination_function``,
    ``reconciler_function``, ``dead_letter_queue``, ``dead_letter_queue_arn``,
    ``function_names``, ``event_wiring``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        fleet: FleetReference,
        registry: ValidatorRegistry,
        keys: ValidatorKeys,
        key: EncryptionKey,
        vpc_id: str,
        node_domain: str,
        data_volume: DataVolumeSpec,
        log_retention_days: float,
    ) -> None:
        super().__init__(scope, id)
        self._node_domain = node_domain
        self.zone = Route53Zone(
            self,
            "zone",
            name=node_domain,
            comment=f"Stable names of the validators of Besu network {identity.network_name}",
            vpc=[Route53ZoneVpc(vpc_id=vpc_id)],
            # The launch hook writes the validator-<slot> records, so they are not in state;
            # without this a destroy would fail on a non-empty zone.
            force_destroy=True,
        )
        self.zone_id: str = self.zone.zone_id
        self.zone_name: str = node_domain
        self.zone_arn: str = self.zone.arn
        """The private zone's ARN (from the provider: Route 53 ARNs name no account)."""
        self.dead_letter_queue = DeadLetterQueue(
            self, "dead_letters", name=identity.name("lifecycle-dead-letters"), key=key
        )
        self.dead_letter_queue_arn: str = self.dead_letter_queue.queue_arn

        launch_hook, terminate_hook = hook_names(identity)
        environment = {
            "NETWORK_NAME": identity.network_name,
            "REGISTRY_TABLE_NAME": registry.table_name,
            "ARTIFACT_BUCKET_NAME": keys.artifact_bucket_name,
            "PRIVATE_ZONE_ID": self.zone.zone_id,
            "PRIVATE_ZONE_DOMAIN": node_domain,
            "INSTANCE_ROLE_ARN": fleet.instance_role_arn,
            "KEY_LAMBDA_ROLE_ARN": keys.key_lambda_role_arn,
            "SECRETS_KEY_ARN": keys.secrets_key.key_arn,
            "SECRET_NAME_PREFIX": identity.network_name,
            "DATA_VOLUME_KMS_KEY_ID": key.key_arn,
            "DATA_VOLUME_SIZE_GIB": Token.as_string(data_volume.size_gib),
            "DATA_VOLUME_IOPS": Token.as_string(data_volume.iops),
            "DATA_VOLUME_THROUGHPUT_MIBPS": Token.as_string(data_volume.throughput_mibps),
            "LAUNCH_LEASE_SECONDS": str(LAUNCH_HOOK_TIMEOUT_SECONDS),
            "ECS_CLUSTER_NAME": fleet.cluster_name,
            "METRIC_NAMESPACE": METRIC_NAMESPACE,
        }

        def function(
            construct_id: str,
            short: str,
            handler: str,
            timeout: int,
            concurrency: int,
            description: str,
        ) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                identity=identity,
                function_name=identity.name(short),
                source="lifecycle",
                handler=handler,
                description=description,
                environment={**environment, "FUNCTION_TIMEOUT_SECONDS": str(timeout)},
                key=key,
                log_retention_days=log_retention_days,
                # Outside the VPC: these functions call only AWS APIs, and Route 53's API has no
                # VPC endpoint (it is not among the services of
                # https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html),
                # so from the isolated subnets ChangeResourceRecordSets could never connect.
                # Outside a VPC, Lambda reaches every public AWS endpoint
                # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html).
                subnet_ids=None,
                dead_letter_queue=self.dead_letter_queue,
                timeout_seconds=timeout,
                reserved_concurrency=concurrency,
            )

        self.launch_function = function(
            "launch",
            "launch-hook",
            "launch_handler",
            HOOK_FUNCTION_TIMEOUT_SECONDS,
            3,
            "Claims a slot for a launching validator host and gives it the slot's volume, name and key access",
        )
        self.termination_function = function(
            "termination",
            "terminate-hook",
            "termination_handler",
            HOOK_FUNCTION_TIMEOUT_SECONDS,
            3,
            "Drains a terminating validator host, detaches and snapshots its volume, releases its slot",
        )
        self.reconciler_function = function(
            "reconciler",
            "reconciler",
            "reconcile_handler",
            RECONCILER_TIMEOUT_SECONDS,
            1,
            "Releases slots of vanished instances and reports stuck slots",
        )

        volumes = DataVolumes(identity, fleet, key)
        for lifecycle_function in (
            self.launch_function,
            self.termination_function,
            self.reconciler_function,
        ):
            role = lifecycle_function.role
            registry.grant(
                role,
                ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"],
                sid="Registry",
            )
            volumes.grant_describe(role)
            volumes.grant_detach(role)
            keys.grant_revoke_access(role)
            role.add_to_policy(
                {
                    # PutMetricData supports no resource-level permissions; the namespace
                    # condition is the scope.
                    "Sid": "Metrics",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
                }
            )

        launch = self.launch_function.role
        keys.grant_open_access(launch)
        fleet.grant_complete_lifecycle_actions(launch, heartbeat=True)
        fleet.grant_tag_instances(launch, "besu:*")
        volumes.grant_create(launch)
        volumes.grant_supersede(launch)
        volumes.grant_attach(launch)
        volumes.grant_delete_failed(launch)
        self.grant_point_names(launch)

        termination = self.termination_function.role
        fleet.grant_complete_lifecycle_actions(termination, heartbeat=False)
        fleet.grant_drain_instances(termination)
        fleet.grant_run_shell_commands(termination)
        volumes.grant_snapshot(termination)

        volumes.grant_delete_superseded(self.reconciler_function.role)

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
                    "AutoScalingGroupName": [fleet.autoscaling_group_name],
                    "LifecycleHookName": [hook],
                },
            }
            self._rule(
                construct_id,
                identity.name(hook.removeprefix(identity.network_name + "-") + "-hook"),
                target,
                event_pattern=pattern,
            )
        self._rule(
            "reconcile_schedule",
            identity.name("reconcile"),
            self.reconciler_function,
            schedule="rate(5 minutes)",
        )

    @property
    def policy_writer_role_arns(self) -> list[str]:
        """The roles that write the slot secrets' policies (the launch hook's)."""
        return [self.launch_function.role_arn]

    @property
    def policy_revoker_role_arns(self) -> list[str]:
        """The roles that delete the slot secrets' policies to withdraw access (all three)."""
        return [
            self.launch_function.role_arn,
            self.termination_function.role_arn,
            self.reconciler_function.role_arn,
        ]

    def grant_point_names(self, grantee: Grantable) -> None:
        """Let ``grantee`` UPSERT the slots' A records (``validator-*``) in the private zone."""
        grantee.add_to_policy(
            {
                "Sid": "PointSlotNamesAtInstances",
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": self.zone_arn,
                "Condition": {
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                        "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
                    },
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                            f"validator-*.{self._node_domain}"
                        ]
                    },
                },
            }
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
