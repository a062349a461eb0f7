"""Audit entries as the services write them: who did what to which resource, and when.

Services call `record` inside the transaction of the change itself, so the entry and the
change commit together or not at all. Details never carry secret values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.services.actor import Actor
from workflowdev.store import audit

MAX_RESOURCE_ID = 255


def entry(
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None,
    details: Mapping[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """The row of one entry (for statements batched elsewhere, like the journal's)."""
    return {
        "id": str(uuid.uuid4()),
        "at": at,
        "actor": actor.name,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id[:MAX_RESOURCE_ID] if resource_id is not None else None,
        "details": json.loads(json.dumps(dict(details), default=str)),
        "remote_addr": actor.remote_addr,
    }


async def record(
    conn: AsyncConnection,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None,
    details: Mapping[str, Any],
    at: datetime,
) -> None:
    await audit.append(conn, **entry(actor, action, resource_type, resource_id, details, at))
