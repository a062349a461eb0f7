"""`GET /metrics` and the middleware that measures every HTTP request.

Requests are labelled by the route's pattern (`/api/v1/flows/{id}`), never by the raw path, and
by a fixed set of methods: labels taken from what clients send would let any caller create
series without bound. A request that matched no route is `route="unmatched"`.

The middleware goes first in the app's list, outside the error middleware, so it records the
status the client finally gets, once, whether the handler answered or raised. It also hands the
app's metrics to the `/metrics` handler through the request: the registry belongs to this app
(and its engine), never to the process-wide default.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest

from workflowdev.api.docs import Schema
from workflowdev.api.docs import error
from workflowdev.engine.node.engine import Engine

routes = web.RouteTableDef()

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds; WebSocket streams last as long as their connection and land in +Inf."""


class Metrics:
    """Everything `/metrics` shows for one app: its engine's families plus the HTTP ones."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine.metrics
        self.registry = self.engine.registry
        self.requests = Counter(
            "workflowdev_http_requests_total",
            "HTTP requests answered, by route pattern, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "workflowdev_http_request_duration_seconds",
            "Time to answer HTTP requests, by route pattern and method",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        route = route_pattern(request)
        method = request.method if request.method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.durations.labels(route, method).observe(seconds)


METRICS_KEY = web.RequestKey("metrics", Metrics)


def route_pattern(request: web.Request) -> str:
    """The pattern of the route that served the request (404s and 405s matched none)."""
    match = request.match_info
    resource = match.route.resource
    if match.http_exception is not None or resource is None:
        return UNMATCHED
    return resource.canonical


def metrics_middleware(engine: Engine) -> Middleware:
    """The measuring middleware of a new app on `engine`; put it first in the middlewares list."""
    metrics = Metrics(engine)

    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[METRICS_KEY] = metrics
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects, or whatever an inner layer let through
            metrics.observe(request, exc.status, time.perf_counter() - started)
            raise
        except Exception:  # aiohttp answers these with a 500
            metrics.observe(request, 500, time.perf_counter() - started)
            raise
        metrics.observe(request, response.status, time.perf_counter() - started)
        return response

    return measure


@routes.get("/metrics", name="metrics")
async def scrape(request: web.Request) -> web.Response:
    metrics = request[METRICS_KEY]
    await metrics.engine.refresh()
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


SCHEMAS: dict[str, Schema] = {}
OPERATIONS: dict[str, Schema] = {
    "metrics": {
        "summary": "Prometheus metrics: executions, task durations, queue depth, HTTP requests, the process",
        "responses": {
            "200": {
                "description": "The Prometheus text exposition format, version 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "503": error("The database does not answer (the backlog cannot be counted)"),
        },
    },
}
