"""The duties a node can take on; any number of nodes sharing one PostgreSQL may hold any.

- `api`: serve the HTTP API (a node without it serves only its probes: /healthz, /readyz, /metrics)
- `worker`: claim and run executions
- `scheduler`: fire schedules (safe on several nodes: each instant has one unique firing row)
"""

from __future__ import annotations

ROLES = ("api", "worker", "scheduler")
