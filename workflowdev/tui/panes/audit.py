"""The audit log: who changed what, from where, newest first.

No event announces an audit entry, so the log is re-read when the pane comes into view and on
`r`. The server filters by exact actor or action only, which is no help while typing, so `/`
narrows the newest entries here. Reading the log needs the admin role: anyone else is told so
in place of the rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding
from textual.binding import BindingType

from workflowdev.tui.client import ApiError
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import short_id
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.table_pane import Cells
from workflowdev.tui.panes.table_pane import Column
from workflowdev.tui.panes.table_pane import TablePane
from workflowdev.tui.panes.table_pane import table_bindings

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NEEDS_ADMIN = "The audit log needs the admin role."
NEWEST = 1000
"""Entries read at once: the API's largest page."""


def shorter(resource_id: str | None) -> str | None:
    """A UUID to its first 8 characters, as ids are shown everywhere; names (kv keys) stay whole."""
    if resource_id is None or not UUID_PATTERN.fullmatch(resource_id):
        return resource_id
    return short_id(resource_id)


class AuditPane(TablePane):
    PANE_TITLE = "Audit log"
    NOUN = "audit entries"
    FILTER_PLACEHOLDER = "filter by action, actor or resource — esc clears"
    COLUMNS = (
        Column("At", "at", 11),
        Column("Actor", "actor", 9),
        Column("Action", "action", 17),
        Column("Resource", "resource", 19),
        Column("From", "remote", 12),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        *table_bindings("audit"),
        Binding("r", "reload", "Reload", id="audit.reload"),
    ]

    async def fetch(self) -> list[Json]:
        return await self.client.audit(limit=NEWEST)

    def cells(self, item: Json) -> Cells:
        resource = " ".join(part for part in (item.get("resourceType"), shorter(item.get("resourceId"))) if part)
        return (
            format_time(item["at"], self.session.clock()),
            item.get("actor") or "",
            item["action"],
            resource,
            item.get("remoteAddr") or "",
        )

    def searchable(self, item: Json) -> Iterable[str | None]:
        return (item.get("action"), item.get("actor"), item.get("resourceType"), item.get("resourceId"))

    def refused_up_front(self) -> str | None:
        """Known roles below admin are told at once: asking would add a denial to the very log."""
        known = self.session.role is not None
        return NEEDS_ADMIN if known and not self.session.may("admin") else None

    def explain_refusal(self, error: ApiError) -> str | None:
        return NEEDS_ADMIN if error.status == 403 else None

    def status_line(self) -> str:
        line = super().status_line()
        if not line and len(self.items) >= NEWEST:
            return f"The newest {NEWEST} entries; GET /api/v1/audit?offset= reads further back."
        return line
