"""Where a stack keeps its Terraform state: local file, S3 with native locking, or Terraform Cloud."""

from __future__ import annotations

from cdktf import CloudBackend, LocalBackend, NamedCloudWorkspace, S3Backend, TerraformStack

from besu_stack.settings import StateBackend


def configure_backend(stack: TerraformStack, state: StateBackend, *, stack_name: str) -> None:
    """Attach the backend chosen in the settings to ``stack``.

    * ``local``: ``terraform.<stack>.tfstate`` beside the synthesized JSON.
    * ``s3``: encrypted object ``<key or stack>/terraform.tfstate`` with S3 native locking.
      cdktf's ``S3Backend`` has no ``use_lockfile`` yet, so it is set with an override; the
      deprecated DynamoDB locking is not used.
    * ``cloud``: a named Terraform Cloud / Enterprise workspace.
    """
    if state.kind == "local":
        LocalBackend(stack, path=f"terraform.{stack_name}.tfstate")
    elif state.kind == "s3":
        S3Backend(
            stack,
            bucket=state.bucket,
            key=state.key or f"{stack_name}/terraform.tfstate",
            region=state.region,
            encrypt=True,
            kms_key_id=state.kms_key_id or None,
        )
        stack.add_override("terraform.backend.s3.use_lockfile", True)
    else:
        CloudBackend(
            stack,
            organization=state.organization,
            hostname=state.hostname,
            workspaces=NamedCloudWorkspace(name=state.workspace),
        )
