"""Credentials: write-only secrets. Responses carry the value only as ciphertext."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from workflowdev.api.actors import actor_of
from workflowdev.api.bodies import field
from workflowdev.api.bodies import paging
from workflowdev.api.bodies import read_object
from workflowdev.api.bodies import reject_unknown
from workflowdev.api.docs import ERRORS
from workflowdev.api.docs import ID_PARAM
from workflowdev.api.docs import PAGING
from workflowdev.api.docs import TIMESTAMP
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import error
from workflowdev.api.docs import json_body
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.replies import page_reply
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.services.credentials import MAX_VALUE_BYTES
from workflowdev.engine.services.credentials import CredentialService

routes = web.RouteTableDef()
CREDENTIALS = web.AppKey("credentials", CredentialService)


def credential_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "encryptedValue": base64.b64encode(row.nonce + row.ciphertext).decode("ascii"),
        "keyId": row.key_id,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


@routes.get("/api/v1/credentials", name="credentials.list")
async def list_credentials(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    rows, total = await request.app[CREDENTIALS].list(limit=limit, offset=offset)
    return page_reply([credential_json(r) for r in rows], total)


@routes.post("/api/v1/credentials", name="credentials.create")
async def create_credential(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"name", "value", "description"})
    row = await request.app[CREDENTIALS].create(
        name=field(body, "name", str, required=True),
        value=field(body, "value", str, required=True),
        description=field(body, "description", str),
        actor=actor_of(request),
    )
    return web.json_response(credential_json(row), status=201)


@routes.get("/api/v1/credentials/{id}", name="credentials.get")
async def get_credential(request: web.Request) -> web.Response:
    return web.json_response(credential_json(await request.app[CREDENTIALS].get(request.match_info["id"])))


@routes.put("/api/v1/credentials/{id}", name="credentials.update")
async def update_credential(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"name", "value", "description"})
    row = await request.app[CREDENTIALS].update(
        request.match_info["id"],
        value=field(body, "value", str),
        description=field(body, "description", str),
        name=field(body, "name", str),
        actor=actor_of(request),
    )
    return web.json_response(credential_json(row))


@routes.delete("/api/v1/credentials/{id}", name="credentials.delete")
async def delete_credential(request: web.Request) -> web.Response:
    await request.app[CREDENTIALS].delete(request.match_info["id"], actor=actor_of(request))
    return web.Response(status=204)


_NAME: Schema = {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "maxLength": 128}
_VALUE: Schema = {
    "type": "string",
    "minLength": 1,
    "description": f"The secret, at most {MAX_VALUE_BYTES} bytes of UTF-8; write-only.",
}
SCHEMAS: dict[str, Schema] = {
    "Credential": {
        "type": "object",
        "required": ["id", "name", "description", "encryptedValue", "keyId", "createdAt", "updatedAt"],
        "properties": {
            "id": {"type": "string"},
            "name": _NAME,
            "description": {"type": ["string", "null"]},
            "encryptedValue": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The 12-byte AES-GCM nonce followed by the ciphertext and its tag.",
            },
            "keyId": {"type": "string", "description": "Which master key encrypted the value."},
            "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP,
        },
    },
    "CredentialCreate": {
        "type": "object",
        "required": ["name", "value"],
        "additionalProperties": False,
        "properties": {"name": _NAME, "value": _VALUE, "description": {"type": "string"}},
    },
    "CredentialUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {**_NAME, "description": "Optional; must be the credential's own name."},
            "value": _VALUE,
            "description": {"type": "string"},
        },
    },
}
_KEY_MISMATCH = {"503": error("This node's master key is not the one the credentials are encrypted with")}
OPERATIONS: dict[str, Schema] = {
    "credentials.list": {
        "summary": "List credentials by name (values only encrypted)",
        "parameters": PAGING,
        "responses": {**ok(array(ref("Credential"))), **ERRORS},
    },
    "credentials.create": {
        "summary": "Create a credential",
        "requestBody": json_body(ref("CredentialCreate")),
        "responses": {**ok(ref("Credential"), "201", "Created"), **ERRORS, **_KEY_MISMATCH},
    },
    "credentials.get": {
        "summary": "A credential (its value only encrypted)",
        "parameters": [ID_PARAM],
        "responses": {**ok(ref("Credential")), **ERRORS},
    },
    "credentials.update": {
        "summary": "Replace a credential's value and/or description",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("CredentialUpdate")),
        "responses": {**ok(ref("Credential")), **ERRORS, **_KEY_MISMATCH},
    },
    "credentials.delete": {
        "summary": "Delete a credential",
        "parameters": [ID_PARAM],
        "responses": {**ok(None, "204", "Deleted"), **ERRORS},
    },
}
