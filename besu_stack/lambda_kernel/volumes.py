"""The allowed size and performance of the slots' gp3 data volumes: one source.

The Terraform variables (``besu_stack/variables.py``) validate against these ranges and the
launch hook checks its environment against the same ones, so a value Terraform accepts is one
the function accepts. They are the product's choice within the gp3 limits of the EBS volume
types page (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html).
"""

from __future__ import annotations

SIZE_GIB_RANGE = (20, 16384)
IOPS_RANGE = (3000, 16000)
THROUGHPUT_MIBPS_RANGE = (125, 1000)
