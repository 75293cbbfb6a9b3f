"""Plan-time inputs of the network stack: the variables of :mod:`besu_stack.variables`, declared.

Variables are declared directly in the stack scope so their Terraform names are exactly the names
in the table (a variable nested in a construct would get a generated suffix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cdktf import TerraformStack, TerraformVariable, TerraformVariableValidationConfig

from besu_stack.settings import Settings
from besu_stack.variables import VariableSpec, variables_for


@dataclass
class NetworkInputs:
    """The network stack's Terraform variables, by name.

    Create it once per stack; constructs receive the values they need as props (tokens), never
    the variables themselves, so they can be reused with literal values too.
    """

    stack: TerraformStack
    settings: Settings
    variables: dict[str, TerraformVariable] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in variables_for(self.settings):
            self.variables[spec.name] = declare_variable(self.stack, spec)

    def string(self, name: str) -> str:
        """The variable's value as a string token."""
        return self.variables[name].string_value

    def number(self, name: str) -> float:
        """The variable's value as a number token."""
        return self.variables[name].number_value

    def boolean(self, name: str) -> Any:
        """The variable's value as a boolean token (an IResolvable)."""
        return self.variables[name].boolean_value

    def strings(self, name: str) -> list[str]:
        """The variable's value as a list-of-strings token."""
        return self.variables[name].list_value

    def mapping(self, name: str) -> Mapping[str, str]:
        """The variable's value as a map token."""
        return self.variables[name].value  # type: ignore[no-any-return]


def declare_variable(stack: TerraformStack, spec: VariableSpec) -> TerraformVariable:
    """Declare one variable in ``stack`` from its spec."""
    return TerraformVariable(
        stack,
        spec.name,
        type=spec.type,
        default=spec.default,
        description=spec.description,
        nullable=spec.nullable,
        validation=[
            TerraformVariableValidationConfig(condition=v.condition, error_message=v.error_message)
            for v in spec.validations
        ],
    )
