"""What Terraform creates before it invokes the key Lambda, and the function's environment.

Shared by the key Lambda's tests (``test_keygen.py``), the run from its zip on the botocore
floor (``test_runtime_botocore_floor.py``) and ``benchmarks/lambda_first_invocation.py``.
"""

from __future__ import annotations

import json
from typing import Any

from .conftest import REGION


def keygen_environment(dynamodb: Any, s3: Any, kms_key: str, *, prefix: str) -> dict[str, str]:
    """Create ``<prefix>-registry`` and ``<prefix>-artifacts``; the key Lambda's environment.

    ``dynamodb`` and ``s3`` are clients of the account (moto); ``kms_key`` encrypts both the
    secrets and the registry, as one key can in a test. The chain is QBFT, id 1337, 2 s blocks.
    """
    dynamodb.create_table(
        TableName=f"{prefix}-registry",
        AttributeDefinitions=[{"AttributeName": "slot", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "slot", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(
        Bucket=f"{prefix}-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return {
        "SECRET_NAME_PREFIX": prefix,
        "KMS_KEY_ID": kms_key,
        "SECRET_KMS_KEY_ID": kms_key,
        "REGISTRY_TABLE_NAME": f"{prefix}-registry",
        "ARTIFACT_BUCKET_NAME": f"{prefix}-artifacts",
        "PRIVATE_ZONE_DOMAIN": f"{prefix}.internal",
        "CONSENSUS_PROTOCOL": "qbft",
        "CHAIN_ID": "1337",
        "GENESIS_OPTIONS_JSON": json.dumps({"block_period_seconds": 2}),
    }
