"""One construct per capability of the network; stacks compose them.

A construct owns its resources and exposes what others need as typed attributes (ids, ARNs,
security groups). Providers and backends belong to stacks, never to these constructs.
"""
