"""Every accepted checkov finding, in one reviewed place, each scoped to one resource.

A suppression names the check, the stack it applies to (``*`` for every network's stack of
that kind), the resource address as checkov reports it (``<type>.<logical id>``; logical ids end
in a hash of the construct path, matched by ``*``) and the reason it is accepted. The gate
fails on any failed check that no entry here matches, and on entries that match nothing (so
stale suppressions cannot accumulate).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Suppression:
    """One accepted finding: a check on one resource, and why it is accepted."""

    check_id: str
    resource: str
    reason: str
    stack: str = "*"

    def matches(self, check_id: str, stack: str, resource: str) -> bool:
        """Whether this entry covers ``check_id`` failing on ``resource`` in ``stack``."""
        return (
            check_id == self.check_id
            and fnmatchcase(stack, self.stack)
            and fnmatchcase(resource, self.resource)
        )


_STATE_STACK = "*-state"

SUPPRESSIONS: tuple[Suppression, ...] = (
    # --- state-bootstrap stack -------------------------------------------------------------
    Suppression(
        "CKV_AWS_145",
        "aws_s3_bucket.state_bucket_access_logs_bucket_*",
        "S3 server access logging delivers only to targets encrypted with SSE-S3, not SSE-KMS; "
        "the log bucket is SSE-S3, private, versioned and TLS-only.",
        _STATE_STACK,
    ),
    Suppression(
        "CKV_AWS_144",
        "aws_s3_bucket.state_bucket_state_bucket_*",
        "Cross-region replication of Terraform state is an organisation's DR choice (another "
        "region, account and key); versioning with 90-day noncurrent retention covers rollback.",
        _STATE_STACK,
    ),
    Suppression(
        "CKV_AWS_144",
        "aws_s3_bucket.state_bucket_access_logs_bucket_*",
        "Access logs of the state bucket are audit data kept in-region; replicating them adds "
        "cost without protecting the state itself.",
        _STATE_STACK,
    ),
    Suppression(
        "CKV2_AWS_62",
        "aws_s3_bucket.state_bucket_state_bucket_*",
        "Terraform state changes on every apply; nothing consumes object events, and access is "
        "already recorded by server access logs (and CloudTrail data events where enabled).",
        _STATE_STACK,
    ),
    Suppression(
        "CKV2_AWS_62",
        "aws_s3_bucket.state_bucket_access_logs_bucket_*",
        "A log bucket's objects are written by S3 log delivery; notifications on them would fire "
        "for every log object with no consumer.",
        _STATE_STACK,
    ),
)
