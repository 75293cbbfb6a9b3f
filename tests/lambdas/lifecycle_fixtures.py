"""Fixtures of the lifecycle tests: a network's registry, secrets, VPC and zone on moto.

Import the fixtures by name in a test module (``from .lifecycle_fixtures import world``).
``complete_lifecycle_action`` is not implemented by moto: the Auto Scaling client is wrapped in
a botocore ``Stubber`` (used for that call only), and each test states the completions it
expects with :meth:`World.expect_completion`. The stores run on the clients the functions
build (:func:`~besu_stack.lambda_kernel.aws.aws_client`, on the package's trimmed models:
``World.lambda_clients``); the account is arranged and inspected with plain boto3 clients.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from besu_stack.besu import NodeKey
from besu_stack.lambda_kernel.aws import aws_client
from besu_stack.lambda_log import JsonLogger
from lambda_src.lifecycle.config import LifecycleConfig
from lambda_src.lifecycle.registry import Registry, SlotRecord
from lambda_src.lifecycle.store import (
    Dns,
    Ec2,
    LifecycleActions,
    Metrics,
    SecretAccess,
    Stores,
)

from .conftest import REGION

ACCOUNT = "123456789012"
NETWORK = "testnet"
TABLE = "testnet-registry"
DOMAIN = "testnet.internal"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/testnet-validator"
KEY_LAMBDA_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/testnet-keygen"
SECRETS_KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GROUP = "testnet-validators"
AZS = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
SLOTS = 4
MOTO_AMI = "ami-03cf127a"


def secret_name(slot: int) -> str:
    return f"{NETWORK}/validator-{slot}/key"


@dataclass
class World:
    """The moto account of one test, with the stores the Lambdas would build."""

    ec2: Any
    dynamodb: Any
    route53: Any
    secretsmanager: Any
    cloudwatch: Any
    config: LifecycleConfig
    stores: Stores
    stubber: Stubber
    zone_id: str
    subnets: dict[str, str]
    image_id: str
    keys: dict[int, NodeKey]
    lambda_clients: dict[str, Any]
    """The clients under the stores, as the functions build them, by service."""
    log_stream: io.StringIO = field(default_factory=io.StringIO)

    @property
    def log(self) -> JsonLogger:
        return JsonLogger("test", self.log_stream)

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines()]

    def new_stores(self) -> Stores:
        """Stores on fresh clients (one set per thread)."""
        session = boto3.session.Session(region_name=REGION)
        return Stores(
            registry=Registry(session.client("dynamodb"), TABLE),
            ec2=Ec2(session.client("ec2"), sleep=lambda _: None),
            dns=Dns(session.client("route53"), self.zone_id),
            secrets=SecretAccess(
                session.client("secretsmanager"),
                self.config.instance_role_arn,
                self.config.key_lambda_role_arn,
                self.config.secrets_key_arn,
            ),
            lifecycle=self.stores.lifecycle,
            metrics=Metrics(session.client("cloudwatch"), "Test", NETWORK),
            containers=None,
        )

    def launch(self, az: str) -> str:
        """Run an instance in ``az`` (as Auto Scaling would) and return its id."""
        response = self.ec2.run_instances(
            ImageId=self.image_id,
            InstanceType="t3.small",
            MinCount=1,
            MaxCount=1,
            SubnetId=self.subnets[az],
        )
        return str(response["Instances"][0]["InstanceId"])

    def terminate(self, instance_id: str) -> None:
        self.ec2.terminate_instances(InstanceIds=[instance_id])

    def expect_completion(self, instance_id: str, result: str, transition: str = "launch") -> None:
        self.stubber.add_response(
            "complete_lifecycle_action",
            {},
            {
                "AutoScalingGroupName": GROUP,
                "LifecycleHookName": f"{GROUP}-{transition}",
                "LifecycleActionToken": token(instance_id, transition),
                "InstanceId": instance_id,
                "LifecycleActionResult": result,
            },
        )

    def record(self, slot: int) -> SlotRecord:
        record = self.stores.registry.get(slot)
        assert record is not None
        return record

    def records(self) -> list[SlotRecord]:
        return self.stores.registry.scan()

    def volume(self, volume_id: str) -> dict[str, Any]:
        return dict(self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0])

    def slot_volumes(self, slot: int) -> list[dict[str, Any]]:
        response = self.ec2.describe_volumes(
            Filters=[
                {"Name": "tag:Network", "Values": [NETWORK]},
                {"Name": "tag:Slot", "Values": [str(slot)]},
            ]
        )
        return list(response["Volumes"])

    def a_record(self, slot: int) -> str | None:
        name = f"validator-{slot}.{DOMAIN}."
        for rrset in self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)[
            "ResourceRecordSets"
        ]:
            if rrset["Name"] == name and rrset["Type"] == "A":
                return str(rrset["ResourceRecords"][0]["Value"])
        return None

    def instance(self, instance_id: str) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return dict(reservations[0]["Instances"][0])

    def instance_tags(self, instance_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.instance(instance_id).get("Tags", [])}

    def secret_owner(self, slot: int) -> str | None:
        return self.stores.secrets.owner(secret_name(slot))

    def secret_value(self, slot: int) -> str:
        return str(self.secretsmanager.get_secret_value(SecretId=secret_name(slot))["SecretString"])


def token(instance_id: str, transition: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{transition}/{instance_id}"))


def lifecycle_event(instance_id: str, transition: str = "launch") -> dict[str, Any]:
    """The EventBridge event of a lifecycle action (``launch`` or ``terminate``)."""
    detail_type, name = {
        "launch": ("EC2 Instance-launch Lifecycle Action", "autoscaling:EC2_INSTANCE_LAUNCHING"),
        "terminate": (
            "EC2 Instance-terminate Lifecycle Action",
            "autoscaling:EC2_INSTANCE_TERMINATING",
        ),
    }[transition]
    return {
        "version": "0",
        "id": f"event-{instance_id}",
        "detail-type": detail_type,
        "source": "aws.autoscaling",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [
            f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:uuid:"
            f"autoScalingGroupName/{GROUP}"
        ],
        "detail": {
            "LifecycleActionToken": token(instance_id, transition),
            "AutoScalingGroupName": GROUP,
            "LifecycleHookName": f"{GROUP}-{transition}",
            "EC2InstanceId": instance_id,
            "LifecycleTransition": name,
        },
    }


def lifecycle_env(kms_key: str, zone_id: str) -> dict[str, str]:
    return {
        "NETWORK_NAME": NETWORK,
        "REGISTRY_TABLE_NAME": TABLE,
        "PRIVATE_ZONE_ID": zone_id,
        "PRIVATE_ZONE_DOMAIN": DOMAIN,
        "INSTANCE_ROLE_ARN": ROLE_ARN,
        "KEY_LAMBDA_ROLE_ARN": KEY_LAMBDA_ROLE_ARN,
        "SECRETS_KEY_ARN": SECRETS_KEY_ARN,
        "SECRET_NAME_PREFIX": NETWORK,
        "DATA_VOLUME_KMS_KEY_ID": kms_key,
        "DATA_VOLUME_SIZE_GIB": "100",
        "DATA_VOLUME_IOPS": "3000",
        "DATA_VOLUME_THROUGHPUT_MIBPS": "125",
        "ARTIFACT_BUCKET_NAME": "testnet-artifacts",
        "VOLUME_WAIT_SECONDS": "0",
        "METRIC_NAMESPACE": "Test",
        # The reconciler's second look and claim age have their own tests
        # (test_lifecycle_reconcile.py); the other tests free a gone owner's slot at once.
        "MIN_CLAIM_AGE_SECONDS": "0",
        "RECONCILE_CONFIRM_SECONDS": "0",
    }


@pytest.fixture
def world(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A deployed network before any validator instance: 4 available slots with keys."""
    built = build_world()
    yield built
    built.stubber.deactivate()


def build_world(env: dict[str, str] | None = None) -> World:
    """Create the network's registry, keys, VPC and zone in the (empty) moto account."""
    ec2 = boto3.client("ec2", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    route53 = boto3.client("route53", region_name=REGION)
    secretsmanager = boto3.client("secretsmanager", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    kms_key = str(kms.create_key(Description="data volumes")["KeyMetadata"]["Arn"])

    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        az: ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate(AZS)
    }
    zone_id = route53.create_hosted_zone(
        Name=DOMAIN,
        CallerReference="testnet",
        HostedZoneConfig={"PrivateZone": True, "Comment": "validators"},
        VPC={"VPCRegion": REGION, "VPCId": vpc_id},
    )["HostedZone"]["Id"].split("/")[-1]
    image_id = MOTO_AMI  # one of moto's default images (listing them all takes seconds)

    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "slot", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "slot", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    keys: dict[int, NodeKey] = {}
    for slot in range(SLOTS):
        key = NodeKey.generate()
        keys[slot] = key
        secretsmanager.create_secret(Name=secret_name(slot), SecretString=key.to_key_file())
        dynamodb.put_item(
            TableName=TABLE,
            Item={
                "slot": {"N": str(slot)},
                "address": {"S": key.address},
                "public_key": {"S": key.public_key},
                "enode": {"S": key.identity.enode(f"validator-{slot}.{DOMAIN}")},
                "secret_name": {"S": secret_name(slot)},
                "status": {"S": "available"},
                "version": {"N": "1"},
            },
        )

    config = LifecycleConfig.from_env({**lifecycle_env(kms_key, zone_id), **(env or {})})
    services = ("dynamodb", "ec2", "route53", "secretsmanager", "autoscaling", "cloudwatch")
    lambda_clients = {service: aws_client(service) for service in services}
    stubber = Stubber(lambda_clients["autoscaling"])
    stubber.activate()
    stores = Stores(
        registry=Registry(lambda_clients["dynamodb"], TABLE),
        ec2=Ec2(lambda_clients["ec2"], sleep=lambda _: None),
        dns=Dns(lambda_clients["route53"], zone_id),
        secrets=SecretAccess(
            lambda_clients["secretsmanager"],
            config.instance_role_arn,
            config.key_lambda_role_arn,
            config.secrets_key_arn,
        ),
        lifecycle=LifecycleActions(lambda_clients["autoscaling"]),
        metrics=Metrics(lambda_clients["cloudwatch"], "Test", NETWORK),
        containers=None,
    )
    return World(
        ec2=ec2,
        dynamodb=dynamodb,
        route53=route53,
        secretsmanager=secretsmanager,
        cloudwatch=cloudwatch,
        config=config,
        stores=stores,
        stubber=stubber,
        zone_id=zone_id,
        subnets=subnets,
        image_id=image_id,
        keys=keys,
        lambda_clients=lambda_clients,
    )
