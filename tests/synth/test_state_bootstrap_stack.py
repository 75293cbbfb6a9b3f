"""The state-bootstrap stack creates a bucket fit for Terraform state."""

from __future__ import annotations

import json

import pytest

from tests.conftest import StackJson, resources

pytestmark = pytest.mark.synth


def _by_path(stack: StackJson, kind: str, suffix: str) -> dict[str, object]:
    matches = [
        r for r in resources(stack, kind).values() if r["//"]["metadata"]["path"].endswith(suffix)
    ]
    assert len(matches) == 1, (kind, suffix, len(matches))
    return matches[0]


def _ref(stack: StackJson, kind: str, suffix: str) -> str:
    (logical_id,) = [
        k for k, r in resources(stack, kind).items() if r["//"]["metadata"]["path"].endswith(suffix)
    ]
    return f"{kind}.{logical_id}"


STATE = "state_bucket/state/"
LOGS = "state_bucket/access_logs/"


def test_state_bucket_name_defaults_to_network_account_and_region(state_stack: StackJson) -> None:
    bucket = _by_path(state_stack, "aws_s3_bucket", STATE + "bucket")
    assert bucket["bucket"] == "${local.bucket_name_or_derived}"
    local = state_stack["locals"]["bucket_name_or_derived"]
    assert local.startswith('${coalesce(var.bucket_name, "besu-tfstate-${data.aws_caller_identity.')
    assert "force_destroy" not in bucket or bucket["force_destroy"] is False


def test_state_bucket_is_versioned_and_kms_encrypted(state_stack: StackJson) -> None:
    versioning = _by_path(state_stack, "aws_s3_bucket_versioning", STATE + "versioning")
    assert versioning["versioning_configuration"]["status"] == "Enabled"
    sse = _by_path(
        state_stack, "aws_s3_bucket_server_side_encryption_configuration", STATE + "encryption"
    )
    rule = sse["rule"][0]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    assert (
        rule["apply_server_side_encryption_by_default"]["kms_master_key_id"]
        == "${" + _ref(state_stack, "aws_kms_key", "state_bucket/key") + ".arn}"
    )
    key = _by_path(state_stack, "aws_kms_key", "state_bucket/key")
    assert key["enable_key_rotation"] is True


@pytest.mark.parametrize("prefix", [STATE, LOGS])
def test_both_buckets_block_public_access_disable_acls_and_refuse_plain_http(
    state_stack: StackJson, prefix: str
) -> None:
    pab = _by_path(state_stack, "aws_s3_bucket_public_access_block", prefix + "public_access_block")
    assert all(
        pab[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    ownership = _by_path(state_stack, "aws_s3_bucket_ownership_controls", prefix + "ownership")
    assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"
    policy = json.loads(_by_path(state_stack, "aws_s3_bucket_policy", prefix + "policy")["policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": deny[0]["Resource"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    assert len(deny[0]["Resource"]) == 2 and deny[0]["Resource"][1].endswith("/*")


def test_noncurrent_versions_expire(state_stack: StackJson) -> None:
    lifecycle = _by_path(state_stack, "aws_s3_bucket_lifecycle_configuration", STATE + "lifecycle")
    (rule,) = lifecycle["rule"]
    assert rule["status"] == "Enabled"
    assert (
        rule["noncurrent_version_expiration"][0]["noncurrent_days"]
        == "${var.noncurrent_version_retention_days}"
    )


def test_state_bucket_access_is_logged_to_the_log_bucket(state_stack: StackJson) -> None:
    logging = _by_path(state_stack, "aws_s3_bucket_logging", STATE + "logging")
    assert (
        logging["target_bucket"]
        == "${" + _ref(state_stack, "aws_s3_bucket", LOGS + "bucket") + ".id}"
    )
    policy = json.loads(_by_path(state_stack, "aws_s3_bucket_policy", LOGS + "policy")["policy"])
    delivery = [s for s in policy["Statement"] if s["Sid"] == "S3ServerAccessLogDelivery"]
    assert delivery and delivery[0]["Principal"] == {"Service": "logging.s3.amazonaws.com"}


def test_bootstrap_keeps_its_own_state_local_and_outputs_what_the_settings_need(
    state_stack: StackJson,
) -> None:
    assert "local" in state_stack["terraform"]["backend"]
    assert {"state_bucket_name", "state_kms_key_arn"} <= set(state_stack["output"])
