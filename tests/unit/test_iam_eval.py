"""The test-support IAM evaluator against the rules the IAM and KMS guides document.

Each case restates a documented rule ("Policy evaluation logic", "Condition operators",
"Key policies in AWS KMS"), so the evaluator the security tests rely on is itself pinned.
"""

from __future__ import annotations

import pytest

from tests.support.iam_eval import ACCOUNT, Policies, Request, is_allowed

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def _doc(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_ALL = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})


def test_an_explicit_deny_overrides_any_allow() -> None:
    deny = _doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    assert not is_allowed(
        Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k"), Policies([ALLOW_ALL, deny])
    )


def test_nothing_is_allowed_without_an_allow() -> None:
    assert not is_allowed(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k"), Policies())


def test_within_one_account_a_resource_policy_naming_the_role_suffices() -> None:
    resource = _doc(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": "*"}
    )
    assert is_allowed(
        Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k"), Policies(resource=[resource])
    )


def test_a_missing_key_fails_positive_operators_and_passes_negated_ones() -> None:
    def allowed(operator: str) -> bool:
        policy = _doc(
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {operator: {"aws:SourceVpc": "vpc-1"}},
            }
        )
        return is_allowed(Request(ROLE, "s3:GetObject", "x"), Policies([policy]))

    assert not allowed("StringEquals")
    assert allowed("StringNotEquals")
    assert allowed("StringEqualsIfExists")


def test_values_of_one_key_are_ored_and_keys_are_anded() -> None:
    policy = _doc(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"k:a": ["1", "2"], "k:b": "3"}},
        }
    )
    assert is_allowed(Request(ROLE, "x:y", "r", {"k:a": "2", "k:b": "3"}), Policies([policy]))
    assert not is_allowed(Request(ROLE, "x:y", "r", {"k:a": "2"}), Policies([policy]))


def test_a_key_policy_naming_the_account_needs_an_identity_allow_too() -> None:
    key_policy = _doc(
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
    )
    request = Request(ROLE, "kms:Decrypt", "arn:aws:kms:eu-west-1:111122223333:key/k")
    assert not is_allowed(request, Policies(key_policy=key_policy))
    assert is_allowed(request, Policies(identity=[ALLOW_ALL], key_policy=key_policy))


def test_an_identity_allow_alone_does_not_open_a_kms_key() -> None:
    key_policy = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        }
    )
    request = Request(ROLE, "kms:Decrypt", "arn:aws:kms:eu-west-1:111122223333:key/k")
    assert not is_allowed(request, Policies(identity=[ALLOW_ALL], key_policy=key_policy))


def test_an_endpoint_policy_only_limits() -> None:
    endpoint = _doc(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    )
    get = Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k")
    put = Request(ROLE, "s3:PutObject", "arn:aws:s3:::b/k")
    assert not is_allowed(get, Policies(endpoint=[endpoint]))
    assert is_allowed(get, Policies(identity=[ALLOW_ALL], endpoint=[endpoint]))
    assert not is_allowed(put, Policies(identity=[ALLOW_ALL], endpoint=[endpoint]))


def test_an_unknown_operator_is_refused_rather_than_guessed() -> None:
    policy = _doc(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"NumericLessThan": {"k": "1"}},
        }
    )
    with pytest.raises(ValueError, match="NumericLessThan"):
        is_allowed(Request(ROLE, "x:y", "r", {"k": "0"}), Policies([policy]))


def test_for_all_values_holds_when_every_request_value_is_listed_or_there_is_none() -> None:
    """IAM User Guide, "Multivalued context keys": ForAllValues is true when every value in
    the request matches, and also when the key is missing or empty."""
    policy = _doc(
        {
            "Effect": "Allow",
            "Action": "dynamodb:UpdateItem",
            "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["slot", "health"]}},
        }
    )

    def update(*attributes: str) -> Request:
        context = {"dynamodb:Attributes": list(attributes)} if attributes else {}
        return Request(ROLE, "dynamodb:UpdateItem", "t", context)

    assert is_allowed(update("slot", "health"), Policies([policy]))
    assert is_allowed(update("health"), Policies([policy]))
    assert not is_allowed(update("slot", "health", "owner_instance_id"), Policies([policy]))
    assert is_allowed(update(), Policies([policy]))


def test_for_any_value_needs_one_matching_value_and_fails_without_the_key() -> None:
    policy = _doc(
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["besu:*"]}},
        }
    )
    tags = Request(ROLE, "ec2:CreateTags", "r", {"aws:TagKeys": ["Name", "besu:slot"]})
    assert is_allowed(tags, Policies([policy]))
    assert not is_allowed(
        Request(ROLE, "ec2:CreateTags", "r", {"aws:TagKeys": ["Name"]}), Policies([policy])
    )
    assert not is_allowed(Request(ROLE, "ec2:CreateTags", "r"), Policies([policy]))


def test_a_single_valued_operator_on_a_multivalued_key_is_refused() -> None:
    policy = _doc(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:TagKeys": "a"}},
        }
    )
    with pytest.raises(ValueError, match="set qualifier"):
        is_allowed(Request(ROLE, "x:y", "r", {"aws:TagKeys": ["a"]}), Policies([policy]))


def test_null_tests_presence_alone() -> None:
    """IAM User Guide, "Condition operators", Null check
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null):
    "true" means the key does not exist (it is null), "false" that it exists and its value is
    not null, whatever that value is."""

    def denied(null: str, context: dict[str, str]) -> bool:
        deny = _doc(
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Null": {"secretsmanager:KmsKeyId": null}},
            }
        )
        request = Request(ROLE, "secretsmanager:UpdateSecret", "s", context)
        return not is_allowed(request, Policies([ALLOW_ALL, deny]))

    present = {"secretsmanager:KmsKeyId": "alias/mine"}
    assert denied("false", present)
    assert not denied("false", {})
    assert denied("true", {})
    assert not denied("true", present)


def test_present_and_different_needs_null_beside_a_negated_operator() -> None:
    """A negated operator alone is true when the key is missing (the guide's "Important" note
    on the same page), so "present and different" is Null "false" ANDed with StringNotEquals."""

    def denied(condition: dict[str, object], context: dict[str, str]) -> bool:
        deny = _doc({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition})
        request = Request(ROLE, "secretsmanager:UpdateSecret", "s", context)
        return not is_allowed(request, Policies([ALLOW_ALL, deny]))

    different = {"StringNotEquals": {"secretsmanager:KmsKeyId": "key/ours"}}
    present_and_different = {**different, "Null": {"secretsmanager:KmsKeyId": "false"}}
    assert denied(different, {})  # the trap: no key at all, yet "not equal"
    assert not denied(present_and_different, {})
    assert denied(present_and_different, {"secretsmanager:KmsKeyId": "key/theirs"})
    assert not denied(present_and_different, {"secretsmanager:KmsKeyId": "key/ours"})


def test_null_takes_only_true_or_false_and_no_suffix() -> None:
    for condition in (
        {"Null": {"k:a": "yes"}},
        {"NullIfExists": {"k:a": "true"}},
        {"ForAllValues:Null": {"k:a": "true"}},
    ):
        policy = _doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition})
        with pytest.raises(ValueError, match="Null"):
            is_allowed(Request(ROLE, "x:y", "r"), Policies([policy]))
