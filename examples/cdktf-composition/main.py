"""Your own CDKTF stack: the Besu network composed with resources of yours.

Here an application VPC in the same stack connects to the network's JSON-RPC through an
interface endpoint for the network's PrivateLink service, using the constructs' typed
attributes (no string ARNs copied around), and an application role is given read access to the
network's genesis file the way the constructs grant each other access: the bucket construct
writes the permission (and the key's use through S3) into the role's policy.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cdktf import App, TerraformOutput
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from besu_stack.constructs.iam import Role, service_trust_policy
from besu_stack.constructs.ports import RPC_HTTP_PORT
from besu_stack.settings import Settings
from besu_stack.stacks.network_stack import BesuNetworkStack

SETTINGS = Settings(network_name="ledger")
APP_CIDR = "10.80.0.0/16"


def build(outdir: str | Path) -> App:
    """The app: the network stack plus an application VPC reaching it over PrivateLink."""
    app = App(outdir=str(outdir), stack_traces=False)
    stack = BesuNetworkStack(app, SETTINGS.network_name, settings=SETTINGS)

    vpc = Vpc(
        stack, "app_vpc", cidr_block=APP_CIDR, enable_dns_hostnames=True, enable_dns_support=True
    )
    subnet = Subnet(stack, "app_subnet", vpc_id=vpc.id, cidr_block="10.80.1.0/24")
    endpoint_sg = SecurityGroup(
        stack,
        "app_to_besu_sg",
        name="ledger-app-to-besu",
        description="Apps to Besu JSON-RPC",
        vpc_id=vpc.id,
    )
    VpcSecurityGroupIngressRule(
        stack,
        "app_to_besu_rpc",
        security_group_id=endpoint_sg.id,
        description="Besu JSON-RPC from the application VPC",
        ip_protocol="tcp",
        from_port=RPC_HTTP_PORT,
        to_port=RPC_HTTP_PORT,
        cidr_ipv4=APP_CIDR,
    )
    endpoint = VpcEndpoint(
        stack,
        "app_to_besu",
        vpc_id=vpc.id,
        vpc_endpoint_type="Interface",
        service_name=stack.private_link.endpoint_service_name,
        subnet_ids=[subnet.id],
        security_group_ids=[endpoint_sg.id],
    )
    # An application that reads the genesis (e.g. to verify the chain it talks to).
    app_role = Role(
        stack,
        "app_role",
        name="ledger-app",
        description="The ledger application",
        assume_role_policy=service_trust_policy("ecs-tasks.amazonaws.com"),
        policy_id="app_role_policy",
    )
    keys = stack.validator_keys
    keys.artifacts.grant_read(app_role, [keys.genesis_object_key], sid="ReadBesuGenesis")
    TerraformOutput(
        stack,
        "app_rpc_dns_name",
        value=endpoint.dns_entry.get(0).dns_name,
        description="DNS name applications use for JSON-RPC (add it to rpc_host_allowlist).",
    )
    return app


if __name__ == "__main__":
    build(Path(__file__).parent / "cdktf.out").synth()
    sys.exit(0)
