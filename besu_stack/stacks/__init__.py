"""Terraform stacks: they configure provider and backend, declare inputs and compose constructs."""
