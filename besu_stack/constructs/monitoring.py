"""Alarms, their notification topic and the operators' dashboard of one Besu network."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf import Fn, Op, Token
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from besu_stack.besu.bft import quorum
from besu_stack.constructs.fleet.reference import FleetReference
from besu_stack.constructs.health_check import HEALTH_METRIC_NAMESPACE
from besu_stack.constructs.iam import policy_document
from besu_stack.constructs.identity import NetworkIdentity
from besu_stack.constructs.kms import EncryptionKey

KEY_SERVICE_PRINCIPALS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")
"""Services that must be allowed to use the network key (``NetworkKey(extra_service_principals=
...)``): CloudWatch alarms and EventBridge rules publish to the KMS-encrypted topic and need
kms:GenerateDataKey*."""


@dataclass(frozen=True)
class SecretPolicyWatch:
    """Which secrets to watch, and who may change their policies or values without an alert.

    ``secret_name_prefix`` starts every watched secret's name (``<network>/validator-``);
    ``writer_role_arns`` are the roles whose ``PutResourcePolicy`` is expected (the launch
    hook), ``revoker_role_arns`` those whose ``DeleteResourcePolicy`` is (the lifecycle
    functions: a revoke deletes the policy), ``value_writer_role_arns`` those whose changes of
    the value are (the key Lambda; by default none, so every change alerts). Every
    ``DeleteSecret`` of a watched secret alerts, whoever calls it.

    ``guarding_key_ids`` are the ids and ARNs of the KMS keys whose own policy decides who
    uses them (the validator secrets' key, the RPC token key, ``kms.DecidingKeyPolicy``), and
    ``guarding_alias_names`` their aliases: changing such a policy, disabling the key,
    scheduling its deletion, or creating, repointing or deleting its alias alerts, whoever
    calls it (the account administers these keys, so only an alert makes such a change seen;
    the hosts find the RPC token key by its alias, so a repointed alias would make new hosts
    trust another key).
    """

    secret_name_prefix: str
    writer_role_arns: Sequence[str]
    revoker_role_arns: Sequence[str]
    value_writer_role_arns: Sequence[str] = ()
    guarding_key_ids: Sequence[str] = ()
    guarding_alias_names: Sequence[str] = ()


def _cloudtrail_pattern(
    event_names: Sequence[str],
    secret_id: Sequence[Mapping[str, str]],
    identity: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A CloudTrail "AWS API Call" pattern of Secrets Manager calls on the watched secrets.

    Only calls by callers matching ``identity``, or by anyone when it is ``None``.
    """
    detail: dict[str, Any] = {
        "eventSource": ["secretsmanager.amazonaws.com"],
        "eventName": list(event_names),
        "requestParameters": {"secretId": list(secret_id)},
    }
    if identity is not None:
        detail["userIdentity"] = dict(identity)
    return {
        "source": ["aws.secretsmanager"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": detail,
    }


_NON_ROLE: dict[str, Any] = {"type": [{"anything-but": ["AssumedRole"]}]}
"""A caller that is not a role session (a user, root): ``anything-but`` matches only a present
field, and every CloudTrail ``userIdentity`` has a ``type``."""


def _other_role(roles: Sequence[str]) -> dict[str, Any]:
    """A role session whose role is not one of ``roles`` (any role session when empty)."""
    if not roles:
        return {"type": ["AssumedRole"]}
    return {"sessionContext": {"sessionIssuer": {"arn": [{"anything-but": sorted(roles)}]}}}


def _secret_ids(watch: SecretPolicyWatch, secret_arn_prefix: str) -> list[dict[str, str]]:
    return [{"prefix": watch.secret_name_prefix}, {"prefix": secret_arn_prefix}]


def secret_policy_event_patterns(
    watch: SecretPolicyWatch, secret_arn_prefix: str
) -> dict[str, dict[str, Any]]:
    """EventBridge patterns (by rule key) of the slot-secret policy changes that alert.

    CloudTrail delivers Secrets Manager's management calls to EventBridge as "AWS API Call via
    CloudTrail" events ("Events from AWS services", EventBridge User Guide; a trail must record
    management events). ``requestParameters.secretId`` is what the caller passed, a name or an
    ARN, so both prefixes match. Two patterns per call, because ``anything-but`` matches only a
    field that is present ("Content filtering in Amazon EventBridge event patterns"):

    * ``put_by_non_role`` / ``delete_by_non_role``: ``PutResourcePolicy`` /
      ``DeleteResourcePolicy`` by anything but an assumed role (a user, root);
    * ``put_by_other_role``: ``PutResourcePolicy`` by a role session whose role is not a writer;
    * ``delete_by_other_role``: ``DeleteResourcePolicy`` by a role session whose role is not a
      revoker.
    """
    secret_id = _secret_ids(watch, secret_arn_prefix)

    def pattern(event_name: str, identity: Mapping[str, Any]) -> dict[str, Any]:
        return _cloudtrail_pattern([event_name], secret_id, identity)

    return {
        "put_by_non_role": pattern("PutResourcePolicy", _NON_ROLE),
        "put_by_other_role": pattern("PutResourcePolicy", _other_role(watch.writer_role_arns)),
        "delete_by_non_role": pattern("DeleteResourcePolicy", _NON_ROLE),
        "delete_by_other_role": pattern(
            "DeleteResourcePolicy", _other_role(watch.revoker_role_arns)
        ),
    }


VALUE_CHANGE_EVENTS: tuple[str, ...] = (
    "PutSecretValue",
    "UpdateSecret",
    "UpdateSecretVersionStage",
)
"""The Secrets Manager calls that can change which key a slot secret's current version holds:
writing a version (``PutSecretValue``; ``UpdateSecret`` with a value) or pointing
``AWSCURRENT`` at another one (``UpdateSecretVersionStage``)."""


def secret_value_event_patterns(
    watch: SecretPolicyWatch, secret_arn_prefix: str
) -> dict[str, dict[str, Any]]:
    """EventBridge patterns (by rule key) of the slot-secret value changes that alert.

    Where a slot secret has no resource policy (after a revoke) nothing refuses an
    administrator's ``UpdateSecret`` with a value and a KMS key of their own
    (:mod:`besu_stack.lambda_kernel.secret_policy`); these rules make it seen. Every call of
    :data:`VALUE_CHANGE_EVENTS` alerts, by anything but a role session (``by_non_role``) or by
    a role session whose role is not a value writer (``by_other_role``), with or without a
    value in the request: Secrets Manager's API reference says only that ``SecretString`` and
    ``SecretBinary`` are kept out of its CloudTrail entries ("Do not include sensitive
    information in request parameters except SecretBinary or SecretString because it might be
    logged", https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html),
    not whether their names stay, and no AWS page shows the ``requestParameters`` of an
    ``UpdateSecret`` event, so a filter on those fields could miss the very call it is for. The
    cost: a description-only ``UpdateSecret`` (Terraform changing a slot secret's description)
    alerts too.
    """
    secret_id = _secret_ids(watch, secret_arn_prefix)
    return {
        "by_non_role": _cloudtrail_pattern(VALUE_CHANGE_EVENTS, secret_id, _NON_ROLE),
        "by_other_role": _cloudtrail_pattern(
            VALUE_CHANGE_EVENTS, secret_id, _other_role(watch.value_writer_role_arns)
        ),
    }


def secret_deletion_event_patterns(
    watch: SecretPolicyWatch, secret_arn_prefix: str
) -> dict[str, dict[str, Any]]:
    """The EventBridge pattern (rule key ``any``) of a slot secret's deletion, by anyone.

    The key guard refuses a deletion without a recovery window to everyone
    (:mod:`besu_stack.lambda_kernel.secret_policy`); a scheduled deletion stays possible, for
    Terraform's destroy, and makes the secret inaccessible at once ("Secrets Manager considers
    a secret scheduled for deletion deprecated and you can no longer directly access it",
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_restore-secret.html): a
    node that starts then cannot read its key. ``RestoreSecret`` brings it back within the
    30-day window.
    """
    return {
        "any": _cloudtrail_pattern(("DeleteSecret",), _secret_ids(watch, secret_arn_prefix), None)
    }


KEY_CHANGE_EVENTS: tuple[str, ...] = ("PutKeyPolicy", "DisableKey", "ScheduleKeyDeletion")
"""The KMS calls of the account's key administration that change who may use a guarding key
(a new policy) or stop everyone using it (the validators cannot read their keys)."""

ALIAS_CHANGE_EVENTS: tuple[str, ...] = ("CreateAlias", "UpdateAlias", "DeleteAlias")
"""The KMS calls that change which key an alias names."""


def _kms_pattern(event_names: Sequence[str], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudTrail "AWS API Call" pattern of KMS calls whose request parameters match."""
    return {
        "source": ["aws.kms"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["kms.amazonaws.com"],
            "eventName": list(event_names),
            "requestParameters": dict(parameters),
        },
    }


def key_change_event_patterns(watch: SecretPolicyWatch) -> dict[str, dict[str, Any]]:
    """EventBridge patterns (by rule key) of a guarding key's changes, by anyone.

    * ``any``: :data:`KEY_CHANGE_EVENTS` on a guarding key. ``requestParameters.keyId`` is the
      key as the caller named it, and each of these calls takes a key id or a key ARN only
      (their KMS API references; CloudTrail's example entry for ``PutKeyPolicy``,
      https://docs.aws.amazon.com/kms/latest/developerguide/ct-put-key-policy.html, has a key
      id there), so :attr:`SecretPolicyWatch.guarding_key_ids` lists both.
    * ``alias``: :data:`ALIAS_CHANGE_EVENTS` on a guarding key's alias, by
      ``requestParameters.aliasName`` (always ``alias/<name>``: the API references of the three
      calls; CloudTrail's example entry for ``UpdateAlias``,
      https://docs.aws.amazon.com/kms/latest/developerguide/ct-updatealias.html).

    No pattern for what is not given.
    """
    patterns: dict[str, dict[str, Any]] = {}
    if watch.guarding_key_ids:
        patterns["any"] = _kms_pattern(KEY_CHANGE_EVENTS, {"keyId": list(watch.guarding_key_ids)})
    if watch.guarding_alias_names:
        patterns["alias"] = _kms_pattern(
            ALIAS_CHANGE_EVENTS, {"aliasName": list(watch.guarding_alias_names)}
        )
    return patterns


DATA_VOLUME_MOUNT_PATH = "/var/lib/besu"
"""Where each host mounts its slot's data volume (see ``besu_stack.besu.command_line``)."""

STALL_ALARM_BLOCK_PERIODS = 10
"""The network-stalled alarm waits this many block periods (at least 2 minutes) of
``NetworkStalled = 1``: the checker already applied its stall window, this only rides out one
run's flap."""

SERVICE_BELOW_DESIRED_MINUTES = 15
"""Replacing one host (launch, lifecycle hook, volume attach, Besu start) takes several minutes;
a rolling change stops one task at a time. Fewer running tasks for longer is a fault."""

_FUNCTION_KEY = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


@dataclass(frozen=True)
class MetricRef:
    """A CloudWatch metric another component publishes.

    Its namespace, name and dimensions, and the statistic and period the alarm on it uses.
    """

    namespace: str
    metric_name: str
    dimensions: Mapping[str, str] = field(default_factory=dict)
    statistic: str = "Maximum"
    period_seconds: int = 300


def default_data_volume_disk_metric(
    autoscaling_group_name: str, mount_path: str = DATA_VOLUME_MOUNT_PATH
) -> MetricRef:
    """The fleet's CloudWatch agent metric for the data volumes' usage.

    The agent on each host must collect ``disk`` ``used_percent`` for ``mount_path`` with
    ``append_dimensions`` ``{"AutoScalingGroupName": "${aws:AutoScalingGroupName}"}`` and
    ``aggregation_dimensions`` ``[["AutoScalingGroupName", "path"]]``: CloudWatch then has one
    series for the whole group, and its ``Maximum`` is the fullest data volume.
    """
    return MetricRef(
        "CWAgent",
        "disk_used_percent",
        {"AutoScalingGroupName": autoscaling_group_name, "path": mount_path},
        "Maximum",
        300,
    )


def default_stuck_slots_metric(
    network_name: str, namespace: str = "BesuStack/Validators"
) -> MetricRef:
    """The reconciler's count of stuck slots, as ``lambda_src/lifecycle`` publishes it.

    By default that is ``SlotsStuck`` in its ``METRIC_NAMESPACE`` (``BesuStack/Validators``),
    dimension ``Network``.
    """
    return MetricRef(namespace, "SlotsStuck", {"Network": network_name}, "Maximum", 300)


def validators_online_alarm_threshold(validator_count: int) -> int:
    """The validators-online alarm fires below this: quorum(n) + 1, never above n.

    Below it, one more loss halts the chain: 4 for n = 4 (quorum 3), 6 for n = 7 (quorum 5).
    """
    return min(validator_count, quorum(validator_count) + 1)


def stall_evaluation_minutes(block_period_seconds: float) -> float:
    """``max(2, ceil(10 x block period / 60))`` minutes, as a number or a Terraform token."""
    if Token.is_unresolved(block_period_seconds):
        minutes = Fn.ceil(Op.div(Op.mul(block_period_seconds, STALL_ALARM_BLOCK_PERIODS), 60))
        return Token.as_number(Fn.max([2, minutes]))
    return max(2, math.ceil(STALL_ALARM_BLOCK_PERIODS * block_period_seconds / 60))


class Monitoring(Construct):
    """An encrypted SNS topic, the network's alarms, and a CloudWatch dashboard.

    * Topic ``<network>-alarms`` encrypted with ``key`` (the key policy must let
      :data:`KEY_SERVICE_PRINCIPALS` use it), with a policy letting only this network's
      CloudWatch alarms publish (``aws:SourceAccount``, and ``aws:SourceArn`` matching
      ``<network>-*`` alarms), and its own EventBridge alert rules (each rule's ARN), and
      refusing publishing without TLS. An e-mail subscription to
      ``alarm_email`` when it is not empty (a token gives ``count`` min(1, length(email)));
      the recipient must confirm it.
    * Alarms, each notifying the topic on ALARM and on OK. Missing data is treated
      deliberately: *breaching* where silence means the watchdog itself is gone (the health
      checker's network metrics, the ECS running-task count), *notBreaching* for event counts
      that are only published when something happens or are zero when fine (remediations,
      Lambda errors, stuck slots, disk usage: a host that stops reporting is caught by the
      node and service alarms), *missing* (keep the state) for per-slot health, since a slot
      without a node publishes nothing and is counted by the validators-online alarm.

      ======================== =========================================================
      key                      condition
      ======================== =========================================================
      ``network_stalled``      BesuStack NetworkStalled >= 1 for max(2, ceil(10 x block
                               period / 60)) minutes (breaching)
      ``node_<slot>_unhealthy`` Healthy < 1 for ``unhealthy_evaluation_periods``
                               minutes (pass the checker's failures-before-action)
      ``validators_online``    ValidatorsOnline < min(n, quorum(n) + 1) for 3 minutes
                               (breaching)
      ``remediation``          Remediations > 0 in a minute (the checker acted)
      ``data_volume_disk``     ``data_volume_disk_metric`` > ``disk_used_percent_threshold``
                               (80) for 10 minutes
      ``service_running_tasks`` ECS/ContainerInsights RunningTaskCount < n for 15 minutes
                               (breaching; the cluster needs Container Insights)
      ``stuck_slots``          ``stuck_slots_metric`` > 0
      ``lambda_<key>_errors``  AWS/Lambda Errors > 0 in 5 minutes, one per
                               ``lambda_functions`` entry
      ======================== =========================================================
    * With ``secret_policy_watch``, EventBridge rules on CloudTrail's management events that
      notify the topic when a slot secret's policy or value changes outside the functions
      expected to change it, when a slot secret's deletion is requested, and when a guarding
      key's policy or alias changes or the key is disabled or scheduled for deletion
      (:class:`SecretPolicyWatch`; the account needs a trail with logging enabled).
    * Dashboard ``<network>-validators``: block height, peers, health and blocks since the last
      proposal per slot; the network counts against the quorum; the service's CPU and memory
      (Container Insights); the data volumes' disk usage. No RPC latency widget: a Network Load
      Balancer publishes no latency metric (TargetResponseTime is an ALB metric) and Besu's
      own latency metrics are Prometheus metrics, not in CloudWatch.

    ``lambda_functions`` maps a short stable key (``health``, ``keygen``...; lowercase,
    digits, dashes) to a function name; the key, not the name (often a token), gives the
    alarm's name and construct id. Names passed as props may be literals or plain tokens; the
    dashboard JSON embeds them, so they must not be Terraform expressions containing quotes.

    Attributes: ``topic_arn``, ``topic_name``, ``alarm_names`` (key -> alarm name),
    ``alarms`` (key -> ``CloudwatchMetricAlarm``), ``dashboard_name``, and the EventBridge
    rules by rule key: ``secret_policy_rules``, ``secret_value_rules``,
    ``secret_deletion_rules``, ``key_change_rules``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        identity: NetworkIdentity,
        fleet: FleetReference,
        validator_count: int,
        block_period_seconds: float,
        key: EncryptionKey,
        lambda_functions: Mapping[str, str],
        alarm_email: str = "",
        data_volume_disk_metric: MetricRef | None = None,
        stuck_slots_metric: MetricRef | None = None,
        unhealthy_evaluation_periods: float = 3,
        disk_used_percent_threshold: float = 80,
        secret_policy_watch: SecretPolicyWatch | None = None,
    ) -> None:
        super().__init__(scope, id)
        if isinstance(validator_count, bool) or validator_count < 1:
            raise ValueError(f"validator_count must be at least 1, got {validator_count!r}")
        for function_key in lambda_functions:
            if not _FUNCTION_KEY.match(function_key):
                raise ValueError(
                    f"lambda_functions key {function_key!r} must be lowercase letters, digits and dashes "
                    "(it names the alarm)"
                )
        naming, platform = identity.naming, identity.platform
        cluster_name, service_name = fleet.cluster_name, fleet.service_name
        disk = data_volume_disk_metric or default_data_volume_disk_metric(
            fleet.autoscaling_group_name
        )
        stuck = stuck_slots_metric or default_stuck_slots_metric(naming.network_name)
        network = {"Network": naming.network_name}

        self.topic = SnsTopic(
            self,
            "topic",
            name=naming.name("alarms"),
            display_name=f"Besu network {naming.network_name} alarms",
            kms_master_key_id=key.key_arn,
        )
        self.topic_arn: str = self.topic.arn
        self.topic_name: str = self.topic.name
        if Token.is_unresolved(alarm_email):
            SnsTopicSubscription(
                self,
                "email",
                topic_arn=self.topic.arn,
                protocol="email",
                endpoint=alarm_email,
                # min(1, length(email)): 0 without an address. (cdktf renders a "" operand
                # of Op.eq as `undefined`, so no comparison with the empty string.)
                count=Token.as_number(Fn.min([1, Fn.length_of(alarm_email)])),
            )
        elif alarm_email:
            SnsTopicSubscription(
                self, "email", topic_arn=self.topic.arn, protocol="email", endpoint=alarm_email
            )

        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        self.alarm_names: dict[str, str] = {}
        self.secret_policy_rules: dict[str, CloudwatchEventRule] = {}
        self.secret_value_rules: dict[str, CloudwatchEventRule] = {}
        self.secret_deletion_rules: dict[str, CloudwatchEventRule] = {}
        self.key_change_rules: dict[str, CloudwatchEventRule] = {}
        rule_arns: list[str] = []
        if secret_policy_watch is not None:
            arn_prefix = platform.arn(
                "secretsmanager", f"secret:{secret_policy_watch.secret_name_prefix}"
            )
            watched = (
                (
                    "secret_policy",
                    secret_policy_event_patterns(secret_policy_watch, arn_prefix),
                    "A validator secret's resource policy changed outside the hooks",
                    self.secret_policy_rules,
                ),
                (
                    "secret_value",
                    secret_value_event_patterns(secret_policy_watch, arn_prefix),
                    "A validator secret's value, current version or description changed "
                    "outside the key Lambda",
                    self.secret_value_rules,
                ),
                (
                    "secret_deletion",
                    secret_deletion_event_patterns(secret_policy_watch, arn_prefix),
                    "A validator secret's deletion was requested",
                    self.secret_deletion_rules,
                ),
                (
                    "key_change",
                    key_change_event_patterns(secret_policy_watch),
                    "The policy or alias of a key guarding validator keys or RPC tokens "
                    "changed, or the key was disabled or scheduled for deletion",
                    self.key_change_rules,
                ),
            )
            for kind, patterns, description, rules in watched:
                for rule_key, event_pattern in patterns.items():
                    rule_name = naming.name(kind.replace("_", "-"), rule_key.replace("_", "-"))
                    rule_arns.append(platform.arn("events", f"rule/{rule_name}"))
                    rule = CloudwatchEventRule(
                        self,
                        f"{kind}_{rule_key}",
                        name=rule_name,
                        description=description,
                        event_pattern=json.dumps(event_pattern, sort_keys=True),
                    )
                    CloudwatchEventTarget(
                        self, f"{kind}_{rule_key}_alert", rule=rule.name, arn=self.topic.arn
                    )
                    rules[rule_key] = rule

        # The topic admits this network's alarms and exactly the alert rules created above.
        alarm_arns = identity.alarms_arn
        SnsTopicPolicy(
            self,
            "topic_policy",
            arn=self.topic.arn,
            policy=policy_document(
                [
                    {
                        "Sid": "CloudWatchAlarmsOfThisAccountPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": self.topic.arn,
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": platform.account_id},
                            "ArnLike": {"aws:SourceArn": alarm_arns},
                        },
                    },
                    *(
                        [
                            {
                                "Sid": "EventBridgeRulesOfThisNetworkPublish",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": self.topic.arn,
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": platform.account_id},
                                    "ArnLike": {"aws:SourceArn": rule_arns},
                                },
                            }
                        ]
                        if rule_arns
                        else []
                    ),
                    {
                        "Sid": "DenyPublishingWithoutTls",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sns:Publish",
                        "Resource": self.topic.arn,
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ]
            ),
        )

        def alarm(
            key: str,
            description: str,
            *,
            namespace: str,
            metric_name: str,
            dimensions: Mapping[str, str],
            statistic: str,
            comparison: str,
            threshold: float,
            period: float,
            evaluation_periods: float,
            treat_missing_data: str,
        ) -> None:
            name = naming.name(key.replace("_", "-"))
            self.alarms[key] = CloudwatchMetricAlarm(
                self,
                key,
                alarm_name=name,
                alarm_description=description,
                namespace=namespace,
                metric_name=metric_name,
                dimensions=dict(dimensions),
                statistic=statistic,
                comparison_operator=comparison,
                threshold=threshold,
                period=period,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=evaluation_periods,
                treat_missing_data=treat_missing_data,
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
            )
            self.alarm_names[key] = name

        health = HEALTH_METRIC_NAMESPACE
        alarm(
            "network_stalled",
            "The chain head has stopped advancing on every node (NetworkStalled). The health "
            "checker never repairs a stall: see docs/operations-health.md, runbook notes.",
            namespace=health,
            metric_name="NetworkStalled",
            dimensions=network,
            statistic="Maximum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=1,
            period=60,
            evaluation_periods=stall_evaluation_minutes(block_period_seconds),
            treat_missing_data="breaching",
        )
        for slot in range(validator_count):
            alarm(
                f"node_{slot}_unhealthy",
                f"The node of validator slot {slot} failed consecutive deep health checks; the "
                "checker restarts, then replaces it, within the f limit.",
                namespace=health,
                metric_name="Healthy",
                dimensions={**network, "Slot": str(slot)},
                statistic="Maximum",
                comparison="LessThanThreshold",
                threshold=1,
                period=60,
                evaluation_periods=unhealthy_evaluation_periods,
                treat_missing_data="missing",
            )
        online = validators_online_alarm_threshold(validator_count)
        alarm(
            "validators_online",
            f"Fewer than {online} of {validator_count} validators are online (quorum is "
            f"{quorum(validator_count)}): one more loss halts the chain.",
            namespace=health,
            metric_name="ValidatorsOnline",
            dimensions=network,
            statistic="Minimum",
            comparison="LessThanThreshold",
            threshold=online,
            period=60,
            evaluation_periods=3,
            treat_missing_data="breaching",
        )
        alarm(
            "remediation",
            "The health checker restarted or replaced a node (see its 'node decision' logs).",
            namespace=health,
            metric_name="Remediations",
            dimensions=network,
            statistic="Sum",
            comparison="GreaterThanThreshold",
            threshold=0,
            period=60,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
        )
        alarm(
            "data_volume_disk",
            "A validator's data volume is filling up; grow data_volume_size_gib before Besu stops.",
            namespace=disk.namespace,
            metric_name=disk.metric_name,
            dimensions=disk.dimensions,
            statistic=disk.statistic,
            comparison="GreaterThanThreshold",
            threshold=disk_used_percent_threshold,
            period=disk.period_seconds,
            evaluation_periods=max(1, math.ceil(600 / disk.period_seconds)),
            treat_missing_data="notBreaching",
        )
        alarm(
            "service_running_tasks",
            f"Fewer than {validator_count} Besu tasks have been running for "
            f"{SERVICE_BELOW_DESIRED_MINUTES} minutes.",
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions={"ClusterName": cluster_name, "ServiceName": service_name},
            statistic="Minimum",
            comparison="LessThanThreshold",
            threshold=validator_count,
            period=60,
            evaluation_periods=SERVICE_BELOW_DESIRED_MINUTES,
            treat_missing_data="breaching",
        )
        alarm(
            "stuck_slots",
            "The reconciler found validator slots stuck in a launch or without a node.",
            namespace=stuck.namespace,
            metric_name=stuck.metric_name,
            dimensions=stuck.dimensions,
            statistic=stuck.statistic,
            comparison="GreaterThanThreshold",
            threshold=0,
            period=stuck.period_seconds,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
        )
        for function_key, function_name in sorted(lambda_functions.items()):
            alarm(
                f"lambda_{function_key.replace('-', '_')}_errors",
                f"The {function_key} Lambda function failed (see its log group).",
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions={"FunctionName": function_name},
                statistic="Sum",
                comparison="GreaterThanThreshold",
                threshold=0,
                period=300,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
            )

        self.dashboard = CloudwatchDashboard(
            self,
            "dashboard",
            dashboard_name=naming.name("validators"),
            dashboard_body=dashboard_body(
                region=platform.region,
                network_name=naming.network_name,
                validator_count=validator_count,
                cluster_name=cluster_name,
                service_name=service_name,
                disk=disk,
            ),
        )
        self.dashboard_name: str = naming.name("validators")


def dashboard_body(
    *,
    region: str,
    network_name: str,
    validator_count: int,
    cluster_name: str,
    service_name: str,
    disk: MetricRef,
) -> str:
    """The dashboard JSON (sorted keys, so synthesis is stable)."""
    ns = HEALTH_METRIC_NAMESPACE

    def per_slot(metric: str) -> list[list[Any]]:
        return [
            [ns, metric, "Network", network_name, "Slot", str(slot), {"label": f"slot {slot}"}]
            for slot in range(validator_count)
        ]

    def widget(title: str, metrics: list[list[Any]], stat: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "stacked": False,
                "period": 60,
                "stat": stat,
                "metrics": metrics,
                **extra,
            },
        }

    q = quorum(validator_count)
    service = ["ClusterName", cluster_name, "ServiceName", service_name]
    disk_dims = [part for item in sorted(disk.dimensions.items()) for part in item]
    widgets = [
        widget(
            "Block height per node",
            [*per_slot("BlockHeight"), [ns, "NetworkBlockHeight", "Network", network_name]],
            "Maximum",
        ),
        widget("Peers per node", per_slot("PeerCount"), "Minimum"),
        widget("Health per node (1 = healthy)", per_slot("Healthy"), "Minimum"),
        widget(
            "Participation: blocks since the last proposal",
            per_slot("BlocksSinceProposal"),
            "Maximum",
        ),
        widget(
            "Validators online, healthy, in remediation",
            [
                [ns, metric, "Network", network_name]
                for metric in (
                    "ValidatorsOnline",
                    "HealthyNodes",
                    "ReachableNodes",
                    "NodesInRemediation",
                    "MissingSlots",
                    "NetworkStalled",
                )
            ],
            "Minimum",
            annotations={"horizontal": [{"label": f"quorum ({q})", "value": q}]},
        ),
        widget(
            "Besu service CPU and memory (Container Insights)",
            [
                ["ECS/ContainerInsights", "CpuUtilized", *service],
                ["ECS/ContainerInsights", "CpuReserved", *service],
                ["ECS/ContainerInsights", "MemoryUtilized", *service, {"yAxis": "right"}],
                ["ECS/ContainerInsights", "MemoryReserved", *service, {"yAxis": "right"}],
            ],
            "Average",
        ),
        widget(
            "Data volume disk used (%)",
            [[disk.namespace, disk.metric_name, *disk_dims]],
            "Maximum",
            yAxis={"left": {"min": 0, "max": 100}},
        ),
    ]
    for index, item in enumerate(widgets):
        item["x"] = (index % 2) * 12
        item["y"] = (index // 2) * 6
    return json.dumps({"widgets": widgets}, sort_keys=True)
