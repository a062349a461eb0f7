"""One flow: its YAML, its revisions (diff any two, restore one), its triggers and its recent runs.

Sections are tabs so everything reads at 80x24: one letter switches to each (`y`, `v`, `t`, `h`),
and the keys that only make sense on a section (pick, restore) are offered only there.
Restoring never rewrites history: the old YAML is saved as a new revision, as API.md says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets import Static
from textual.widgets import TabbedContent
from textual.widgets import TabPane

from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.editing import edit_flow
from workflowdev.tui.formatting import elapsed_ms
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import short_id
from workflowdev.tui.formatting import status_text
from workflowdev.tui.navigation import OpenExecution
from workflowdev.tui.navigation import RunFlow
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors
from workflowdev.tui.widgets.diff_text import diff_text
from workflowdev.tui.widgets.list_table import ListTable
from workflowdev.tui.widgets.yaml_view import yaml_text

Json = dict[str, Any]
RECENT_RUNS = 20
TABLE_COLUMNS = {
    "revisions": (("rev", "Rev"), ("saved", "Saved"), ("by", "By"), ("picked", "Picked")),
    "triggers": (("type", "Type"), ("name", "Name"), ("enabled", "Enabled"), ("next", "Next fire")),
    "runs": (("status", "Status"), ("created", "Started"), ("took", "Took"), ("rev", "Rev"), ("id", "Id")),
}
"""Section → its table's (column key, label)."""
PICK_HINT = "space picks a revision: one is compared with the current, two with each other."


class FlowScreen(Pane):
    PANE_TITLE = "Flow"
    DEFAULT_CSS = """
    FlowScreen #flow-info { height: auto; max-height: 3; padding: 0 1; }
    FlowScreen TabbedContent { height: 1fr; }
    FlowScreen TabPane { padding: 0; }
    FlowScreen #revisions-table { height: auto; max-height: 7; }
    FlowScreen #diff-scroll { height: 1fr; border-top: solid $primary; }
    FlowScreen .hint { color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="flow.back"),
        Binding("x", "execute", "Execute", id="flow.execute"),
        Binding("e", "edit", "Edit", id="flow.edit"),
        Binding("space", "pick", "Pick", id="flow.pick"),
        Binding("R", "restore", "Restore", id="flow.restore"),
        Binding("y", "section('yaml')", "YAML", id="flow.section_yaml", show=False),
        Binding("v", "section('revisions')", "Revisions", id="flow.section_revisions", show=False),
        Binding("t", "section('triggers')", "Triggers", id="flow.section_triggers", show=False),
        Binding("h", "section('runs')", "Runs", id="flow.section_runs", show=False),
    ]
    REQUIRES: ClassVar[dict[str, str]] = {"execute": "executor", "edit": "editor", "restore": "editor"}
    REVISION_ACTIONS = frozenset({"pick", "restore"})

    def __init__(self, session: Session, flow_id: str) -> None:
        super().__init__(session)
        self.flow_id = flow_id
        self.flow: Json | None = None
        self.revisions: dict[int, Json] = {}
        self.picked: list[int] = []

    def compose_body(self) -> Iterable[Widget]:
        yield Static("loading…", id="flow-info")
        with TabbedContent(initial="yaml"):
            with TabPane("YAML (y)", id="yaml"), VerticalScroll():
                yield Static("", id="flow-yaml")
            with TabPane("Revisions (v)", id="revisions"):
                yield ListTable(id="revisions-table", cursor_type="row")
                yield Static(PICK_HINT, classes="hint", markup=False)
                with VerticalScroll(id="diff-scroll"):
                    yield Static("", id="diff")
            with TabPane("Triggers (t)", id="triggers"):
                yield ListTable(id="triggers-table", cursor_type="row")
            with TabPane("Runs (h)", id="runs"):
                yield ListTable(id="runs-table", cursor_type="row")

    def on_mount(self) -> None:
        for name, columns in TABLE_COLUMNS.items():
            table = self._table(name)
            for key, label in columns:
                table.add_column(label, key=key)

    def _table(self, name: str) -> DataTable[Any]:
        return self.query_one(f"#{name}-table", DataTable)

    # --- loading ------------------------------------------------------------------------------

    @work(exclusive=True, group="flow-load")
    @reports_api_errors
    async def reload(self) -> None:
        client = self.client
        flow = await client.flow(self.flow_id)
        revisions = await client.revisions(self.flow_id)
        triggers = await client.triggers(flow_id=self.flow_id)
        runs = await client.executions(flow_id=self.flow_id, limit=RECENT_RUNS)
        self.flow = flow
        self._show_flow(flow)
        self._show_revisions(revisions)
        self._show_triggers(triggers)
        self._show_runs(runs)

    def _show_flow(self, flow: Json) -> None:
        now = self.session.clock()
        info = Text.assemble(
            (f"{flow['namespace']}/{flow['name']}", "bold"),
            f" · revision {flow['revision']} · updated {format_time(flow['updatedAt'], now)}",
        )
        if flow.get("description"):
            info.append("\n" + flow["description"], style="dim")
        self.query_one("#flow-info", Static).update(info)
        self.query_one("#flow-yaml", Static).update(yaml_text(flow["yamlContent"]))

    def _show_revisions(self, revisions: list[Json]) -> None:
        self.revisions = {r["revision"]: r for r in revisions}
        self.picked = [rev for rev in self.picked if rev in self.revisions]
        table = self._table("revisions")
        cursor = table.cursor_row
        table.clear()
        now = self.session.clock()
        for revision in revisions:
            rev = revision["revision"]
            table.add_row(
                Text(str(rev), justify="right"),
                format_time(revision["createdAt"], now),
                revision.get("createdBy") or "—",
                self._pick_mark(rev),
                key=str(rev),
            )
        table.move_cursor(row=min(cursor, max(table.row_count - 1, 0)))
        self._show_diff()

    def _show_triggers(self, triggers: list[Json]) -> None:
        table = self._table("triggers")
        table.clear()
        now = self.session.clock()
        for trigger in triggers:
            table.add_row(
                trigger["type"],
                trigger.get("name") or "—",
                Text("✔ yes", style="green") if trigger.get("enabled") else Text("⊘ no", style="yellow"),
                format_time(trigger.get("nextFireAt"), now),
                key=trigger["id"],
            )

    def _show_runs(self, runs: list[Json]) -> None:
        table = self._table("runs")
        table.clear()
        for run in runs:
            table.add_row(*self._run_cells(run), key=run["id"])

    def _run_cells(self, run: Json) -> tuple[Any, ...]:
        now = self.session.clock()
        return (
            status_text(run.get("status")),
            format_time(run.get("createdAt"), now),
            format_duration(elapsed_ms(run, now)),
            str(run.get("flowRevision", "")),
            short_id(run["id"]),
        )

    # --- live runs ----------------------------------------------------------------------------

    def on_server_event(self, event: Json) -> None:
        """Runs of this flow update in place; a new one is added at the top."""
        if event.get("type") != "execution.updated":
            return
        data = event.get("data") or {}
        execution_id = data.get("id") or event.get("executionId")
        table = self._table("runs")
        if execution_id in table.rows:
            table.update_cell(execution_id, "status", status_text(data.get("status")))
            if "durationMs" in data:
                table.update_cell(execution_id, "took", format_duration(data["durationMs"]))
        elif data.get("flowId") == self.flow_id and "createdAt" in data:
            table.add_row(*self._run_cells(data), key=execution_id)
            newest = short_id(execution_id)
            table.sort("id", key=lambda short: short != newest)  # stable: the rest keep their order

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "runs-table" and event.row_key.value:
            self.post_message(OpenExecution(event.row_key.value))
        elif event.data_table.id == "revisions-table":
            self.action_pick()

    # --- sections and keys --------------------------------------------------------------------

    def action_section(self, name: str) -> None:
        self.query_one(TabbedContent).active = name
        if name in ("revisions", "triggers", "runs"):
            self._table(name).focus()

    def on_tabbed_content_tab_activated(self, _event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.REVISION_ACTIONS and self.query_one(TabbedContent).active != "revisions":
            return False
        return super().check_action(action, parameters)

    def action_back(self) -> None:
        self.dismiss()

    def action_execute(self) -> None:
        if self.flow is not None:
            self.post_message(RunFlow(self.flow))

    @work(exclusive=True, group="flow-edit")
    async def action_edit(self) -> None:
        if self.flow is not None and await edit_flow(self, self.flow) is not None:
            self.reload()

    # --- revisions: pick two and compare, restore one -------------------------------------------

    def _cursor_revision(self) -> int | None:
        table = self._table("revisions")
        if not table.row_count:
            return None
        return int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or 0)

    def _pick_mark(self, rev: int) -> Text:
        return Text("●", style="bold cyan") if rev in self.picked else Text("")

    def action_pick(self) -> None:
        """Toggle the revision under the cursor; picking a third lets go of the earliest pick."""
        rev = self._cursor_revision()
        if rev is None:
            return
        before = set(self.picked)
        if rev in self.picked:
            self.picked.remove(rev)
        else:
            self.picked = [*self.picked, rev][-2:]
        table = self._table("revisions")
        for changed in before ^ set(self.picked):
            table.update_cell(str(changed), "picked", self._pick_mark(changed))
        self._show_diff()

    def _diff_pair(self) -> tuple[int, int] | None:
        """The revisions to compare, older first: the two picks, or the one pick and the current one."""
        current = self.flow["revision"] if self.flow else None
        if len(self.picked) == 2:
            old, new = sorted(self.picked)
        elif len(self.picked) == 1 and current is not None:
            old, new = sorted((self.picked[0], current))
        else:
            return None
        return (old, new) if old != new else None

    def _show_diff(self) -> None:
        diff = self.query_one("#diff", Static)
        pair = self._diff_pair()
        if pair is None:
            diff.update("Pick a revision other than the current one to compare." if self.picked else "")
            return
        old, new = (self.revisions[rev] for rev in pair)
        current = self.flow["revision"] if self.flow else None
        new_label = f"revision {new['revision']}" + (" (current)" if new["revision"] == current else "")
        diff.update(diff_text(old["yamlContent"], new["yamlContent"], f"revision {old['revision']}", new_label))

    @work(exclusive=True, group="flow-edit")
    @reports_api_errors
    async def action_restore(self) -> None:
        rev = self._cursor_revision()
        if rev is None or self.flow is None:
            return
        current = self.flow["revision"]
        if rev == current:
            self.notify(f"Revision {rev} is the current one.", severity="warning")
            return
        name = f"{self.flow['namespace']}/{self.flow['name']}"
        question = f"Restore revision {rev} of {name}?\nIt is saved as a new revision; no history is lost."
        if not await self.session.ask(Confirm(question, "Restore")):
            return
        restored = await self.client.restore(self.flow_id, rev)
        self.notify(f"Revision {rev} restored as revision {restored['revision']}.", title=name)
        self.reload()
