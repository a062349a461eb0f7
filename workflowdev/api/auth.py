"""Registering and logging in. Tokens are JWTs; see workflowdev.engine.services.users."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api.access import USER_KEY
from workflowdev.api.access import USERS
from workflowdev.api.actors import ACTOR_KEY
from workflowdev.api.bodies import field
from workflowdev.api.bodies import read_object
from workflowdev.api.bodies import reject_unknown
from workflowdev.api.docs import ERRORS
from workflowdev.api.docs import Schema
from workflowdev.api.docs import error
from workflowdev.api.docs import json_body
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.keys import SETTINGS
from workflowdev.engine.errors import DomainError
from workflowdev.engine.services.user_roles import ROLES
from workflowdev.engine.services.users import user_json

routes = web.RouteTableDef()


class AuthDisabled(DomainError, status=404, code="not_found"):
    """The auth routes of a server started without --auth: as if they were not there."""


def _require_auth(request: web.Request) -> None:
    if not request.app[SETTINGS].auth:
        raise AuthDisabled("authentication is off on this server (start it with --auth)")


@routes.post("/auth/register", name="auth.register")
async def register(request: web.Request) -> web.Response:
    _require_auth(request)
    body = await read_object(request)
    reject_unknown(body, {"username", "password", "role"})
    role = field(body, "role", str) or "viewer"
    user = await request.app[USERS].register(
        field(body, "username", str, required=True),
        field(body, "password", str, required=True),
        role,
        actor=request.get(ACTOR_KEY),
    )
    return web.json_response(user_json(user), status=201)


@routes.post("/auth/login", name="auth.login")
async def login(request: web.Request) -> web.Response:
    _require_auth(request)
    body = await read_object(request)
    reject_unknown(body, {"username", "password"})
    result = await request.app[USERS].login(
        field(body, "username", str, required=True), field(body, "password", str, required=True), request.remote
    )
    return web.json_response(result)


@routes.get("/api/v1/auth/me", name="auth.me")
async def me(request: web.Request) -> web.Response:
    if not request.app[SETTINGS].auth:
        return web.json_response({"id": None, "username": "anonymous", "role": "admin", "auth": False})
    return web.json_response({**user_json(request[USER_KEY]), "auth": True})


SCHEMAS: dict[str, Schema] = {
    "Register": {
        "type": "object",
        "required": ["username", "password"],
        "additionalProperties": False,
        "properties": {
            "username": {"type": "string", "minLength": 1, "maxLength": 64},
            "password": {"type": "string", "minLength": 8},
            "role": {"enum": list(ROLES), "default": "viewer"},
        },
    },
    "Login": {
        "type": "object",
        "required": ["username", "password"],
        "additionalProperties": False,
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    },
    "User": {
        "type": "object",
        "required": ["id", "username", "role"],
        "properties": {"id": {"type": "string"}, "username": {"type": "string"}, "role": {"enum": list(ROLES)}},
    },
    "Me": {
        "type": "object",
        "required": ["username", "role", "auth"],
        "properties": {
            "id": {"type": ["string", "null"]},
            "username": {"type": "string"},
            "role": {"enum": list(ROLES)},
            "auth": {"type": "boolean", "description": "false: authentication is off and everyone is an admin"},
        },
    },
    "Token": {
        "type": "object",
        "required": ["token", "expiresAt", "user"],
        "properties": {"token": {"type": "string"}, "expiresAt": {"type": "string", "format": "date-time"}, "user": ref("User")},
    },
}
OPERATIONS: dict[str, Schema] = {
    "auth.register": {
        "summary": "Register a user: the first one becomes admin; after that an admin's token is needed",
        "requestBody": json_body(ref("Register")),
        "responses": {**ok(ref("User"), "201", "Registered"), "401": error("Not logged in"), "403": error("Not an admin"), **ERRORS},
    },
    "auth.login": {
        "summary": "Log in; the token goes in Authorization: Bearer",
        "requestBody": json_body(ref("Login")),
        "responses": {**ok(ref("Token")), "401": error("Wrong username or password"), "429": error("Too many failures"), **ERRORS},
    },
    "auth.me": {"summary": "Who the token belongs to", "responses": {**ok(ref("Me")), "401": error("Not logged in")}},
}
