"""Triggers: which flows start on their own, when next, and switching them on and off.

`l` opens a schedule's slot ledger, where what never ran can be backfilled.
No event announces a trigger change, but a trigger firing queues an execution of its flow, and
that does come as an event: it is the cue to re-read, gathered into one read per burst. A
webhook's URL can be copied (OSC 52, which some terminals and SSH hops drop, so it is also shown).
Secrets in a trigger's config are masked here even if a server ever sent one.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.console import Group
from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType

from workflowdev.tui.formatting import format_time
from workflowdev.tui.navigation import OpenSlots
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.table_pane import Cells
from workflowdev.tui.panes.table_pane import Column
from workflowdev.tui.panes.table_pane import TablePane
from workflowdev.tui.panes.table_pane import heading
from workflowdev.tui.panes.table_pane import json_view
from workflowdev.tui.panes.table_pane import masked
from workflowdev.tui.panes.table_pane import table_bindings
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors

RELOAD_DELAY = 2.0
"""Seconds to gather executions queued by triggers before re-reading when they last fired."""


class TriggersPane(TablePane):
    PANE_TITLE = "Triggers"
    NOUN = "triggers"
    EMPTY_HINT = "Declare one under `triggers:` in a flow's YAML, or POST /api/v1/triggers."
    FILTER_PLACEHOLDER = "filter by flow, type or name — esc clears"
    COLUMNS = (
        Column("Flow", "flow", 18),
        Column("Type", "type", 8),
        Column("Name", "name", 13),
        Column("On", "enabled", 5),
        Column("Next fire", "next", 11),
        Column("Last fired", "last", 11),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        *table_bindings("triggers"),
        Binding("space", "toggle", "On/off", id="triggers.toggle"),
        Binding("y", "copy_url", "Copy URL", id="triggers.copy_url"),
        Binding("l", "slots", "Slots", id="triggers.slots"),
    ]
    REQUIRES: ClassVar[dict[str, str]] = {"toggle": "editor"}

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.flow_names: dict[str, str] = {}
        self._toggling = asyncio.Lock()

    async def fetch(self) -> list[Json]:
        triggers = await self.client.triggers()
        flows = await self.client.flows()
        self.flow_names = {
            flow["id"]: flow["name"] if flow["namespace"] == "default" else f"{flow['namespace']}/{flow['name']}"
            for flow in flows
        }
        return sorted(triggers, key=lambda t: (self.flow_name(t), t["type"], t["name"]))

    def flow_name(self, trigger: Json) -> str:
        return self.flow_names.get(trigger["flowId"], trigger["flowId"])

    def cells(self, item: Json) -> Cells:
        now = self.session.clock()
        enabled = Text("✔ on", style="green") if item["enabled"] else Text("✖ off", style="dim")
        return (
            self.flow_name(item),
            item["type"],
            item["name"],
            enabled,
            format_time(item.get("nextFireAt"), now) if item["enabled"] else "—",
            format_time(item.get("lastFiredAt"), now),
        )

    def describe(self, item: Json) -> RenderableType:
        parts: list[RenderableType] = [heading(f"{self.flow_name(item)} · {item['type']} trigger {item['name']}")]
        if item["type"] == "webhook":
            parts.append(Text(f"POST {self.webhook_url(item)}   (y copies it)"))
        if item.get("fromYaml"):
            parts.append(Text("Declared in the flow's YAML: change it there; only on/off is set here.", style="dim"))
        parts.append(json_view(masked(item["config"])))
        return Group(*parts)

    def on_server_event(self, event: Json) -> None:
        """A trigger that fires queues an execution of its flow: re-read when such a flow starts."""
        data = event.get("data") or {}
        if event.get("type") != "execution.updated" or data.get("status") != "QUEUED":
            return
        if any(trigger["flowId"] == data.get("flowId") for trigger in self.items.values()):
            self.reload_soon(RELOAD_DELAY)

    def webhook_url(self, trigger: Json) -> str:
        return f"{self.client.base_url}/api/v1/webhook/{trigger['config']['key']}"

    @work(group="toggle")
    @reports_api_errors
    async def action_toggle(self) -> None:
        """Toggles run one at a time, each from the state the previous one left: a double press
        switches twice rather than racing two requests that both ask for the same state."""
        async with self._toggling:
            trigger = self.selected_or_say("a trigger")
            if trigger is None:
                return
            updated = await self.client.set_trigger_enabled(trigger["id"], not trigger["enabled"])
            self.merge(updated)
            state = "enabled" if updated["enabled"] else "disabled"
            self.notify(f"{self.flow_name(updated)} · {updated['name']} {state}")

    def action_slots(self) -> None:
        trigger = self.selected_or_say("a schedule trigger")
        if trigger is None:
            return
        if trigger["type"] != "schedule":
            self.notify(f"{trigger['name']} is a {trigger['type']} trigger: only schedules have slots.", severity="warning")
            return
        self.post_message(OpenSlots(trigger, f"{self.flow_name(trigger)} · {trigger['name']}"))

    def action_copy_url(self) -> None:
        trigger = self.selected_or_say("a webhook trigger")
        if trigger is None:
            return
        if trigger["type"] != "webhook":
            self.notify(
                f"{trigger['name']} is a {trigger['type']} trigger: only webhooks have a URL.", severity="warning"
            )
            return
        url = self.webhook_url(trigger)
        self.app.copy_to_clipboard(url)
        self.notify(url, title="Webhook URL copied")
