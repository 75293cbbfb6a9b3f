# Values for the synthesized stack (cdktf.out/stacks/shared-vpc/).
region              = "eu-west-1"
existing_vpc_id     = "vpc-0123456789abcdef0"
existing_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
