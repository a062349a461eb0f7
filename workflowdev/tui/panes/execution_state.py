"""What the executions table and one execution's screen agree on: merging live updates, and
cancel and retry.

Both actions ask first (cancelling stops running work for good; retrying runs tasks again), and
both are offered only in the states where the server would accept them, so the operator never
meets a 409 for a key the footer showed.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.formatting import TERMINAL_STATUSES
from workflowdev.tui.formatting import short_id
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.session import Session

CANCELLABLE = frozenset({"QUEUED", "RUNNING", "PAUSED"})
RETRYABLE = frozenset({"FAILED", "CANCELLED", "TIMED_OUT"})
STATE_ACTIONS: dict[str, frozenset[str]] = {"cancel": CANCELLABLE, "retry": RETRYABLE}
"""Action name → the execution statuses in which it is offered."""
WHEN_OFFERED = {
    "cancel": "only a queued, running or paused execution can be cancelled",
    "retry": "only a failed, cancelled or timed-out execution can be retried",
}


def offered(action: str, execution: Json | None) -> bool | None:
    """check_action's answer for a state-dependent action: None (shown, disabled) when the status
    forbids it, False when there is no execution at all, True when it may run."""
    allowed = STATE_ACTIONS.get(action)
    if allowed is None:
        return True
    if execution is None:
        return False
    return True if execution.get("status") in allowed else None


def merge_update(known: Json, data: Json) -> None:
    """Fold an `execution.updated` payload (full or only `{id, status}`) into what is shown.

    A retried execution comes back as a bare `{id, status: QUEUED}`: what the payload does not
    say about a run that has not finished any more must not linger from the run before.
    """
    known.update(data)
    if "status" in data and data["status"] not in TERMINAL_STATUSES:
        for stale in ("finishedAt", "durationMs", "error"):
            if stale not in data:
                known[stale] = None
        if data.get("status") == "QUEUED" and "startedAt" not in data:
            known["startedAt"] = None


def describe(execution: Json) -> str:
    return f"{execution.get('namespace', '')}/{execution.get('flowName', '')} {short_id(execution.get('id'))}"


QUESTIONS: dict[str, tuple[str, str]] = {
    "cancel": ("Cancel {what}? Running tasks are stopped and the execution ends CANCELLED.", "Cancel execution"),
    "retry": ("Retry {what}? Failed, cancelled and never-run tasks run again.", "Retry"),
}


async def confirm_and_run(session: Session, action: str, execution: Json) -> Json | None:
    """Ask, then cancel or retry; the server's answer, or None when declined or refused.

    A refusal is reported here rather than by `reports_api_errors`: the pane still refreshes
    its keys after a refused action, as after any other.
    """
    question, label = QUESTIONS[action]
    if not await session.ask(Confirm(question.format(what=describe(execution)), label)):
        return None
    call = session.client.cancel if action == "cancel" else session.client.retry
    try:
        return await call(execution["id"])
    except ApiError as exc:
        session.report(exc)
        return None


class ExecutionActionsPane(Pane):
    """A pane whose `cancel` and `retry` keys act on one execution it points at (`acted_on`).

    What the server does next arrives as events, so the pane changes through the same path as
    when someone else cancels or retries.
    """

    REQUIRES: ClassVar[dict[str, str]] = {"cancel": "executor", "retry": "executor"}

    def acted_on(self) -> Json | None:
        """The execution the keys act on now (the row under the cursor, the one on screen)."""
        return None

    def unavailable(self, action: str) -> str | None:
        if action not in WHEN_OFFERED:
            return super().unavailable(action)
        execution = self.acted_on()
        if execution is None:
            return "select an execution first"
        return f"{WHEN_OFFERED[action]} (this one is {execution.get('status')})"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        return offered(action, self.acted_on())

    @work(group="execution-act")
    async def action_cancel(self) -> None:
        await self._confirm_and_run("cancel")

    @work(group="execution-act")
    async def action_retry(self) -> None:
        await self._confirm_and_run("retry")

    async def _confirm_and_run(self, action: str) -> None:
        execution = self.acted_on()
        if execution is not None:
            await confirm_and_run(self.session, action, execution)
        self.refresh_bindings()
