"""Endpoint policies: the nodes and Lambdas reach only this account and the AWS buckets they need.

The synthesized policies are evaluated (``tests/support/iam_eval.py``) for requests a host could
make, so these tests state who gets through each endpoint rather than what JSON we wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from besu_stack.constructs.endpoints import AWS_OWNED_BUCKETS
from besu_stack.settings import Settings
from tests.conftest import StackJson, resource_at
from tests.support.iam_eval import ACCOUNT, REGION, Policies, Request, is_allowed, resolve

pytestmark = pytest.mark.synth

HOST = f"arn:aws:iam::{ACCOUNT}:role/besu-instance"
OTHER_ACCOUNT = "444455556666"
OWN_BUCKET = f"arn:aws:s3:::besu-artifacts-{ACCOUNT}-{REGION}/genesis.json"
FOREIGN_BUCKET = "arn:aws:s3:::attacker-drop-bucket/loot"


def _gateway_policy(stack: StackJson, service: str) -> str:
    endpoint = resource_at(stack, "aws_vpc_endpoint", "network/gateway_endpoint")
    match = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\[each\.value\]\}", endpoint["policy"])
    assert match, endpoint["policy"]
    return resolve(stack, stack["locals"][match.group(1)][service])


def _interface_policy(stack: StackJson) -> str:
    endpoint = resource_at(stack, "aws_vpc_endpoint", "network/interface_endpoint")
    return resolve(stack, endpoint["policy"])


def _through(policy: str, request: Request) -> bool:
    # Only the endpoint policy limits here: the host's identity policy is taken to allow.
    return is_allowed(request, Policies(identity=[_allow_all()], endpoint=[policy]))


def _allow_all() -> dict[str, object]:
    return {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _s3(resource: str, resource_account: str | None, principal: str = HOST) -> Request:
    context = {"aws:ResourceAccount": resource_account} if resource_account else {}
    return Request(principal, "s3:GetObject", resource, context)


@pytest.fixture(scope="module", params=["create", "existing"])
def any_stack(
    request: pytest.FixtureRequest, synth_settings: Callable[[Settings], StackJson]
) -> StackJson:
    return synth_settings(Settings(vpc_mode=request.param))


def test_s3_gateway_endpoint_reaches_this_accounts_buckets(any_stack: StackJson) -> None:
    policy = _gateway_policy(any_stack, "s3")
    assert _through(policy, _s3(OWN_BUCKET, ACCOUNT))
    assert _through(
        policy, Request(HOST, "s3:PutObject", OWN_BUCKET, {"aws:ResourceAccount": ACCOUNT})
    )


def test_s3_gateway_endpoint_refuses_other_accounts_buckets(any_stack: StackJson) -> None:
    """The way out of issue 13 item 2: copying to a bucket elsewhere is refused at the endpoint."""
    policy = _gateway_policy(any_stack, "s3")
    for action in ("s3:PutObject", "s3:GetObject", "s3:ListBucket"):
        request = Request(HOST, action, FOREIGN_BUCKET, {"aws:ResourceAccount": OTHER_ACCOUNT})
        assert not _through(policy, request), action


def test_s3_gateway_endpoint_refuses_principals_of_other_accounts(any_stack: StackJson) -> None:
    policy = _gateway_policy(any_stack, "s3")
    stranger = f"arn:aws:iam::{OTHER_ACCOUNT}:role/anyone"
    assert not _through(policy, _s3(FOREIGN_BUCKET, OTHER_ACCOUNT, principal=stranger))
    assert not _through(policy, _s3(OWN_BUCKET, ACCOUNT, principal=stranger))


def test_s3_gateway_endpoint_reads_only_the_documented_aws_owned_buckets(
    any_stack: StackJson,
) -> None:
    """ECR layers and the AL2023 repositories (AWS-owned accounts), read-only, nothing else."""
    policy = _gateway_policy(any_stack, "s3")
    ecr_layer = f"arn:aws:s3:::prod-{REGION}-starport-layer-bucket/sha256/abc"
    al2023 = f"arn:aws:s3:::al2023-repos-{REGION}-de612dc2/core/mirrors/latest/x86_64/mirror.list"
    for resource in (ecr_layer, al2023):
        assert _through(policy, _s3(resource, OTHER_ACCOUNT)), resource
        assert not _through(
            policy,
            Request(HOST, "s3:PutObject", resource, {"aws:ResourceAccount": OTHER_ACCOUNT}),
        )
    other_region_repo = "arn:aws:s3:::al2023-repos-us-east-1-de612dc2/x"
    assert not _through(policy, _s3(other_region_repo, OTHER_ACCOUNT))


def test_each_aws_owned_bucket_names_the_page_that_documents_it() -> None:
    for bucket in AWS_OWNED_BUCKETS:
        assert bucket.documented_at.startswith("https://docs.aws.amazon.com/"), bucket
        assert bucket.used_by, bucket


def test_dynamodb_gateway_endpoint_reaches_this_accounts_tables_only(any_stack: StackJson) -> None:
    policy = _gateway_policy(any_stack, "dynamodb")
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/besu-registry"
    foreign = f"arn:aws:dynamodb:{REGION}:{OTHER_ACCOUNT}:table/drop"
    put = "dynamodb:PutItem"
    assert _through(policy, Request(HOST, put, table, {"aws:ResourceAccount": ACCOUNT}))
    assert not _through(policy, Request(HOST, put, foreign, {"aws:ResourceAccount": OTHER_ACCOUNT}))
    assert "s3:" not in policy


def test_interface_endpoints_admit_this_account_only(any_stack: StackJson) -> None:
    policy = _interface_policy(any_stack)
    own_secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:besu/validator-0/key-AbCdEf"
    foreign_secret = f"arn:aws:secretsmanager:{REGION}:{OTHER_ACCOUNT}:secret:drop-AbCdEf"
    put = "secretsmanager:PutSecretValue"
    assert _through(policy, Request(HOST, put, own_secret, {"aws:ResourceAccount": ACCOUNT}))
    assert not _through(
        policy, Request(HOST, put, foreign_secret, {"aws:ResourceAccount": OTHER_ACCOUNT})
    )
    stranger = f"arn:aws:iam::{OTHER_ACCOUNT}:role/anyone"
    assert not _through(
        policy, Request(stranger, put, own_secret, {"aws:ResourceAccount": ACCOUNT})
    )
    # Actions whose request carries no resource account (PutMetricData) still pass for us.
    assert _through(policy, Request(HOST, "cloudwatch:PutMetricData", "*"))


def test_every_endpoint_has_a_policy(any_stack: StackJson) -> None:
    for path in ("network/gateway_endpoint", "network/interface_endpoint"):
        assert resource_at(any_stack, "aws_vpc_endpoint", path).get("policy"), path
    json.loads(_interface_policy(any_stack))
