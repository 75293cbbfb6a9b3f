"""Key generation at deploy time, against a moto server (Secrets Manager, DynamoDB, S3, KMS)."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest

from besu_stack.besu import NodeKey, decode_extra_data, generate_private_key, genesis_extra_data
from besu_stack.lambda_log import JsonLogger
from lambda_src.keygen.config import KeygenConfig
from lambda_src.keygen.errors import (
    ConfigError,
    CorruptSecretError,
    DuplicateKeyError,
    InvalidEventError,
    LiveNetworkError,
    RegistryMismatchError,
    SecretUnavailableError,
)
from lambda_src.keygen.logic import generate_keys, request_token
from lambda_src.keygen.store import ArtifactBucket, SecretStore, Stores

from .conftest import Clients
from .keygen_fixtures import keygen_environment

pytestmark = pytest.mark.moto

PREFIX = "testnet"
TABLE = "testnet-registry"
BUCKET = "testnet-artifacts"
DOMAIN = "testnet.internal"
CHAIN_ID = 1337
"""The names and chain id ``keygen_environment`` gives the network ``testnet``."""


def secret_name(slot: int) -> str:
    return f"{PREFIX}/validator-{slot}/key"


@pytest.fixture
def kms_key(clients: Clients) -> str:
    return str(clients.kms.create_key(Description="test CMK")["KeyMetadata"]["KeyId"])


@pytest.fixture
def env(clients: Clients, kms_key: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The resources Terraform creates before invoking the function, and the function's env."""
    values = keygen_environment(clients.dynamodb, clients.s3, kms_key, prefix=PREFIX)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def fresh_handler_module() -> ModuleType:
    """Import the handler as a cold start does (config and clients from the current env)."""
    sys.modules.pop("lambda_src.keygen.handler", None)
    return importlib.import_module("lambda_src.keygen.handler")


@pytest.fixture
def invoke(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    module = fresh_handler_module()

    def call(count: int) -> dict[str, Any]:
        return module.handler({"validator_count": count}, None)

    return call


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def secret_value(clients: Clients, slot: int) -> str:
    return str(clients.secretsmanager.get_secret_value(SecretId=secret_name(slot))["SecretString"])


def secret_versions(clients: Clients, slot: int) -> list[str]:
    versions = clients.secretsmanager.list_secret_version_ids(SecretId=secret_name(slot))
    return sorted(v["VersionId"] for v in versions["Versions"])


def registry_items(clients: Clients) -> dict[int, dict[str, Any]]:
    items = clients.dynamodb.scan(TableName=TABLE)["Items"]
    return {
        int(item["slot"]["N"]): {k: next(iter(v.values())) for k, v in item.items()}
        for item in items
    }


def s3_text(clients: Clients, key: str) -> str:
    return clients.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def genesis_validators(clients: Clients) -> tuple[str, ...]:
    genesis = json.loads(s3_text(clients, "genesis.json"))
    return decode_extra_data("qbft", genesis["extraData"]).validators


def assert_no_private_key(private_keys: Iterable[str], *texts: str) -> None:
    """No key appears in any text: hex with and without 0x, in either case."""
    haystacks = [t.lower() for t in texts]
    for key in private_keys:
        digits = NodeKey.from_key_file(key).to_key_file()[2:]
        assert len(digits) == 64
        for needle in (digits, "0x" + digits):
            for text in haystacks:
                assert needle not in text


def put_value(clients: Clients, slot: int, value: str, kms_key: str) -> None:
    clients.secretsmanager.create_secret(Name=secret_name(slot), KmsKeyId=kms_key)
    clients.secretsmanager.put_secret_value(SecretId=secret_name(slot), SecretString=value)


# --- fresh deploy and idempotency -----------------------------------------------------------


def test_fresh_deploy_generates_keys_registry_genesis_and_static_nodes(
    invoke: Callable[..., Any], clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(4)
    logs = log_lines(capsys)

    keys = [NodeKey.from_key_file(secret_value(clients, slot)) for slot in range(4)]
    assert all(secret_value(clients, s).startswith("0x") for s in range(4))
    assert all(len(secret_value(clients, s)) == 66 for s in range(4))
    assert len({k.address for k in keys}) == 4
    assert result["created_slots"] == [0, 1, 2, 3]
    assert [s["slot"] for s in result["slots"]] == [0, 1, 2, 3]
    assert [s["address"] for s in result["slots"]] == [k.address for k in keys]
    assert [s["public_key"] for s in result["slots"]] == [k.public_key for k in keys]
    assert set(result) == {
        "slots",
        "genesis_sha256",
        "genesis_key",
        "static_nodes_key",
        "created_slots",
    }

    items = registry_items(clients)
    assert sorted(items) == [0, 1, 2, 3]
    for slot, key in enumerate(keys):
        assert items[slot]["address"] == key.address
        assert items[slot]["public_key"] == key.public_key
        assert len(items[slot]["public_key"]) == 128
        assert items[slot]["enode"] == f"enode://{key.public_key}@validator-{slot}.{DOMAIN}:30303"
        assert items[slot]["status"] == "available"
        assert items[slot]["version"] == "1"

    assert genesis_validators(clients) == tuple(k.address for k in keys)
    genesis_text = s3_text(clients, "genesis.json")
    assert json.loads(genesis_text)["config"]["chainId"] == CHAIN_ID
    assert json.loads(genesis_text)["config"]["qbft"]["blockperiodseconds"] == 2
    assert result["genesis_sha256"] == hashlib.sha256(genesis_text.encode()).hexdigest()
    assert result["genesis_key"] == "genesis.json"
    assert result["static_nodes_key"] == "static-nodes.json"
    nodes = json.loads(s3_text(clients, "static-nodes.json"))
    assert nodes == [s["enode"] for s in result["slots"]]
    assert nodes[2] == f"enode://{keys[2].public_key}@validator-2.{DOMAIN}:30303"

    for key in ("genesis.json", "static-nodes.json"):
        head = clients.s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
    for slot in range(4):
        described = clients.secretsmanager.describe_secret(SecretId=secret_name(slot))
        assert described["KmsKeyId"]

    assert logs and all({"level", "message", "logger"} <= set(line) for line in logs)
    assert_no_private_key(
        [secret_value(clients, s) for s in range(4)],
        json.dumps(result),
        json.dumps(logs),
    )


def test_reinvocation_changes_nothing(invoke: Callable[..., Any], clients: Clients) -> None:
    first = invoke(4)
    versions = [secret_versions(clients, s) for s in range(4)]
    values = [secret_value(clients, s) for s in range(4)]
    genesis = s3_text(clients, "genesis.json")
    genesis_version = clients.s3.head_object(Bucket=BUCKET, Key="genesis.json")["ETag"]

    second = invoke(4)

    assert [secret_versions(clients, s) for s in range(4)] == versions
    assert [secret_value(clients, s) for s in range(4)] == values
    assert s3_text(clients, "genesis.json") == genesis
    assert clients.s3.head_object(Bucket=BUCKET, Key="genesis.json")["ETag"] == genesis_version
    assert second["slots"] == first["slots"]
    assert second["genesis_sha256"] == first["genesis_sha256"]
    assert second["created_slots"] == []


# --- scaling ------------------------------------------------------------------------------------


def test_scaling_a_live_network_is_refused(
    invoke: Callable[..., Any], clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke(4)
    genesis = s3_text(clients, "genesis.json")
    capsys.readouterr()

    with pytest.raises(LiveNetworkError, match="adding validators to a live chain is a vote"):
        invoke(7)

    assert s3_text(clients, "genesis.json") == genesis
    names = {s["Name"] for s in clients.secretsmanager.list_secrets()["SecretList"]}
    assert names == {secret_name(s) for s in range(4)}, "no key is generated for a live network"
    assert sorted(registry_items(clients)) == [0, 1, 2, 3]
    errors = [line for line in log_lines(capsys) if line["level"] == "ERROR"]
    assert errors and errors[0]["error"] == "LiveNetworkError"


def test_scaling_before_genesis_exists_keeps_existing_keys(
    invoke: Callable[..., Any], clients: Clients
) -> None:
    first = invoke(4)
    old_values = [secret_value(clients, s) for s in range(4)]
    clients.s3.delete_object(Bucket=BUCKET, Key="genesis.json")

    result = invoke(7)

    assert [secret_value(clients, s) for s in range(4)] == old_values
    assert result["created_slots"] == [4, 5, 6]
    assert result["slots"][:4] == first["slots"]
    assert genesis_validators(clients) == tuple(s["address"] for s in result["slots"])
    assert len(json.loads(s3_text(clients, "static-nodes.json"))) == 7
    assert sorted(registry_items(clients)) == list(range(7))


# --- existing secrets ---------------------------------------------------------------------------


def test_bring_your_own_keys_are_used_as_they_are(
    invoke: Callable[..., Any], clients: Clients, kms_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [NodeKey(generate_private_key()) for _ in range(4)]
    spellings = [
        keys[0].to_key_file(),
        keys[1].to_key_file()[2:],  # without 0x
        keys[2].to_key_file() + "\n",  # as Besu writes the key file
        keys[3].to_key_file().upper().replace("0X", "0x"),
    ]
    for slot, value in enumerate(spellings):
        put_value(clients, slot, value, kms_key)
    versions = [secret_versions(clients, s) for s in range(4)]

    result = invoke(4)

    assert result["created_slots"] == []
    assert [s["address"] for s in result["slots"]] == [k.address for k in keys]
    assert genesis_validators(clients) == tuple(k.address for k in keys)
    assert [secret_value(clients, s) for s in range(4)] == spellings
    assert [secret_versions(clients, s) for s in range(4)] == versions
    assert_no_private_key(spellings, json.dumps(result), capsys.readouterr().out)


def test_secret_without_value_gets_a_key(
    invoke: Callable[..., Any], clients: Clients, kms_key: str
) -> None:
    # Terraform pre-creates the secrets without a value.
    for slot in range(4):
        clients.secretsmanager.create_secret(Name=secret_name(slot), KmsKeyId=kms_key)
    own = NodeKey(generate_private_key())
    clients.secretsmanager.put_secret_value(SecretId=secret_name(2), SecretString=own.to_key_file())

    result = invoke(4)

    assert result["created_slots"] == [0, 1, 3]
    assert result["slots"][2]["address"] == own.address
    for slot in range(4):
        key = NodeKey.from_key_file(secret_value(clients, slot))
        assert result["slots"][slot]["address"] == key.address
        assert len(secret_versions(clients, slot)) == 1


@pytest.mark.parametrize(
    "bad_value",
    [
        "0x" + "ab" * 31,  # too short
        "0x" + "00" * 32,  # zero is no key
        "0x" + "ff" * 32,  # above the curve order
        '{"key": "0x' + "12" * 32 + '"}',  # JSON, not a key file
        "0x" + "zz" * 32,
    ],
)
def test_corrupted_secret_fails_clearly_without_showing_it(
    invoke: Callable[..., Any],
    clients: Clients,
    kms_key: str,
    capsys: pytest.CaptureFixture[str],
    bad_value: str,
) -> None:
    put_value(clients, 1, bad_value, kms_key)

    with pytest.raises(CorruptSecretError) as raised:
        invoke(4)

    message = str(raised.value)
    assert "slot 1" in message
    assert secret_name(1) in message
    output = capsys.readouterr().out
    digits = bad_value.removeprefix("0x")
    assert digits not in message
    assert digits not in output
    assert bad_value not in output
    assert "slot 1" in output
    assert secret_value(clients, 1) == bad_value, "a corrupted value is never overwritten"
    with pytest.raises(clients.s3.exceptions.NoSuchKey):
        clients.s3.get_object(Bucket=BUCKET, Key="genesis.json")


def test_two_slots_with_the_same_key_are_rejected(
    invoke: Callable[..., Any], clients: Clients, kms_key: str
) -> None:
    key = NodeKey(generate_private_key()).to_key_file()
    put_value(clients, 0, key, kms_key)
    put_value(clients, 3, key, kms_key)
    with pytest.raises(DuplicateKeyError, match="slots 0 and 3"):
        invoke(4)


def test_registry_item_with_another_address_is_an_error(
    invoke: Callable[..., Any], clients: Clients
) -> None:
    clients.dynamodb.put_item(
        TableName=TABLE,
        Item={"slot": {"N": "0"}, "address": {"S": "0x" + "11" * 20}, "status": {"S": "available"}},
    )
    with pytest.raises(RegistryMismatchError, match="slot 0"):
        invoke(4)
    item = registry_items(clients)[0]
    assert item["address"] == "0x" + "11" * 20, "an existing registry item is never overwritten"


def test_concurrent_writer_keeps_the_first_key(
    env: dict[str, str], clients: Clients, kms_key: str
) -> None:
    """Two invocations racing on one empty secret: the second writer adopts the first key."""
    config = KeygenConfig.from_env(env)
    winner = NodeKey(generate_private_key())
    name = secret_name(0)
    clients.secretsmanager.create_secret(Name=name, KmsKeyId=kms_key)

    class RacingSecretStore(SecretStore):
        """Sees the secret empty, then the other invocation stores its key before our put."""

        raced = False

        def current_value(self, secret: str) -> str | bytes | None:
            if secret == name and not self.raced:
                self.raced = True
                clients.secretsmanager.put_secret_value(
                    SecretId=name,
                    SecretString=winner.to_key_file(),
                    ClientRequestToken=request_token(name),
                )
                return None
            return super().current_value(secret)

    stores = Stores.from_boto3(TABLE, BUCKET, kms_key)
    stores = Stores(
        secrets=RacingSecretStore(clients.secretsmanager),
        registry=stores.registry,
        bucket=stores.bucket,
    )
    result = generate_keys(config, stores, JsonLogger("test"), 1)

    assert secret_value(clients, 0) == winner.to_key_file()
    assert len(secret_versions(clients, 0)) == 1
    assert result["slots"][0]["address"] == winner.address
    assert result["created_slots"] == []


# --- contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event", [{}, {"validator_count": 0}, {"validator_count": "4"}, {"validator_count": True}, []]
)
def test_invalid_event_is_rejected(env: dict[str, str], event: Any) -> None:
    module = fresh_handler_module()
    with pytest.raises(InvalidEventError, match="validator_count"):
        module.handler(event, None)


@pytest.mark.parametrize(
    "name",
    ["KMS_KEY_ID", "SECRET_KMS_KEY_ID", "REGISTRY_TABLE_NAME", "CHAIN_ID", "GENESIS_OPTIONS_JSON"],
)
def test_missing_environment_variable_fails_at_cold_start(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match=name):
        fresh_handler_module()


def test_unknown_genesis_option_is_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="chain_idd"):
        KeygenConfig.from_env({**env, "GENESIS_OPTIONS_JSON": '{"chain_idd": 5}'})


def test_no_private_key_in_results_or_logs_across_scenarios(
    invoke: Callable[..., Any], clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    results = [invoke(4), invoke(4)]
    clients.s3.delete_object(Bucket=BUCKET, Key="genesis.json")
    results.append(invoke(5))
    with pytest.raises(LiveNetworkError) as refused:
        invoke(6)
    logs = capsys.readouterr().out
    keys = [secret_value(clients, s) for s in range(5)]
    assert_no_private_key(keys, json.dumps(results), logs, str(refused.value))


def test_live_network_never_gets_a_replacement_key(
    invoke: Callable[..., Any], clients: Clients
) -> None:
    invoke(4)
    clients.secretsmanager.delete_secret(SecretId=secret_name(3), ForceDeleteWithoutRecovery=True)
    with pytest.raises(SecretUnavailableError, match="slot 3"):
        invoke(4)
    names = {s["Name"] for s in clients.secretsmanager.list_secrets()["SecretList"]}
    assert secret_name(3) not in names


def test_live_network_key_swapped_out_of_band_is_an_error(
    invoke: Callable[..., Any], clients: Clients
) -> None:
    invoke(4)
    other = NodeKey(generate_private_key())
    clients.secretsmanager.put_secret_value(
        SecretId=secret_name(1), SecretString=other.to_key_file()
    )
    with pytest.raises(LiveNetworkError, match=other.address):
        invoke(4)


def test_genesis_written_concurrently_with_other_validators_is_kept(
    env: dict[str, str], clients: Clients, kms_key: str
) -> None:
    """Another invocation writes genesis between our check and our write: never overwritten."""
    config = KeygenConfig.from_env(env)
    base = Stores.from_boto3(TABLE, BUCKET, kms_key)
    other = [NodeKey(generate_private_key()).address for _ in range(4)]
    theirs = json.dumps({"extraData": genesis_extra_data("qbft", other)}).encode()

    class RacingBucket(ArtifactBucket):
        raced = False

        def get(self, key: str) -> bytes | None:
            if key == "genesis.json" and not self.raced:
                self.raced = True
                clients.s3.put_object(Bucket=BUCKET, Key=key, Body=theirs)
                return None
            return super().get(key)

    stores = Stores(
        secrets=base.secrets,
        registry=base.registry,
        bucket=RacingBucket(clients.s3, BUCKET, kms_key),
    )
    with pytest.raises(LiveNetworkError, match="adding validators to a live chain is a vote"):
        generate_keys(config, stores, JsonLogger("test"), 4)
    assert clients.s3.get_object(Bucket=BUCKET, Key="genesis.json")["Body"].read() == theirs
