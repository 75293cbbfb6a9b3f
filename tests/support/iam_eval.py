"""A small IAM policy evaluator for tests: who may do what, per the synthesized policy documents.

It follows the documented evaluation logic for requests within one account ("Policy evaluation
logic", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

* an explicit ``Deny`` in any applicable policy wins;
* otherwise the request is allowed when an identity policy or a resource policy allows it
  (within one account, either suffices), and every VPC endpoint policy on the path allows it
  (an endpoint policy never grants, it only limits);
* KMS is the exception the KMS guide documents ("Key policies in AWS KMS",
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html): the key policy must
  allow the request itself, either naming the principal or naming the account (``:root``), and
  in the second case an identity policy must allow it too.

Supported: ``Effect``, ``Principal`` (``"*"``, ``{"AWS": ...}`` with role ARNs or the account
root, ``{"Service": ...}``), ``Action``/``NotAction`` and ``Resource``/``NotResource`` with
``*`` and ``?`` wildcards (actions case-insensitive), and the condition operators
``StringEquals``, ``StringNotEquals``, ``StringLike``, ``StringNotLike``, ``ArnEquals``,
``ArnNotEquals``, ``ArnLike``, ``ArnNotLike``, ``Bool``, each with the ``IfExists`` suffix, and
``Null``. A missing key makes a positive operator false and a negated one true, as IAM does;
``Null`` tests presence alone: ``"true"`` holds when the key is absent, ``"false"`` when it is
present ("IAM JSON policy elements: Condition operators", Null check,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null).
Several values of one key are ORed, several keys and operators ANDed. Multivalued request keys (a list in the
request's context, such as ``dynamodb:Attributes`` or ``aws:TagKeys``) take the set operators
("Multivalued context keys", IAM User Guide,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html):
``ForAllValues:`` holds when every request value matches a policy value, and also when the key is
missing or empty; ``ForAnyValue:`` when at least one does, never when it is missing. Anything
else raises, so a policy using an operator this evaluator does not know cannot pass a test by
accident.

Policies from the synthesized JSON hold Terraform references; :func:`resolve` replaces the ones
tests need with fixed values.

Not modelled: SCPs, permission boundaries, session policies, cross-account access, grants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "111122223333"
REGION = "eu-west-1"
PARTITION = "aws"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Administrator"
"""An account administrator: allowed everything by ``ALLOW_EVERYTHING``, granted nothing else."""
ALLOW_EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Request:
    """One API request: who (``principal``, a role ARN or a service), what, on which resource."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.principal.split(":")[4] if self.principal.startswith("arn:") else ""

    def keys(self) -> dict[str, str | Sequence[str]]:
        """The condition context: the caller's keys plus ``aws:PrincipalArn``/``Account``."""
        keys: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in self.context.items()}
        if self.principal.startswith("arn:"):
            keys.setdefault("aws:principalarn", self.principal)
            keys.setdefault("aws:principalaccount", self.account)
        return keys


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _matches_action(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_glob(a, action, case=False) for a in _as_list(statement["NotAction"]))
    return any(_glob(a, action, case=False) for a in _as_list(statement["Action"]))


def _matches_resource(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_glob(r, resource, case=True) for r in _as_list(statement["NotResource"]))
    return any(_glob(r, resource, case=True) for r in _as_list(statement.get("Resource", "*")))


_OPERATORS = {
    "stringequals": (lambda p, v: p == v, False),
    "stringnotequals": (lambda p, v: p == v, True),
    "stringlike": (lambda p, v: _glob(p, v, case=True), False),
    "stringnotlike": (lambda p, v: _glob(p, v, case=True), True),
    "arnequals": (lambda p, v: p == v, False),
    "arnnotequals": (lambda p, v: p == v, True),
    "arnlike": (lambda p, v: _glob(p, v, case=True), False),
    "arnnotlike": (lambda p, v: _glob(p, v, case=True), True),
    "bool": (lambda p, v: str(p).lower() == v.lower(), False),
}


def _null_holds(operator: str, clauses: Mapping[str, Any], keys: Mapping[str, Any]) -> bool:
    """``Null``: each key's ``"true"`` holds when it is absent, ``"false"`` when present."""
    for key, expected in clauses.items():
        value = keys.get(key.lower())
        if value is not None and not isinstance(value, str) and not value:
            raise ValueError(f"{operator} on the empty multivalued key {key} is not modelled")
        wanted = {str(p).lower() for p in _as_list(expected)}
        if not wanted <= {"true", "false"}:
            raise ValueError(f'{operator} on {key} takes "true" or "false", got {expected!r}')
        if ("true" if value is None else "false") not in wanted:
            return False
    return True


def _conditions_hold(statement: Mapping[str, Any], keys: Mapping[str, str | Sequence[str]]) -> bool:
    for operator, clauses in statement.get("Condition", {}).items():
        if operator.lower() == "null":
            if not _null_holds(operator, clauses, keys):
                return False
            continue
        qualifier, _, name = operator.lower().rpartition(":")
        if qualifier not in ("", "forallvalues", "foranyvalue"):
            raise ValueError(f"condition operator {operator} is not supported by this evaluator")
        if_exists = name.endswith("ifexists")
        name = name.removesuffix("ifexists")
        if name not in _OPERATORS:
            raise ValueError(f"condition operator {operator} is not supported by this evaluator")
        compare, negated = _OPERATORS[name]
        for key, patterns in clauses.items():
            value = keys.get(key.lower())
            if qualifier:
                values = [] if value is None else _as_list(value)
                matched = [
                    any(compare(p, v) for p in _as_list(patterns)) != negated for v in values
                ]
                holds = all(matched) if qualifier == "forallvalues" else any(matched)
            elif value is None:
                holds = if_exists or negated
            elif not isinstance(value, str):
                raise ValueError(f"{operator} on the multivalued key {key} needs a set qualifier")
            else:
                any_match = any(compare(p, value) for p in _as_list(patterns))
                holds = not any_match if negated else any_match
            if not holds:
                return False
    return True


def _principal_match(statement: Mapping[str, Any], principal: str) -> str | None:
    """``"direct"`` (names the principal or ``*``), ``"account"`` (names its root), or None."""
    block = statement.get("Principal")
    if block == "*":
        return "direct"
    if not isinstance(block, Mapping):
        raise ValueError(f"statement {statement.get('Sid')}: Principal {block!r} not supported")
    for kind, values in block.items():
        for value in _as_list(values):
            if value == "*" or value == principal:
                return "direct"
            if kind == "AWS" and principal.startswith("arn:"):
                account = principal.split(":")[4]
                if value in (account, f"arn:{PARTITION}:iam::{account}:root"):
                    return "account"
    return None


def _statements(policy: Mapping[str, Any] | str) -> list[Mapping[str, Any]]:
    document = json.loads(policy) if isinstance(policy, str) else policy
    return _as_list(document["Statement"])


def evaluate(
    policy: Mapping[str, Any] | str, request: Request, *, resource_policy: bool = False
) -> tuple[bool, set[str]]:
    """(explicit deny?, how it is allowed): ``{"identity"}``, ``{"direct", "account"}`` ..."""
    keys = request.keys()
    denied = False
    allowed: set[str] = set()
    for statement in _statements(policy):
        if resource_policy:
            how = _principal_match(statement, request.principal)
            if how is None:
                continue
        else:
            how = "identity"
        if not (
            _matches_action(statement, request.action)
            and _matches_resource(statement, request.resource)
            and _conditions_hold(statement, keys)
        ):
            continue
        if statement["Effect"] == "Deny":
            denied = True
        else:
            allowed.add(how)
    return denied, allowed


@dataclass(frozen=True)
class Policies:
    """The policies that apply to one request."""

    identity: Sequence[Mapping[str, Any] | str] = ()
    resource: Sequence[Mapping[str, Any] | str] = ()
    endpoint: Sequence[Mapping[str, Any] | str] = ()
    key_policy: Mapping[str, Any] | str | None = None


def is_allowed(request: Request, policies: Policies) -> bool:
    """Whether the request is allowed within its own account (see the module docstring)."""
    identity_allows = False
    resource_allows = False
    for policy in policies.identity:
        denied, how = evaluate(policy, request)
        if denied:
            return False
        identity_allows |= bool(how)
    for policy in policies.resource:
        denied, how = evaluate(policy, request, resource_policy=True)
        if denied:
            return False
        resource_allows |= "direct" in how or ("account" in how and identity_allows)
    for policy in policies.endpoint:
        denied, how = evaluate(policy, request, resource_policy=True)
        if denied or not how:
            return False
    if policies.key_policy is not None:
        denied, how = evaluate(policies.key_policy, request, resource_policy=True)
        if denied:
            return False
        return "direct" in how or ("account" in how and identity_allows)
    return identity_allows or resource_allows


_REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_]+)\.([a-z_]+)\}")


def resolve(stack: Mapping[str, Any], text: str) -> str:
    """``text`` with the references tests need replaced by fixed values.

    The account, partition and region data sources become :data:`ACCOUNT`, :data:`PARTITION`
    and :data:`REGION`; a resource's ``name`` its (resolved) name; the ``arn`` of a role, key,
    secret, cluster, log group, bucket or table an ARN of the documented form built from its
    name (a key's from its logical id, which is also its ``key_id``). Any other reference becomes an ARN of a ``test``
    service, which no statement about a real service can match by accident.
    """

    def replace(match: re.Match[str]) -> str:
        kind, name, attribute = match.groups()
        body = stack.get("resource", {}).get(kind, {}).get(name, {})

        def named(key: str = "name") -> str:
            return resolve(stack, str(body[key]))

        if attribute == "name" and "name" in body:
            return named()
        arns = {
            "aws_iam_role": lambda: f"arn:{PARTITION}:iam::{ACCOUNT}:role/{named()}",
            "aws_kms_key": lambda: f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{name}",
            "aws_secretsmanager_secret": lambda: (
                f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{named()}-AbCdEf"
            ),
            "aws_ecs_cluster": lambda: f"arn:{PARTITION}:ecs:{REGION}:{ACCOUNT}:cluster/{named()}",
            "aws_cloudwatch_log_group": lambda: (
                f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{named()}"
            ),
            "aws_s3_bucket": lambda: f"arn:{PARTITION}:s3:::{named('bucket')}",
            "aws_dynamodb_table": lambda: (
                f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{named()}"
            ),
        }
        if attribute == "arn" and kind in arns:
            return arns[kind]()
        if (kind, attribute) == ("aws_iam_role", "id"):
            return named()
        if (kind, attribute) == ("aws_kms_key", "key_id"):
            return name  # the id its ARN ends with
        # Anything else: a value of its own that no pattern of another service can match.
        return f"arn:{PARTITION}:test:{REGION}:{ACCOUNT}:{kind}/{name}/{attribute}"

    text = re.sub(r"\$\{data\.aws_caller_identity\.[A-Za-z0-9_]+\.account_id\}", ACCOUNT, text)
    text = re.sub(r"\$\{data\.aws_partition\.[A-Za-z0-9_]+\.partition\}", PARTITION, text)
    text = re.sub(r"\$\{data\.aws_region\.[A-Za-z0-9_]+\.id\}", REGION, text)
    return _REFERENCE.sub(replace, text)


def role_arn(name: str) -> str:
    """The test ARN of a role named ``name``."""
    return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"


def role_policies(stack: Mapping[str, Any], path_suffix: str) -> tuple[str, list[str]]:
    """(ARN, resolved inline policies) of the role whose construct path ends with the suffix."""
    roles = stack.get("resource", {}).get("aws_iam_role", {})
    logical = next(
        name for name, r in roles.items() if r["//"]["metadata"]["path"].endswith(path_suffix)
    )
    policies = [
        resolve(stack, p["policy"])
        for p in stack.get("resource", {}).get("aws_iam_role_policy", {}).values()
        if p["role"] == "${aws_iam_role." + logical + ".id}"
    ]
    return resolve(stack, "${aws_iam_role." + logical + ".arn}"), policies
