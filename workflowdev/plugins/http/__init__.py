"""http: call HTTP APIs, download and upload files, query GraphQL endpoints and check health.

All five task types share one `aiohttp.ClientSession` per execution (kept in `ctx.resources`, so
connections are pooled across tasks and closed when the execution ends here) and the same
rules:
- every connection goes through the address guard of `_netguard`: link-local and cloud-metadata
  addresses are refused unless `http_allow` lifts them, `http_deny` ranges always; the check is
  on the address actually connected to, so it covers DNS answers and every redirect hop;
- a response body kept in memory is capped by `http_max_response_bytes` (downloads stream to
  disk with their own `max_bytes`);
- `timeout` bounds the whole exchange, connect to last byte;
- cookies are not carried from one task to the next: each task's request stands alone, and a
  flow passes state on explicitly (`outputs.login.headers['set-cookie']`).

What they share lives in `_client`; each family of task types has its own module.
"""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.http.check import Check
from workflowdev.plugins.http.graphql import GraphQL
from workflowdev.plugins.http.request import Request
from workflowdev.plugins.http.transfer import Download
from workflowdev.plugins.http.transfer import Upload

__all__ = ["PLUGINS", "Check", "Download", "GraphQL", "Request", "Upload"]

PLUGINS: Final[list[type[Plugin]]] = [Request, Download, Upload, GraphQL, Check]
