"""Rows to the JSON shapes of API.md (camelCase keys, RFC 3339 UTC timestamps)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from workflowdev.engine.clock import rfc3339


def flow(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "namespace": row.namespace,
        "description": row.description,
        "yamlContent": row.yaml_content,
        "revision": row.revision,
        "tasksTotal": row.tasks_total,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    }


def revision(row: Row[Any]) -> dict[str, Any]:
    return {
        "revision": row.revision,
        "yamlContent": row.yaml_content,
        "createdAt": rfc3339(row.created_at),
        "createdBy": row.created_by,
    }
