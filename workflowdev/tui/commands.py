"""The command palette (ctrl+p) finds flows and recent executions by name and opens them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING
from typing import Any

from textual.command import DiscoveryHit
from textual.command import Hit
from textual.command import Hits
from textual.command import Provider

from workflowdev.tui.client import ApiError
from workflowdev.tui.formatting import short_id

if TYPE_CHECKING:
    from workflowdev.tui.app import WorkflowdevApp

RECENT_EXECUTIONS = 200


class FindProvider(Provider):
    """Reads flows and recent executions once per palette opening; searching is then local."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._targets: list[tuple[str, str, Callable[[], None]]] = []

    async def startup(self) -> None:
        app: WorkflowdevApp = self.app  # type: ignore[assignment]
        try:
            flows = await app.client.flows()
            executions = await app.client.executions(limit=RECENT_EXECUTIONS)
        except ApiError:
            return
        for flow in flows:
            label = f"flow {flow['namespace']}/{flow['name']}"
            self._targets.append(
                (label, flow.get("description") or "open the flow", partial(app.open_flow, flow["id"]))
            )
        for execution in executions:
            label = f"execution {execution['flowName']} {short_id(execution['id'])} {execution['status']}"
            self._targets.append(
                (label, execution.get("createdAt") or "", partial(app.open_execution, execution["id"]))
            )

    async def discover(self) -> Hits:
        for label, help_text, open_it in self._targets[:20]:
            yield DiscoveryHit(label, open_it, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, open_it in self._targets:
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), open_it, help=help_text)
