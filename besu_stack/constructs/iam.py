"""Small helpers for writing IAM policy documents as deterministic JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

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
