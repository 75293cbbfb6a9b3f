"""The shared kernel of the network's Lambda functions (keygen, health, lifecycle).

Pure Python on boto3/botocore only (no cdktf): shipped in every function's zip through
:data:`besu_stack.lambda_package.DEFAULT_SHARED_PACKAGES`, and imported by the synth code where
it names the same things (slot names, data volume ranges, client timeouts).

* :mod:`.env`: reading a function's environment once, with one rule for every function;
* :mod:`.aws`: AWS error codes, and the one botocore session and client configuration
  (timeouts, retries, the package's trimmed service models);
* :mod:`.slots`: the registry's slot record, its statuses, and a slot's host and secret names;
* :mod:`.volumes`: the allowed sizes and performance of the slots' gp3 data volumes.
"""
