"""IAM wired by objects and grants (issue 13): where permissions are written, and what they allow.

The first tests read the source: names and ARNs known at synth time come from one identity
object (no construct formats an ``arn:`` string by hand), ``kms:ViaService`` is written only by
the key classes' grants, and the network stack only composes constructs. The others evaluate
the synthesized policies with ``tests/support/iam_eval.py`` (our own evaluator, pinned to the
IAM guide's documented rules in ``tests/unit/test_iam_eval.py``): the checker writes its own
registry attribute only, the termination hook tags only the snapshots it creates, the dead-letter
queue refuses plain HTTP, the reconciler completes no lifecycle action, each function writes only
its own log group, and no AWS-managed policy is attached but DLM's service role.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackJson, ref, resource_at, resources
from tests.support.iam_eval import (
    ACCOUNT,
    REGION,
    Policies,
    Request,
    is_allowed,
    resolve,
    role_policies,
)

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]
CONSTRUCT_SOURCES = sorted(
    [
        *(ROOT / "besu_stack" / "constructs").rglob("*.py"),
        *(ROOT / "besu_stack/stacks").glob("*.py"),
    ]
)
ARN_FORMATTER = ROOT / "besu_stack" / "constructs" / "platform.py"
VIA_SERVICE_WRITERS = {
    ROOT / "besu_stack" / "constructs" / "kms.py",  # identity-side grants of delegating keys
    ROOT / "besu_stack" / "constructs" / "secrets_key.py",  # the secrets key's own policy
}


def _strings_outside_docstrings(path: Path) -> list[tuple[int, str]]:
    """Every string literal and f-string (its literal parts joined) that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    # Attribute docstrings: a string expression statement right after an assignment.
    docstrings |= {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            found.append((node.lineno, text))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            found.append((node.lineno, node.value))
    return found


def test_no_construct_or_stack_formats_an_arn_by_hand() -> None:
    """Names and ARNs known at synth time come from NetworkIdentity and Platform.arn."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in CONSTRUCT_SOURCES
        if path != ARN_FORMATTER
        for line, text in _strings_outside_docstrings(path)
        if "arn:" in text
    ]
    assert offenders == []


def test_kms_via_service_is_written_only_by_the_key_grants() -> None:
    writers = {
        path
        for path in CONSTRUCT_SOURCES
        for _, text in _strings_outside_docstrings(path)
        if text == "kms:ViaService"
    }
    assert writers == VIA_SERVICE_WRITERS


def test_the_network_stack_only_composes_constructs() -> None:
    """BesuNetworkStack creates no provider resource and writes no policy statement itself."""
    source = ROOT / "besu_stack" / "stacks" / "network_stack.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    provider_imports = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("cdktf_cdktf_provider")
    ]
    assert provider_imports == []
    statements = [
        text for _, text in _strings_outside_docstrings(source) if text in ("Effect", "Action")
    ]
    assert statements == []


FUNCTIONS = {
    "key lambda": "/validator_keys/keygen/role",
    "health checker": "/health_check/health/role",
    "launch hook": "/node_lifecycle/launch/role",
    "termination hook": "/node_lifecycle/termination/role",
    "reconciler": "/node_lifecycle/reconciler/role",
}


def _can(stack: StackJson, who: str, action: str, resource: str, **context: Any) -> bool:
    arn, identity = role_policies(stack, FUNCTIONS[who])
    return is_allowed(Request(arn, action, resource, context), Policies(identity=identity))


def _table_arn(stack: StackJson) -> str:
    table = resource_at(stack, "aws_dynamodb_table", "registry/table")
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table['name']}"


def test_only_dlms_service_role_policy_is_attached(default_stack: StackJson) -> None:
    """Issue 13 item 5: no broad AWS-managed policy; each role has one inline policy."""
    attached = [
        a["policy_arn"] for a in resources(default_stack, "aws_iam_role_policy_attachment").values()
    ]
    assert [arn.rsplit(":policy/", 1)[1] for arn in attached] == [
        "service-role/AWSDataLifecycleManagerServiceRole"
    ]
    for suffix in FUNCTIONS.values():
        _, policies = role_policies(default_stack, suffix)
        assert len(policies) == 1, suffix


@pytest.mark.parametrize(
    ("attributes", "allowed"),
    [
        (["slot", "health"], True),
        (["health"], True),
        (["slot", "health", "owner_instance_id"], False),
        (["slot", "secret_name"], False),
        (["slot", "status"], False),
        (["slot", "address"], False),
    ],
)
def test_the_health_checker_updates_only_its_own_attribute(
    default_stack: StackJson, attributes: list[str], allowed: bool
) -> None:
    """Issue 13 item 3: a compromised checker cannot repoint a slot's key, owner or address."""
    assert (
        _can(
            default_stack,
            "health checker",
            "dynamodb:UpdateItem",
            _table_arn(default_stack),
            **{"dynamodb:Attributes": attributes, "dynamodb:ReturnValues": "NONE"},
        )
        is allowed
    )


def test_the_health_checker_cannot_read_other_attributes_back_through_an_update(
    default_stack: StackJson,
) -> None:
    table = _table_arn(default_stack)
    for returned, allowed in (
        ("NONE", True),
        ("UPDATED_NEW", True),
        ("ALL_OLD", False),
        ("ALL_NEW", False),
    ):
        assert (
            _can(
                default_stack,
                "health checker",
                "dynamodb:UpdateItem",
                table,
                **{"dynamodb:Attributes": ["slot", "health"], "dynamodb:ReturnValues": returned},
            )
            is allowed
        ), returned
    assert not _can(default_stack, "health checker", "dynamodb:PutItem", table)
    assert not _can(default_stack, "health checker", "dynamodb:DeleteItem", table)
    # The lifecycle functions, which own the slot records, are not limited this way.
    assert _can(
        default_stack,
        "launch hook",
        "dynamodb:UpdateItem",
        table,
        **{"dynamodb:Attributes": ["slot", "owner_instance_id", "status"]},
    )


def test_the_termination_hook_tags_only_the_snapshots_it_creates(default_stack: StackJson) -> None:
    """Issue 13 item 7: CreateTags on snapshots only as part of CreateSnapshot, only with the
    network's tag, so no existing snapshot can be tagged into the network (the launch hook
    restores from Network-tagged snapshots)."""
    snapshot = f"arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0"
    network = {"aws:RequestTag/Network": "besu"}
    assert _can(
        default_stack,
        "termination hook",
        "ec2:CreateTags",
        snapshot,
        **network,
        **{"ec2:CreateAction": "CreateSnapshot"},
    )
    assert not _can(default_stack, "termination hook", "ec2:CreateTags", snapshot, **network)
    assert not _can(
        default_stack,
        "termination hook",
        "ec2:CreateTags",
        snapshot,
        **{"aws:RequestTag/Network": "other", "ec2:CreateAction": "CreateSnapshot"},
    )
    for who in ("launch hook", "reconciler", "health checker"):
        assert not _can(
            default_stack,
            who,
            "ec2:CreateTags",
            snapshot,
            **network,
            **{"ec2:CreateAction": "CreateSnapshot"},
        ), who


def test_the_reconciler_completes_no_lifecycle_action(default_stack: StackJson) -> None:
    group = (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0a1b:autoScalingGroupName/"
        "besu-validators"
    )
    assert _can(default_stack, "launch hook", "autoscaling:CompleteLifecycleAction", group)
    assert _can(default_stack, "launch hook", "autoscaling:RecordLifecycleActionHeartbeat", group)
    assert _can(default_stack, "termination hook", "autoscaling:CompleteLifecycleAction", group)
    assert not _can(
        default_stack, "termination hook", "autoscaling:RecordLifecycleActionHeartbeat", group
    )
    for action in ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"):
        assert not _can(default_stack, "reconciler", f"autoscaling:{action}", group)


def test_each_function_writes_only_its_own_log_group(default_stack: StackJson) -> None:
    """Issue 13 item 5: no AWSLambdaVPCAccessExecutionRole (logs:* on every log group)."""
    names = {
        "key lambda": "besu-keygen",
        "health checker": "besu-health",
        "launch hook": "besu-launch-hook",
        "termination hook": "besu-terminate-hook",
        "reconciler": "besu-reconciler",
    }
    for who, name in names.items():
        for other in names.values():
            stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{other}:log-stream:x"
            assert _can(default_stack, who, "logs:PutLogEvents", stream) is (other == name), (
                who,
                other,
            )
        assert not _can(
            default_stack,
            who,
            "logs:CreateLogGroup",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:x",
        )


def test_vpc_functions_manage_network_interfaces_in_this_account_only(
    default_stack: StackJson,
) -> None:
    here = f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/eni-0123"
    elsewhere = f"arn:aws:ec2:{REGION}:999999999999:network-interface/eni-0123"
    for who in ("health checker", "key lambda"):
        assert _can(default_stack, who, "ec2:CreateNetworkInterface", here)
        assert _can(default_stack, who, "ec2:DeleteNetworkInterface", here)
        assert not _can(default_stack, who, "ec2:DeleteNetworkInterface", elsewhere)
    # The lifecycle functions run outside the VPC: no network interfaces at all.
    assert not _can(default_stack, "launch hook", "ec2:CreateNetworkInterface", here)


def test_the_dead_letter_queue_refuses_requests_without_tls(default_stack: StackJson) -> None:
    """Issue 13 item 7: the queue's policy denies plain HTTP to everyone, the hooks included."""
    queue = "node_lifecycle/dead_letters/queue"
    queue_arn = resolve(default_stack, ref(default_stack, "aws_sqs_queue", queue, "arn"))
    policy = resource_at(
        default_stack, "aws_sqs_queue_policy", "node_lifecycle/dead_letters/policy"
    )
    document = json.loads(resolve(default_stack, policy["policy"]))
    arn, identity = role_policies(default_stack, FUNCTIONS["launch hook"])

    def send(secure: str) -> bool:
        request = Request(arn, "sqs:SendMessage", queue_arn, {"aws:SecureTransport": secure})
        return is_allowed(request, Policies(identity=identity, resource=[document]))

    assert send("true")
    assert not send("false")


def _lambda_role(stack: Any) -> Any:
    """A bare Lambda-trusting :class:`~besu_stack.constructs.iam.Role` in ``stack``."""
    from besu_stack.constructs.iam import Role, service_trust_policy

    return Role(
        stack,
        "role",
        name="r",
        description="d",
        assume_role_policy=service_trust_policy("lambda.amazonaws.com"),
        policy_id="policy",
    )


def test_the_role_merges_one_permission_and_refuses_a_second_meaning_of_a_sid() -> None:
    from cdktf import App, TerraformStack

    role = _lambda_role(TerraformStack(App(), "roles"))
    read = {"Sid": "UseKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "k"}
    write = {**read, "Action": ["kms:GenerateDataKey"]}
    role.add_to_policy(read)
    role.add_to_policy(read)
    role.add_to_policy(write)
    assert role.statements == ({**read, "Action": ["kms:Decrypt", "kms:GenerateDataKey"]},)
    with pytest.raises(ValueError, match="UseKey"):
        role.add_to_policy({**read, "Resource": "other"})


def test_a_registry_grant_limited_to_attributes_refuses_whole_item_writes() -> None:
    from cdktf import App, TerraformStack

    from besu_stack.constructs.identity import NetworkIdentity
    from besu_stack.constructs.kms import KeyGrants
    from besu_stack.constructs.naming import Naming
    from besu_stack.constructs.platform import Platform
    from besu_stack.constructs.registry import ValidatorRegistry

    stack = TerraformStack(App(), "registry")
    platform = Platform(stack, "platform")
    registry = ValidatorRegistry(
        stack,
        "registry",
        identity=NetworkIdentity(Naming("net"), platform),
        key=KeyGrants("arn:aws:kms:eu-west-1:111122223333:key/k", platform),
    )
    role = _lambda_role(stack)
    with pytest.raises(ValueError, match="dynamodb:PutItem"):
        registry.grant(role, ["dynamodb:PutItem"], sid="Write", attributes=["health"])
    with pytest.raises(ValueError, match="dynamodb"):
        registry.grant(role, ["s3:GetObject"], sid="Wrong")
