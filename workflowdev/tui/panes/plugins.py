"""The plugin catalogue: every task type, searchable, with its schemas and an example to copy.

Eighty-odd task types are too many to scroll, so `/` (or `:plugins http`) narrows them, and
the best matches come first: an id that starts with the search, then ids and names that contain
it, then descriptions that merely mention it. The catalogue changes only when the server is
upgraded, so it is read once, not on every visit.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.console import RenderableType
from rich.text import Text
from textual.binding import BindingType

from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.table_pane import Cells
from workflowdev.tui.panes.table_pane import Column
from workflowdev.tui.panes.table_pane import TablePane
from workflowdev.tui.panes.table_pane import code_view
from workflowdev.tui.panes.table_pane import heading
from workflowdev.tui.panes.table_pane import json_view
from workflowdev.tui.panes.table_pane import table_bindings


def relevance(plugin: Json, words: list[str]) -> int | None:
    """Lower is better: 0 the id starts with the search and the id or name holds every word, 1 the
    id or name holds every word, 2 the description is needed too; None when a word is missing."""
    title = f"{plugin['id']} {plugin['name']}".lower()
    if not all(word in f"{title} {plugin.get('description') or ''}".lower() for word in words):
        return None
    if not all(word in title for word in words):
        return 2
    return 0 if plugin["id"].lower().startswith(words[0]) else 1


class PluginsPane(TablePane):
    PANE_TITLE = "Plugins"
    NOUN = "plugins"
    FILTER_PLACEHOLDER = "search ids, names and descriptions — esc clears"
    RELOAD_ON_RESUME = False
    COLUMNS = (
        Column("Id", "id", 22),
        Column("Category", "category", 10),
        Column("Name", "name", 36),
    )
    BINDINGS: ClassVar[list[BindingType]] = table_bindings("plugins")

    async def fetch(self) -> list[Json]:
        return sorted(await self.client.plugins(), key=lambda p: p["id"])

    def cells(self, item: Json) -> Cells:
        return (item["id"], item["category"], item["name"])

    def visible_items(self) -> list[Json]:
        words = self.filter_text.lower().split()
        if not words:
            return list(self.items.values())
        ranked = [(rank, plugin) for plugin in self.items.values() if (rank := relevance(plugin, words)) is not None]
        return [plugin for _, plugin in sorted(ranked, key=lambda pair: (pair[0], pair[1]["id"]))]

    def describe(self, item: Json) -> RenderableType:
        parts: list[RenderableType] = [
            heading(f"{item['id']} — {item['name']}"),
            Text(item.get("description") or ""),
            heading("\nInputs (properties)"),
            json_view(item.get("inputSchema") or {}),
            heading("\nOutputs"),
            json_view(item.get("outputSchema") or {}),
        ]
        examples = item.get("examples") or []
        if examples:
            parts += [heading("\nExample"), code_view(examples[0], "yaml")]
        return Group(*parts)
