"""The TCP/UDP ports of a Besu node and of the AWS APIs it calls, in one place.

Security groups, listeners, target groups, health checks and (later) the Besu command line all
read these constants, so a port changes in one line.
"""

from __future__ import annotations

P2P_PORT = 30303
"""devp2p: RLPx over TCP and discovery over UDP, between nodes only."""

RPC_HTTP_PORT = 8545
"""Public JSON-RPC over HTTP (allow-listed methods); reached through the NLB only. Besu also
serves ``/liveness`` and ``/readiness`` here, which the NLB health check uses."""

RPC_WS_PORT = 8546
"""Public JSON-RPC over WebSocket (allow-listed methods), when enabled; through the NLB only."""

ADMIN_RPC_PORT = 8547
"""Internal JSON-RPC with admin and consensus methods; reached only from the health checker's
security group, never through the NLB."""

METRICS_PORT = 9545
"""Prometheus metrics; reachable from inside the VPC only."""

HTTPS_PORT = 443
"""AWS APIs: interface VPC endpoints and the S3/DynamoDB gateway endpoints."""
