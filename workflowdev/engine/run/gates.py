"""A gate as a run sees it: the row it writes when a task starts waiting, and the decision it reads.

The run writes its gate in the same journal batch as the task's WAITING state, so a gate exists
exactly when its task waits. Deciding and expiring gates is the approval service's job, one room
up; the run only asks for the decision through `Gates`, which that service implements.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from typing import Protocol

from workflowdev.engine.clock import rfc3339
from workflowdev.store.statuses import GateStatus


class GateDecision(Protocol):
    id: str
    status: str
    decided_by: str | None
    comment: str | None


class Gates(Protocol):
    async def for_task_run(self, task_run_id: str) -> GateDecision | None: ...


def new_gate(
    *,
    execution_id: str,
    flow_id: str,
    task_run_id: str,
    task_name: str,
    message: str | None,
    context: Any,
    created_at: datetime,
    expires_at: datetime | None,
) -> dict[str, Any]:
    """The approvals row of a gate nobody has decided yet."""
    return {
        "id": str(uuid.uuid4()),
        "execution_id": execution_id,
        "task_run_id": task_run_id,
        "flow_id": flow_id,
        "task_name": task_name,
        "message": message,
        "context": context,
        "status": GateStatus.PENDING,
        "created_at": created_at,
        "expires_at": expires_at,
        "decided_at": None,
        "decided_by": None,
        "comment": None,
    }


def approval_json(row: Any) -> dict[str, Any]:
    """A gate as events and the API carry it, from a stored row or from `new_gate`'s dict."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {
        "id": get("id"),
        "executionId": get("execution_id"),
        "flowId": get("flow_id"),
        "taskName": get("task_name"),
        "message": get("message"),
        "context": get("context"),
        "status": get("status"),
        "createdAt": rfc3339(get("created_at")),
        "expiresAt": rfc3339(get("expires_at")),
        "decidedAt": rfc3339(get("decided_at")),
        "decidedBy": get("decided_by"),
        "comment": get("comment"),
    }
