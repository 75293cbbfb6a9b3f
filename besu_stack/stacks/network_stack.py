"""The network stack: one Besu BFT network and everything it runs on."""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from besu_stack.constructs.naming import Naming
from besu_stack.constructs.network_key import NetworkKey
from besu_stack.constructs.platform import Platform
from besu_stack.settings import Settings
from besu_stack.stacks.backend import configure_backend
from besu_stack.stacks.inputs import NetworkInputs
from besu_stack.stacks.provider import configure_aws_provider


class BesuNetworkStack(TerraformStack):
    """A complete Besu network in one Terraform root module.

    The shape comes from ``settings`` (synth time); values come from Terraform variables (plan
    time, see :mod:`besu_stack.stacks.inputs`). With ``with_backend=False`` no backend block is
    written, which is how the registry modules are built (their consumer owns the state).
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: Settings, with_backend: bool = True
    ) -> None:
        super().__init__(scope, id)
        self.settings = settings
        self.naming = Naming(settings.network_name)
        self.inputs = NetworkInputs(self, settings)
        configure_aws_provider(
            self,
            region=self.inputs.string("region"),
            network_name=settings.network_name,
            extra_tags=self.inputs.mapping("tags"),
        )
        if with_backend:
            configure_backend(self, settings.state, stack_name=id)

        self.platform = Platform(self, "platform")
        self.network_key = NetworkKey(
            self,
            "network_key",
            naming=self.naming,
            platform=self.platform,
            deletion_window_days=self.inputs.number("kms_deletion_window_days"),
        )

        self._output(
            "network_name",
            settings.network_name,
            "Name of the Besu network; prefix of every AWS resource name.",
        )
        self._output(
            "consensus_protocol",
            settings.consensus,
            "BFT consensus protocol of the network (ibft2 or qbft).",
        )
        self._output("validator_count", settings.validator_count, "Number of validators n.")
        self._output(
            "fault_tolerance",
            settings.max_faulty,
            "f = floor((n-1)/3): validators that may fail while the network keeps producing blocks.",
        )
        self._output(
            "kms_key_arn",
            self.network_key.key_arn,
            "ARN of the customer-managed KMS key that encrypts the network's data.",
        )

    def _output(self, name: str, value: object, description: str) -> TerraformOutput:
        return TerraformOutput(self, name, value=value, description=description)
