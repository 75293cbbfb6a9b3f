# Values for the synthesized stack (cdktf.out/stacks/qbft7/).
region                  = "eu-west-1"
availability_zone_count = 4 # with 7 validators, 4 zones survive the loss of one (2 <= f)
rpc_certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
privatelink_private_dns_name = "rpc.besu.example.com"
rpc_host_allowlist      = ["rpc.besu.example.com"]
