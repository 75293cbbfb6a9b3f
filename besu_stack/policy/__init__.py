"""The policy gate: checkov over the synthesized Terraform JSON, with reviewed suppressions."""
