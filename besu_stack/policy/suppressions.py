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

from besu_stack.policy.iam_lint import LintSuppression


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
_NETWORK_STACK = "*"
"""Network stacks are named after their network; resource patterns keep these entries scoped."""
_NLB_LOG_BUCKET = "aws_s3_bucket.private_link_access_logs_bucket_*"

SUPPRESSIONS: tuple[Suppression, ...] = (
    # --- network stack: network construct ---------------------------------------------------
    Suppression(
        "CKV_AWS_394",
        "data.network_zones_*",
        "The created VPC uses only the first availability_zone_count zones of the list, by "
        "index (count), so a zone AWS adds later never enters the network; the zone count is "
        "the explicit, validated pin. Naming zones would make the stack region-specific.",
    ),
    # --- network stack: PrivateLink access logs -----------------------------------------------
    Suppression(
        "CKV_AWS_18",
        _NLB_LOG_BUCKET,
        "This bucket only receives the NLB's access logs; logging access to a log bucket needs "
        "yet another bucket (which would need one too). It is private, TLS-only, KMS-encrypted "
        "and versioned, and CloudTrail records its management events.",
    ),
    Suppression(
        "CKV_AWS_144",
        _NLB_LOG_BUCKET,
        "Load balancer access logs are regional audit data with a retention limit; replicating "
        "them to another region adds cost and a second copy to govern without protecting the "
        "network.",
    ),
    Suppression(
        "CKV2_AWS_62",
        _NLB_LOG_BUCKET,
        "Objects are written every five minutes by ELB log delivery; nothing consumes "
        "notifications for them, so event notifications would fire with no subscriber.",
    ),
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
    # --- network stack: node lifecycle (besu_stack/constructs/node_lifecycle.py) ------------
    *(
        Suppression(
            "CKV_AWS_117",
            f"resource.node_lifecycle_{function}_function_*",
            "Runs outside the VPC on purpose: it calls only AWS APIs, one of them Route 53's "
            "(ChangeResourceRecordSets), which has no VPC endpoint, and the isolated subnets "
            "have no NAT. Outside a VPC, Lambda reaches the public AWS endpoints over TLS with "
            "SigV4; the function has no inbound path and reads no node. "
            "tests/synth/test_reachability.py proves the path to every service it calls.",
            _NETWORK_STACK,
        )
        for function in ("launch", "termination", "reconciler")
    ),
    # --- network stack: validator keys (besu_stack/constructs/validator_keys.py) ------------
    Suppression(
        "CKV2_AWS_57",
        "aws_secretsmanager_secret.validator_keys_slot_*",
        "A validator's node key is its identity on the chain: rotating it would silently remove "
        "the validator from the network (changing the set is a BFT vote). Instead the secrets "
        "have their own KMS key that only the key Lambda and the hosts' role may use, only "
        "through Secrets Manager, so no other principal can read or overwrite a key whatever its "
        "IAM policy (tests/synth/test_secrets_key.py); which host reads which secret is each "
        "secret's resource policy (the launch hook's, after the first claim).",
        _NETWORK_STACK,
    ),
    Suppression(
        "CKV_AWS_116",
        "resource.validator_keys_keygen_function_*",
        "The key Lambda is only invoked synchronously by Terraform (aws_lambda_invocation); a "
        "failure fails the apply and is retried by the next apply, so a DLQ would never receive "
        "anything.",
        _NETWORK_STACK,
    ),
    Suppression(
        "CKV_AWS_272",
        "resource.validator_keys_keygen_function_*",
        "The package is built deterministically from this repository at synth time and "
        "source_code_hash records its SHA-256, so a plan after an out-of-band UpdateFunctionCode "
        "shows the drift; it does not prevent such an update. Only code signing would, and an "
        "AWS Signer profile is an organisation-level choice this stack does not impose.",
        _NETWORK_STACK,
    ),
    Suppression(
        "CKV_AWS_18",
        "aws_s3_bucket.validator_keys_artifacts_bucket_*",
        "Holds two public-data files (genesis, static nodes) written once by the key Lambda and "
        "read by nodes; S3 access logs need an SSE-S3 target bucket of their own. Object-level "
        "auditing is available through CloudTrail data events.",
        _NETWORK_STACK,
    ),
    Suppression(
        "CKV_AWS_144",
        "aws_s3_bucket.validator_keys_artifacts_bucket_*",
        "genesis.json and static-nodes.json are regenerable from the registry's public data; "
        "cross-region replication would add cost without protecting anything secret or unique.",
        _NETWORK_STACK,
    ),
    Suppression(
        "CKV2_AWS_62",
        "aws_s3_bucket.validator_keys_artifacts_bucket_*",
        "Nothing consumes events for the two network files; nodes read them at boot.",
        _NETWORK_STACK,
    ),
    # --- network stack: deep health check (besu_stack/constructs/health_check.py) ----------
    Suppression(
        "CKV_AWS_116",
        "resource.health_check_health_function_*",
        "The health check runs every minute from an EventBridge schedule with async retries "
        "off and a 60 s maximum event age: a missed run is superseded by the next one, so a "
        "dead-letter queue would only collect stale events. Failures raise the Lambda errors "
        "alarm, and a silent checker raises the breaching network alarms.",
        _NETWORK_STACK,
    ),
    Suppression(
        "CKV_AWS_272",
        "resource.health_check_health_function_*",
        "The package is built deterministically from this repository at synth time and "
        "source_code_hash records its SHA-256, so a plan after an out-of-band UpdateFunctionCode "
        "shows the drift; it does not prevent such an update. Only code signing would, and an "
        "AWS Signer profile is an organisation-level choice this stack does not impose.",
        _NETWORK_STACK,
    ),
    Suppression(
        "CKV_AWS_272",
        "resource.node_lifecycle_*_function_*",
        "Same as the key Lambda: the lifecycle and reconciler packages are built deterministically "
        "and source_code_hash makes out-of-band code changes visible as drift in the next plan "
        "(it does not block them); code signing, which would, is an organisation-level choice.",
        _NETWORK_STACK,
    ),
)


# --- IAM policy linter (parliament; besu_stack/policy/iam_lint.py) ---------------------------
#
# The same rule as checkov's: every parliament finding on a synthesized policy document is
# accepted here with its reason, or the gate fails; an entry that matches nothing is stale.

LINT_SUPPRESSIONS: tuple[LintSuppression, ...] = (
    LintSuppression(
        "MALFORMED",
        "aws_iam_role.*",
        "A role's trust policy has no Resource element: the role itself is the resource "
        "(IAM User Guide, 'IAM JSON policy elements: Principal', role trust policies). "
        "parliament reads it as an identity policy.",
        detail='"Statement contains neither Resource nor NotResource"',
    ),
    LintSuppression(
        "RESOURCE_STAR",
        "aws_kms_key.*",
        'In a key policy "Resource": "*" means the key the policy is attached to and nothing '
        "else (AWS KMS Developer Guide, 'Key policies in AWS KMS'); who may use it is decided "
        "by Principal and the conditions, which the statements set.",
    ),
    LintSuppression(
        "RESOURCE_MISMATCH",
        "aws_iam_role_policy.node_lifecycle_*_policy_*",
        "AttachVolume, DetachVolume, CreateVolume and CreateSnapshot authorize against two "
        "resource types (volume and instance, volume and snapshot: Service Authorization "
        "Reference for Amazon EC2); the lifecycle roles grant each type in a statement of its "
        "own with its own conditions, and parliament judges one statement at a time, so each "
        "statement lacks the other type.",
    ),
)
"""Every accepted parliament finding, with its reason."""
