"""Version constraints written into every synthesized configuration (no heavy imports here)."""

from __future__ import annotations

TERRAFORM_VERSION = ">= 1.10"
"""Terraform versions the configurations need: S3 native state locking (``use_lockfile``)."""

AWS_PROVIDER_VERSION = ">= 5.100, < 7.0"
"""AWS provider versions every synthesized configuration admits.

cdktf pins the exact version its bindings were generated from (6.25.0). The configurations use
only resources and attributes that exist in both major lines, and the test suite runs Terraform
itself with provider 5.100.0 (``tests/terraform``), so the constraint admits both.
"""
