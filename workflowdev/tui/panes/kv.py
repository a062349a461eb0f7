"""Key-value browser: namespaces on the left, their keys with expiry, the selected value as JSON.

The store sends no events, so the pane reads it on open, on `r`, and after its own writes; it
never polls. Values are edited as JSON text and parsed before anything is sent. Editing a value
keeps the entry's remaining time to live, because the API drops the expiry of any write that
does not restate it; `t` is the one key that changes expiry on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from typing import ClassVar

from rich.console import Group
from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.containers import Vertical
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets import Input
from textual.widgets import OptionList
from textual.widgets import Static
from textual.widgets.option_list import Option

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.json_editor import JsonEditor
from workflowdev.tui.dialogs.prompts import AskText
from workflowdev.tui.dialogs.prompts import Check
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import parse_time
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors
from workflowdev.tui.widgets.live_table import Cells
from workflowdev.tui.widgets.live_table import LiveTable

Json = dict[str, Any]
WRITER = "editor"
"""The least role that may change kv entries (API.md's table)."""


def value_json(value: Any) -> str:
    """A kv value as indented JSON. Not `pretty_json`: a text value is shown as text, never decoded."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def check_name(kind: str) -> Check:
    """The mistakes in a namespace or key name worth catching before the server does (it checks the rest)."""

    def check(name: str) -> str | None:
        if not name.strip():
            return f"a {kind} needs a name"
        if "/" in name:
            return f"a {kind} cannot contain '/'"
        return None

    return check


def parse_ttl(text: str) -> tuple[float | None, str | None]:
    """Seconds to live from what was typed: empty means "never expires"; else a positive number."""
    if not text.strip():
        return None, None
    try:
        seconds = float(text)
    except ValueError:
        return None, f"{text.strip()!r} is not a number of seconds"
    if not seconds > 0 or seconds == float("inf"):
        return None, "the time to live must be a positive number of seconds"
    return seconds, None


class KvPane(Pane):
    PANE_TITLE = "Key-value"
    DEFAULT_CSS = """
    KvPane #kv-body { height: 1fr; }
    KvPane #namespaces { width: 22; height: 1fr; border-right: solid $primary; }
    KvPane #kv-right { width: 1fr; }
    KvPane #key-filter { display: none; }
    KvPane #key-filter.-shown { display: block; }
    KvPane #keys { height: 1fr; }
    KvPane #kv-value { height: 1fr; border-top: solid $primary; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New key", id="kv.new"),
        Binding("e", "edit", "Edit", id="kv.edit"),
        Binding("t", "ttl", "TTL", id="kv.ttl"),
        Binding("d", "delete", "Delete…", id="kv.delete"),
        Binding("slash", "filter", "Filter", id="kv.filter", key_display="/"),
        Binding("r", "reload", "Reload", id="kv.reload"),
        Binding("escape", "clear_filter", "Clear filter", id="kv.clear_filter", show=False),
    ]
    REQUIRES: ClassVar[dict[str, str]] = {"new": WRITER, "edit": WRITER, "ttl": WRITER, "delete": WRITER}

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.namespace: str | None = None
        self.keys: dict[str, Json] = {}
        """Key → `{key, updatedAt, expiresAt}` of the namespace shown."""
        self.filter_text = ""

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="kv-body"):
            yield OptionList(id="namespaces")
            with Vertical(id="kv-right"):
                yield Input(placeholder="filter keys", id="key-filter")
                table = LiveTable(cursor_type="row", zebra_stripes=True, id="keys")
                table.add_column("Key", key="key")
                table.add_column("Updated", key="updated")
                table.add_column("Expires", key="expires")
                yield table
                with VerticalScroll(id="kv-value"):
                    yield Static("", id="kv-value-text")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#keys", LiveTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.set_interval(1.0, self._tick_expiry)

    # --- loading -------------------------------------------------------------------------------

    def reload(self) -> None:
        self.load(self.namespace, self.selected_key())

    @work(exclusive=True, group="kv-load")
    @reports_api_errors
    async def load(self, namespace: str | None, key: str | None = None) -> None:
        """Namespaces, then the keys of `namespace` (the first one when None), cursor on `key`."""
        namespaces = await self.client.kv_namespaces()
        if namespace is None and namespaces:
            namespace = namespaces[0]["namespace"]
        self.namespace = namespace
        self._show_namespaces(namespaces)
        await self._read_keys(key)

    @work(exclusive=True, group="kv-load")
    @reports_api_errors
    async def switch_namespace(self, namespace: str) -> None:
        self.namespace = namespace
        await self._read_keys(None)

    async def _read_keys(self, cursor_key: str | None) -> None:
        keys = await self.client.kv_list(self.namespace) if self.namespace is not None else []
        self.keys = {row["key"]: row for row in keys}
        self._fill_keys(cursor_key)

    def _show_namespaces(self, namespaces: list[Json]) -> None:
        counts = {row["namespace"]: row["keys"] for row in namespaces}
        if self.namespace is not None:
            counts.setdefault(self.namespace, 0)  # chosen with `:kv NAME`, or just emptied: keep it in view
        options = self.query_one("#namespaces", OptionList)
        options.clear_options()
        options.add_options(
            Option(Text.assemble(name, (f" {count}", "dim")), id=name) for name, count in sorted(counts.items())
        )
        if self.namespace is not None:
            options.highlighted = options.get_option_index(self.namespace)

    def _fill_keys(self, cursor_key: str | None) -> None:
        """Rebuilt rather than patched: this runs on a load or a filter, never on a live event."""
        needle = self.filter_text.lower()
        shown = {key: self._cells(key, row) for key, row in self.keys.items() if needle in key.lower()}
        self.table.rebuild(shown, select=cursor_key)
        self._show_value()

    def _cells(self, key: str, row: Json) -> Cells:
        return Text(key), format_time(row.get("updatedAt"), self.session.clock()), self._expiry(row)

    def _expiry(self, row: Json) -> str:
        expires = parse_time(row.get("expiresAt"))
        if expires is None:
            return "never"
        left = (expires - self.session.clock()).total_seconds()
        return f"in {format_duration(left * 1000)}" if left > 0 else "expired"

    def _tick_expiry(self) -> None:
        """Count the times to live down locally; expired keys vanish at the next read."""
        table = self.table
        ticking = {key: row for key, row in self.keys.items() if row.get("expiresAt") and key in table.rows}
        table.batch({key: self._cells(key, row) for key, row in ticking.items()})

    # --- selection -----------------------------------------------------------------------------

    def selected_key(self) -> str | None:
        return self.table.selected_key

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id is not None and event.option_id != self.namespace:
            self.switch_namespace(event.option_id)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_value()

    def _show_value(self) -> None:
        key = self.selected_key()
        if self.namespace is None:
            self._value_text(Text("No keys anywhere yet. n creates one.", style="dim"))
        elif key is None:
            self._value_text(Text(f"No keys in {self.namespace}" + (" match" if self.filter_text else ""), "dim"))
        else:
            self._value_text(Text(f"{self.namespace}/{key}", style="bold"))
            self.load_value(self.namespace, key)

    def _value_text(self, content: RenderableType) -> None:
        self.query_one("#kv-value-text", Static).update(content)

    @work(exclusive=True, group="kv-value")
    async def load_value(self, namespace: str, key: str) -> None:
        try:
            entry = await self.client.kv_get(namespace, key)
        except ApiError as exc:  # own handling: a key gone meanwhile is said in place, not as an error
            if exc.status == 404:
                self._value_text(Text(f"{namespace}/{key} is gone (expired or deleted); r reloads", "yellow"))
            else:
                self.session.report(exc)
            return
        now = self.session.clock()
        head = Text.assemble(
            (f"{namespace}/{key}", "bold"), (f"  updated {format_time(entry['updatedAt'], now)}", "dim")
        )
        head.append(f"  expires {self._expiry(entry)}", style="dim")
        body = Syntax(value_json(entry["value"]), "json", theme="ansi_dark", background_color="default", word_wrap=True)
        self._value_text(Group(head, body))

    # --- filter --------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#key-filter", Input)
        box.add_class("-shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "key-filter":
            self.filter_text = event.value
            self._fill_keys(self.selected_key())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "key-filter":
            self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#key-filter", Input)
        box.remove_class("-shown")
        box.value = ""  # its Changed message refills the table
        self.table.focus()

    # --- writes --------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.reload()

    def apply_argument(self, argument: str) -> None:
        """`:kv NAME` shows that namespace, even before it holds any key (so `n` can start it)."""
        self.load(argument.strip())

    @work(group="kv-write")
    @reports_api_errors
    async def action_new(self) -> None:
        namespace = self.namespace
        if namespace is None:
            namespace = await self.session.ask(
                AskText("Namespace for the new key", check=check_name("namespace"))
            )
            if namespace is None:
                return

        def fresh(name: str) -> str | None:
            problem = check_name("key")(name)
            if problem is None and name in self.keys and namespace == self.namespace:
                problem = f"{name} exists already; select it and press e to edit it"
            return problem

        key = await self.session.ask(AskText(f"New key in {namespace}", check=fresh))
        if key is None:
            return
        edited = await self.session.ask(JsonEditor(f"{namespace}/{key} — value as JSON", "{}"))
        if edited is not None:
            await self._write(namespace, key, edited.value, None, f"Created {namespace}/{key}")

    @work(group="kv-write")
    @reports_api_errors
    async def action_edit(self) -> None:
        entry = await self._current_entry()
        if entry is None:
            return
        namespace, key = entry["namespace"], entry["key"]
        edited = await self.session.ask(JsonEditor(f"{namespace}/{key}", value_json(entry["value"])))
        if edited is None:
            return
        ttl = None
        expires = parse_time(entry.get("expiresAt"))
        if expires is not None:
            ttl = (expires - self.session.clock()).total_seconds()
            if ttl <= 0:
                self.notify(f"{namespace}/{key} expired while you edited it; nothing saved", severity="warning")
                self.reload()
                return
        await self._write(namespace, key, edited.value, ttl, f"Saved {namespace}/{key}")

    @work(group="kv-write")
    @reports_api_errors
    async def action_ttl(self) -> None:
        entry = await self._current_entry()
        if entry is None:
            return
        namespace, key = entry["namespace"], entry["key"]

        def valid(text: str) -> str | None:
            return parse_ttl(text)[1]

        prompt = AskText(
            f"Time to live of {namespace}/{key}, in seconds",
            placeholder="e.g. 3600",
            check=valid,
            hint="empty: never expires · enter to accept · esc to cancel",
        )
        answer = await self.session.ask(prompt)
        if answer is None:
            return
        ttl, _ = parse_ttl(answer)
        done = (
            f"{namespace}/{key} now expires in {format_duration(ttl * 1000)}"
            if ttl
            else f"{namespace}/{key} never expires"
        )
        await self._write(namespace, key, entry["value"], ttl, done)

    @work(group="kv-write")
    @reports_api_errors
    async def action_delete(self) -> None:
        key = self.selected_key()
        namespace = self.namespace
        if key is None or namespace is None:
            self.notify("Select a key first", severity="warning")
            return
        question = f"Delete {namespace}/{key}? Its value is gone for good."
        if not await self.session.ask(Confirm(question, "Delete")):
            return
        await self.client.kv_delete(namespace, key)
        self.notify(f"Deleted {namespace}/{key}", markup=False)
        self.load(namespace)

    async def _current_entry(self) -> Json | None:
        """The selected entry as the server has it now, not as it was when the pane last read it."""
        key = self.selected_key()
        if key is None or self.namespace is None:
            self.notify("Select a key first", severity="warning")
            return None
        return await self.client.kv_get(self.namespace, key)

    async def _write(self, namespace: str, key: str, value: Any, ttl: float | None, done: str) -> None:
        await self.client.kv_set(namespace, key, value, ttl=ttl)
        self.notify(done, markup=False)
        self.load(namespace, key)
