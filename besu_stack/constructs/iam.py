"""IAM as objects: roles that grow one inline policy, and the protocol every grant takes.

The constructs wire IAM the way the AWS CDK construct library does: a resource construct offers
``grant_*`` methods that take a :class:`Grantable` (anything with a principal ARN and an identity
policy to add to) and write the statements that protect *that* resource next to it, with the
key-use statements its encryption needs. A :class:`Role` is the one grantable the stack creates:
an IAM role with a single inline policy that every grant extends. Policy documents are written
as deterministic JSON (sorted keys; statements in grant order), so synthesis stays byte-stable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

Statement = Mapping[str, Any]


def policy_document(statements: Sequence[Statement]) -> str:
    """A policy document as JSON with sorted keys, so synthesis stays byte-for-byte stable.

    Terraform tokens inside the strings (ARNs of resources created in the same stack) are kept
    as they are and resolved by cdktf when the stack is synthesized.
    """
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def allow(actions: Sequence[str], resources: Sequence[str], sid: str, **extra: Any) -> Statement:
    """An ``Allow`` statement for ``actions`` on ``resources`` (never an empty resource list)."""
    if not resources:
        raise ValueError(f"statement {sid}: an Allow needs at least one resource")
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": list(resources),
        **extra,
    }


def service_principal(service: str) -> Mapping[str, str]:
    """The ``Principal`` block for an AWS service such as ``logs.amazonaws.com``."""
    return {"Service": service}


def service_trust_policy(
    service: str, *, condition: Mapping[str, Any] | None = None, sid: str | None = None
) -> str:
    """A trust policy letting ``service`` assume a role, under ``condition`` when given."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": service_principal(service),
        "Action": "sts:AssumeRole",
    }
    if sid is not None:
        statement["Sid"] = sid
    if condition:
        statement["Condition"] = dict(condition)
    return policy_document([statement])


class Grantable(Protocol):
    """A principal permissions can be granted to: its ARN and an identity policy to extend."""

    @property
    def principal_arn(self) -> str:
        """The principal's ARN (a role ARN), as key and resource policies name it."""
        ...

    def add_to_policy(self, statement: Statement) -> None:
        """Add ``statement`` to the principal's identity policy."""
        ...


class Role:
    """An IAM role with one inline identity policy that every grant extends.

    Creates ``IamRole`` ``role_id`` in ``scope`` (name, description, trust policy) and, on the
    first statement, ``IamRolePolicy`` ``policy_id`` named ``policy_name`` (the role's name by
    default). Construct ids are the caller's, so resource addresses stay where they were.

    Statements are kept in the order they are added. Adding one identical to a statement already
    there does nothing (two grants may need the same key use); adding one that differs from the
    statement of the same ``Sid`` only in its actions merges the actions into it; any other
    reuse of a ``Sid`` is an error, so every ``Sid`` names one permission.
    """

    def __init__(
        self,
        scope: Construct,
        role_id: str,
        *,
        name: str,
        description: str,
        assume_role_policy: str,
        policy_id: str,
        policy_name: str | None = None,
    ) -> None:
        self._scope = scope
        self._policy_id = policy_id
        self._policy_name = policy_name or name
        self.role = IamRole(
            scope,
            role_id,
            name=name,
            description=description,
            assume_role_policy=assume_role_policy,
        )
        self.arn: str = self.role.arn
        """The role's ARN (a Terraform reference)."""
        self.name: str = self.role.name
        """The role's name (a Terraform reference)."""
        self._statements: list[Statement] = []
        self._policy: IamRolePolicy | None = None

    @property
    def principal_arn(self) -> str:
        """The role's ARN, as key and resource policies name the principal."""
        return self.arn

    @property
    def statements(self) -> tuple[Statement, ...]:
        """The statements of the role's inline policy, in the order they were granted."""
        return tuple(self._statements)

    def add_to_policy(self, statement: Statement) -> None:
        """Add ``statement`` to the role's inline policy (see the class docstring)."""
        sid = statement.get("Sid")
        for index, existing in enumerate(self._statements):
            if existing == statement:
                return
            if sid is None or existing.get("Sid") != sid:
                continue
            if _without_actions(existing) != _without_actions(statement):
                raise ValueError(
                    f"role {self._policy_name}: statement id {sid!r} is already used by "
                    "a different statement"
                )
            # The same permission on the same resources under the same conditions: one
            # statement with both grants' actions (e.g. reading and writing through one key).
            actions = sorted({*_actions(existing), *_actions(statement)})
            self._statements[index] = {**existing, "Action": actions}
            break
        else:
            self._statements.append(statement)
        document = policy_document(self._statements)
        if self._policy is None:
            self._policy = IamRolePolicy(
                self._scope,
                self._policy_id,
                role=self.role.id,
                name=self._policy_name,
                policy=document,
            )
        else:
            self._policy.policy = document

    def add_statements(self, statements: Sequence[Statement]) -> None:
        """Add each of ``statements`` in order."""
        for statement in statements:
            self.add_to_policy(statement)


def _actions(statement: Statement) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _without_actions(statement: Statement) -> dict[str, Any]:
    return {key: value for key, value in statement.items() if key != "Action"}
