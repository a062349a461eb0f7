"""Building blocks of the OpenAPI document; each resource module describes its own routes.

A resource module (flows.py, executions.py, …) exports `routes`, `SCHEMAS` (component schemas)
and `OPERATIONS` (one entry per named route); `openapi.py` assembles them.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def json_body(schema: Schema, required: bool = True) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def ok(schema: Schema | None, status: str = "200", description: str = "OK") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    return {status: response}


def error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
]
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
ERRORS = {
    "400": error("Invalid input"),
    "404": error("Not found"),
    "409": error("Conflict"),
    "413": error("Body too large"),
    "415": error("Wrong content type"),
}
