"""Who may call what: one table from route to the least role it needs, and the middleware
that enforces it when authentication is on.

Every named route must appear in ACCESS (a test walks the router); a route missing from it is
refused to everyone rather than let through. HEAD is judged as GET. Without authentication
every caller is the anonymous actor and the table is not consulted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from workflowdev.api.actors import ACTOR_KEY
from workflowdev.api.keys import SETTINGS
from workflowdev.engine.errors import Forbidden
from workflowdev.engine.errors import Unauthorized
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.user_roles import RANK
from workflowdev.engine.services.users import UserService

PUBLIC = "public"
USERS = web.AppKey("users", UserService)
USER_KEY = web.RequestKey("user", Any)

ACCESS: dict[str, str] = {
    # at the root: probes, metrics and logging in need no token
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "metrics": PUBLIC,
    "auth.login": PUBLIC,
    "auth.register": PUBLIC,  # the first user; after that the handler demands an admin
    # a webhook is guarded by its key and optional signature
    "webhook.fire": PUBLIC,
    # viewer: read everything but the audit log
    "openapi": "viewer",
    "auth.me": "viewer",
    "flows.list": "viewer",
    "flows.get": "viewer",
    "flows.export": "viewer",
    "flows.revisions": "viewer",
    "flows.validate": "viewer",
    "executions.list": "viewer",
    "executions.get": "viewer",
    "executions.tasks": "viewer",
    "executions.logs": "viewer",
    "events": "viewer",
    "approvals.list": "viewer",
    "approvals.get": "viewer",
    "triggers.list": "viewer",
    "triggers.get": "viewer",
    "triggers.slots": "viewer",
    "plugins.list": "viewer",
    "plugins.categories": "viewer",
    "plugins.get": "viewer",
    "kv.namespaces": "viewer",
    "kv.list": "viewer",
    "kv.get": "viewer",
    "credentials.list": "viewer",
    "credentials.get": "viewer",
    "nodes.list": "viewer",
    # executor: run things and decide gates
    "flows.execute": "executor",
    "executions.cancel": "executor",
    "executions.retry": "executor",
    "executions.replay": "executor",
    "triggers.backfill": "executor",
    "approvals.approve": "executor",
    "approvals.reject": "executor",
    # editor: change flows, triggers and kv
    "flows.create": "editor",
    "flows.update": "editor",
    "flows.delete": "editor",
    "flows.import_flow": "editor",
    "flows.restore": "editor",
    "triggers.create": "editor",
    "triggers.update": "editor",
    "triggers.delete": "editor",
    "kv.set": "editor",
    "kv.delete": "editor",
    # admin: secrets, users, the audit log
    "credentials.create": "admin",
    "credentials.update": "admin",
    "credentials.delete": "admin",
    "audit.list": "admin",
}


def needed_role(request: web.Request) -> str | None:
    """The least role for the matched route; None when no route matched (a 404 follows)."""
    route = request.match_info.route
    name = route.name if route is not None else None
    if name is None:
        return None
    return ACCESS.get(name, "forbidden")


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token> (POST /auth/login gives one)")
    return token.strip()


@web.middleware
async def access_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not settings.auth:
        request[ACTOR_KEY] = Actor("anonymous", request.remote)
        return await handler(request)
    needed = needed_role(request)
    if needed is None:
        return await handler(request)
    users = request.app[USERS]
    if needed == PUBLIC:
        # Say who it is when a valid token comes along (an admin registering others), but never
        # refuse a public route over its Authorization header: a webhook sender may have its own.
        try:
            user = await users.user_for_token(_bearer(request))
        except Unauthorized:
            user = None
        if user is not None:
            request[ACTOR_KEY] = Actor(user.username, request.remote)
        return await handler(request)
    user = await users.user_for_token(_bearer(request))
    actor = Actor(user.username, request.remote)
    request[USER_KEY] = user
    if needed == "forbidden" or RANK[user.role] < RANK[needed]:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
        await users.audit_denied(actor, request.method, route, needed, user.role)
        raise Forbidden(f"{request.method} {route} needs the {needed} role; you are {user.role}")
    request[ACTOR_KEY] = actor
    return await handler(request)
