"""Data access: Secrets Manager, the DynamoDB registry and the artifact bucket, via boto3.

Each class wraps one boto3 client (typed ``Any``: boto3 ships no type information) and turns the
error codes the logic branches on into return values; other errors propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from besu_stack.lambda_kernel.aws import aws_client
from besu_stack.lambda_kernel.aws import error_code as _error_code


@dataclass(frozen=True)
class SecretState:
    """What Secrets Manager says about a secret (its metadata, never its value)."""

    arn: str
    scheduled_for_deletion: bool


class SecretStore:
    """The validator key secrets."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def describe(self, name: str) -> SecretState | None:
        """The secret's metadata, or ``None`` when no secret has this name."""
        try:
            response = self._client.describe_secret(SecretId=name)
        except ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return SecretState(
            arn=str(response["ARN"]), scheduled_for_deletion="DeletedDate" in response
        )

    def create_empty(self, name: str, kms_key_id: str, description: str) -> bool:
        """Create a secret without a value; ``False`` when it already exists (a concurrent run)."""
        try:
            self._client.create_secret(Name=name, KmsKeyId=kms_key_id, Description=description)
        except ClientError as exc:
            if _error_code(exc) == "ResourceExistsException":
                return False
            raise
        return True

    def current_value(self, name: str) -> str | bytes | None:
        """The ``AWSCURRENT`` value (string or binary), or ``None`` when the secret has none."""
        try:
            response = self._client.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
        except ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        if "SecretString" in response:
            return str(response["SecretString"])
        if "SecretBinary" in response:
            return bytes(response["SecretBinary"])
        return None

    def put_initial_value(self, name: str, value: str, request_token: str) -> bool:
        """Store the first value of a secret under a fixed ``ClientRequestToken``.

        Secrets Manager makes a token idempotent: replaying it with the same value is a no-op and
        with another value fails with ``ResourceExistsException``. With one token per slot, a
        second concurrent writer cannot replace the first writer's key; it gets ``False`` and
        must read the value back.
        """
        try:
            self._client.put_secret_value(
                SecretId=name, SecretString=value, ClientRequestToken=request_token
            )
        except ClientError as exc:
            if _error_code(exc) == "ResourceExistsException":
                return False
            raise
        return True


class Registry:
    """The key/node registry table: one item per validator slot, keyed by ``slot`` (number)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put_new(self, slot: int, attributes: Mapping[str, str | int]) -> bool:
        """Write a slot's item unless one exists; ``False`` when it already exists."""
        item: dict[str, dict[str, str]] = {"slot": {"N": str(slot)}}
        for name, value in attributes.items():
            item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(slot)",
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, slot: int) -> dict[str, str] | None:
        """A slot's item with its attribute values as strings, or ``None``."""
        response = self._client.get_item(
            TableName=self._table, Key={"slot": {"N": str(slot)}}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return None
        return {
            name: str(next(iter(value.values()))) for name, value in item.items() if len(value) == 1
        }


class ArtifactBucket:
    """The bucket holding ``genesis.json`` and ``static-nodes.json`` (SSE-KMS)."""

    def __init__(self, client: Any, bucket: str, kms_key_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self._kms_key_id = kms_key_id

    def get(self, key: str) -> bytes | None:
        """An object's content, or ``None`` when it does not exist."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(response["Body"].read())

    def put_new(self, key: str, body: bytes, content_type: str = "application/json") -> bool:
        """Write an object only if none exists (``If-None-Match: *``); ``False`` if one does."""
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self._kms_key_id,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        """Write an object encrypted with the network's KMS key."""
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self._kms_key_id,
        )


@dataclass(frozen=True)
class Stores:
    """The three stores one invocation works with."""

    secrets: SecretStore
    registry: Registry
    bucket: ArtifactBucket

    @classmethod
    def from_boto3(cls, table_name: str, bucket: str, kms_key_id: str) -> Stores:
        """Build the stores on default boto3 clients (region and endpoint from the environment)."""
        return cls(
            secrets=SecretStore(aws_client("secretsmanager")),
            registry=Registry(aws_client("dynamodb"), table_name),
            bucket=ArtifactBucket(aws_client("s3"), bucket, kms_key_id),
        )
