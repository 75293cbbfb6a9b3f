region            = "eu-west-1"
environment       = "prod"
consumer_accounts = ["123456789012"]
