# A plain Terraform root module consuming the published module, as a pipeline would.
terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.100, < 7.0" }
  }
  backend "s3" {
    bucket       = "acme-tfstate-123456789012-eu-west-1" # from the state-bootstrap stack
    key          = "besu/prod/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { Network = "besu", ManagedBy = "besu-stack", Environment = var.environment }
  }
}

variable "region" {
  description = "AWS region of the network."
  type        = string
}

variable "environment" {
  description = "Environment name used in tags."
  type        = string
}

variable "consumer_accounts" {
  description = "Accounts whose applications may connect through PrivateLink."
  type        = list(string)
}

module "besu_network" {
  # From a registry: source = "git::https://github.com/your-org/besu-stack.git//modules/besu-network?ref=v0.1.0"
  source = "../../modules/besu-network"

  privatelink_allowed_principals = [for account in var.consumer_accounts : "arn:aws:iam::${account}:root"]
  instance_type                  = "m7g.xlarge"
  besu_memory_mib                = 12288
  besu_jvm_heap_mib              = 6144
  chain_id                       = 20261128
  alarm_email                    = "besu-oncall@example.com"
}

output "rpc_endpoint_service_name" {
  description = "Give this to the consumer accounts."
  value       = module.besu_network.rpc_endpoint_service_name
}
