"""The validator hosts' role, evaluated: what a host may do, and what it may not.

The role's synthesized inline policy is evaluated (``tests/support/iam_eval.py``) for requests
the ECS agent, the SSM agent, the CloudWatch agent and the host bootstrap make, and for the
requests issue 13 found too broad (any cluster, any parameter, the stack's own metrics).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from besu_stack.constructs.fleet.instance_role import CLOUDWATCH_AGENT_NAMESPACE
from tests.conftest import StackJson, ref, resources
from tests.support.iam_eval import ACCOUNT, REGION, Policies, Request, is_allowed, resolve

pytestmark = pytest.mark.synth

HOST = f"arn:aws:iam::{ACCOUNT}:role/besu-instance"
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/besu-validators"
OTHER_CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/payments"


@pytest.fixture(scope="module")
def host_policy(default_stack: StackJson) -> str:
    role_id = ref(default_stack, "aws_iam_role", "fleet/instance_role", "id")
    (policy,) = [
        p["policy"]
        for p in resources(default_stack, "aws_iam_role_policy").values()
        if p["role"] == role_id
    ]
    return resolve(default_stack, policy)


@pytest.fixture(scope="module")
def names(default_stack: StackJson) -> dict[str, str]:
    cluster = next(iter(resources(default_stack, "aws_ecs_cluster").values()))["name"]
    logs = [
        g["name"]
        for g in resources(default_stack, "aws_cloudwatch_log_group").values()
        if g["//"]["metadata"]["path"].endswith("/fleet/node_logs")
    ]
    role = next(
        r["name"]
        for r in resources(default_stack, "aws_iam_role").values()
        if r["//"]["metadata"]["path"].endswith("/fleet/instance_role")
    )
    return {"cluster": cluster, "log_group": logs[0], "role": role}


def _may(policy: str, action: str, resource: str, **context: str) -> bool:
    return is_allowed(Request(HOST, action, resource, context), Policies(identity=[policy]))


def test_ecs_agent_works_on_this_cluster_only(host_policy: str, names: dict[str, str]) -> None:
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{names['cluster']}"
    instance = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{names['cluster']}/0123abcd"
    foreign = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/payments/0123abcd"
    for action in (
        "ecs:RegisterContainerInstance",
        "ecs:DeregisterContainerInstance",
        "ecs:SubmitTaskStateChange",
        "ecs:SubmitContainerStateChange",
    ):
        assert _may(host_policy, action, cluster), action
        assert not _may(host_policy, action, OTHER_CLUSTER), action
    for action in ("ecs:Poll", "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState"):
        assert _may(host_policy, action, instance), action
        assert not _may(host_policy, action, foreign), action
    assert _may(host_policy, "ecs:DiscoverPollEndpoint", "*")
    assert not _may(host_policy, "ecs:CreateCluster", "*")
    assert not _may(host_policy, "ecs:RunTask", "*")


def test_ecs_agent_pulls_from_this_accounts_ecr_and_writes_the_node_logs_only(
    host_policy: str, names: dict[str, str]
) -> None:
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/besu"
    assert _may(host_policy, "ecr:BatchGetImage", repo)
    assert _may(host_policy, "ecr:GetDownloadUrlForLayer", repo)
    assert _may(host_policy, "ecr:GetAuthorizationToken", "*")
    assert not _may(host_policy, "ecr:PutImage", repo)
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{names['log_group']}"
    assert _may(host_policy, "logs:PutLogEvents", f"{group}:log-stream:besu/besu/abc")
    assert _may(host_policy, "logs:CreateLogStream", group)
    other = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/besu-keygen"
    assert not _may(host_policy, "logs:PutLogEvents", f"{other}:log-stream:x")
    assert not _may(host_policy, "logs:CreateLogGroup", other)


def test_session_manager_without_parameter_reads(host_policy: str) -> None:
    """AmazonSSMManagedInstanceCore let every host read every parameter, SecureStrings too."""
    instance = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
    assert _may(host_policy, "ssm:UpdateInstanceInformation", instance)
    for action in ("ssmmessages:CreateControlChannel", "ssmmessages:OpenDataChannel"):
        assert _may(host_policy, action, "*"), action
    assert _may(host_policy, "ec2messages:GetMessages", "*")
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/db-password"
    for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"):
        assert not _may(host_policy, action, parameter), action
    assert not _may(host_policy, "ssm:SendCommand", instance)


def test_cloudwatch_agent_publishes_to_its_own_namespace_only(host_policy: str) -> None:
    """A host must not forge the BesuStack metrics behind the rollback and stall alarms."""
    put = "cloudwatch:PutMetricData"
    assert _may(host_policy, put, "*", **{"cloudwatch:namespace": CLOUDWATCH_AGENT_NAMESPACE})
    for forged in ("BesuStack", "BesuStack/Validators"):
        assert not _may(host_policy, put, "*", **{"cloudwatch:namespace": forged}), forged
    assert not _may(host_policy, put, "*")


def test_cloudwatch_agent_namespace_is_the_one_its_configuration_names() -> None:
    from besu_stack.constructs.fleet.host_bootstrap import host_bootstrap_script

    script = host_bootstrap_script(cluster_name="besu-validators", rpc_token_key="alias/k")
    assert f'"namespace": "{CLOUDWATCH_AGENT_NAMESPACE}"' in script
    assert '"logs"' not in script  # the agent ships no logs: it needs no log group grant


# --- the slot secrets (issue 13 item 6) -------------------------------------------------------


class _RecordingSecrets:
    """Stands in for the Secrets Manager client: records the policy the launch hook writes."""

    def __init__(self) -> None:
        self.policies: dict[str, str] = {}

    def put_resource_policy(self, **kwargs: Any) -> None:
        self.policies[kwargs["SecretId"]] = kwargs["ResourcePolicy"]

    def get_resource_policy(self, **kwargs: Any) -> dict[str, str]:
        # The hook reads the current owner first (it undoes only a grant it made itself).
        policy = self.policies.get(kwargs["SecretId"])
        return {"ResourcePolicy": policy} if policy else {}


def _secret_arn(slot: int) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:besu/validator-{slot}/key-AbCdEf"


def test_instance_role_names_no_secret(host_policy: str) -> None:
    for statement in json.loads(host_policy)["Statement"]:
        assert not str(statement["Action"]).startswith("secretsmanager"), statement
    assert not _may(host_policy, "secretsmanager:GetSecretValue", _secret_arn(0))


def test_a_host_reads_only_the_secret_the_launch_hook_opened_for_it(
    host_policy: str, names: dict[str, str], default_stack: StackJson
) -> None:
    """The hook's resource policy is the only grant: the owner reads, another host does not,
    and a secret still under Terraform's initial policy is closed to every host."""
    from lambda_src.lifecycle.store import SecretAccess

    role = f"arn:aws:iam::{ACCOUNT}:role/{names['role']}"
    key_lambda = f"arn:aws:iam::{ACCOUNT}:role/besu-keygen"
    owner = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0000000000000000a"
    other = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0000000000000000b"
    client = _RecordingSecrets()
    secrets_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/validator_keys_secrets_key"
    SecretAccess(client, role, key_lambda, secrets_key).grant("besu/validator-0/key", owner)
    hook_policy = client.policies["besu/validator-0/key"]

    def reads(instance: str, resource_policy: str) -> bool:
        request = Request(
            role,
            "secretsmanager:GetSecretValue",
            _secret_arn(0),
            {"ec2:SourceInstanceARN": instance},
        )
        return is_allowed(request, Policies(identity=[host_policy], resource=[resource_policy]))

    assert reads(owner, hook_policy)
    assert not reads(other, hook_policy)
    initial = next(
        p["policy"]
        for p in resources(default_stack, "aws_secretsmanager_secret_policy").values()
        if p["//"]["metadata"]["path"].endswith("/slot_0_policy")
    )
    assert not reads(owner, resolve(default_stack, initial))


def test_a_host_decrypts_only_slot_secrets_and_only_through_secrets_manager(
    host_policy: str, names: dict[str, str], default_stack: StackJson
) -> None:
    """The decrypt comes from the validator secrets' own key policy, not the host's role."""

    def key(suffix: str) -> tuple[str, str]:
        logical, body = next(
            (logical_id, k)
            for logical_id, k in resources(default_stack, "aws_kms_key").items()
            if k["//"]["metadata"]["path"].endswith(suffix)
        )
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical}", resolve(
            default_stack, body["policy"]
        )

    secrets_key, secrets_key_policy = key("/validator_keys/secrets_key/key")
    network_key, network_key_policy = key("/network_key/key")
    role = f"arn:aws:iam::{ACCOUNT}:role/{names['role']}"

    def decrypts(key_arn: str, key_policy: str, **context: str) -> bool:
        request = Request(role, "kms:Decrypt", key_arn, context)
        return is_allowed(request, Policies(identity=[host_policy], key_policy=key_policy))

    via_sm = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    slot = {**via_sm, "kms:EncryptionContext:SecretARN": _secret_arn(2)}
    assert decrypts(secrets_key, secrets_key_policy, **slot)
    other_secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-password-AbCdEf"
    assert not decrypts(
        secrets_key,
        secrets_key_policy,
        **via_sm,
        **{"kms:EncryptionContext:SecretARN": other_secret},
    )
    assert not decrypts(secrets_key, secrets_key_policy)
    assert not decrypts(
        secrets_key, secrets_key_policy, **{"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    )
    # The network key opens to the host through S3 only (the network files).
    assert not decrypts(network_key, network_key_policy, **slot)
    assert decrypts(
        network_key, network_key_policy, **{"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    )


def test_dlm_assumes_the_snapshot_role_only_for_this_account(default_stack: StackJson) -> None:
    """Issue 13 item 7: the DLM trust policy names the account (aws:SourceAccount)."""
    trust = resolve(
        default_stack,
        next(
            r["assume_role_policy"]
            for r in resources(default_stack, "aws_iam_role").values()
            if r["//"]["metadata"]["path"].endswith("/fleet/snapshot_role")
        ),
    )
    dlm = "dlm.amazonaws.com"
    assume = "sts:AssumeRole"
    role = f"arn:aws:iam::{ACCOUNT}:role/besu-snapshots"

    def assumes(**context: str) -> bool:
        request = Request(dlm, assume, role, context)
        return is_allowed(request, Policies(resource=[trust]))

    assert assumes(**{"aws:SourceAccount": ACCOUNT})
    assert not assumes(**{"aws:SourceAccount": "444455556666"})
