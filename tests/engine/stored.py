"""What the store holds of one execution, read the way the engine's own readers do: for tests
that check the dispatcher, the runner and the recorder below the API."""

from __future__ import annotations

from typing import Any

from workflowdev.store import executions as store
from workflowdev.store.database import Database


async def stored_execution(db: Database, execution_id: str) -> Any:
    async with db.read() as conn:
        return await store.get_execution(conn, execution_id)


async def stored_task_runs(db: Database, execution_id: str) -> list[Any]:
    """In the order they started (one statement: a page's total could see other commits)."""
    async with db.read() as conn:
        return list((await store.task_runs_of(conn, [execution_id])).get(execution_id, []))
