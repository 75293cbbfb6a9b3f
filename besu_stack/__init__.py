"""besu-stack: CDK for Terraform constructs for a Hyperledger Besu BFT network on AWS.

Importing this package is cheap: the AWS provider bindings load only from
``besu_stack.stacks`` and ``besu_stack.constructs``, so Lambda code can share
``besu_stack.besu`` without them.
"""

__version__ = "0.1.0"
