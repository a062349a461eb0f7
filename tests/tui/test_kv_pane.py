"""The key-value browser against a real server: browse, edit with JSON checked, TTLs, delete."""

from __future__ import annotations

import json
from typing import Any

import pytest
from textual.widgets import DataTable
from textual.widgets import OptionList
from textual.widgets import Static
from textual.widgets import TextArea

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.test_approvals_pane import text_of
from workflowdev.tui.dialogs.json_editor import JsonEditor
from workflowdev.tui.dialogs.json_editor import parse_json
from workflowdev.tui.dialogs.prompts import AskText
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.panes.kv import KvPane
from workflowdev.tui.panes.kv import check_name
from workflowdev.tui.panes.kv import parse_ttl

KV = "/api/v1/kv"


async def put(server: Api, namespace: str, key: str, value: Any, **query: Any) -> None:
    reply = await server.put(
        f"{KV}/{namespace}/{key}", data=json.dumps(value), headers={"Content-Type": "application/json"}, params=query
    )
    assert reply.status == 200, reply.body


async def stored(server: Api, namespace: str, key: str) -> dict[str, Any] | None:
    reply = await server.get(f"{KV}/{namespace}/{key}")
    return reply.body if reply.status == 200 else None


async def open_kv(app: Any, pilot: Any, *, key: str) -> KvPane:
    """The pane on its first namespace, with `key` loaded and under the cursor."""
    await pilot.press("4")
    pane: KvPane = await wait_for(pilot, lambda: isinstance(app.screen, KvPane) and app.screen, "the kv pane")
    table = pane.query_one("#keys", DataTable)
    await wait_for(pilot, lambda: key in table.rows, f"key {key}")
    table.move_cursor(row=table.get_row_index(key))
    await wait_for(pilot, lambda: key in value_text(pane) and "expires" in value_text(pane), f"the value of {key}")
    return pane


def value_text(pane: KvPane) -> str:
    return text_of(pane.query_one("#kv-value-text", Static))


async def test_namespaces_keys_and_the_value_fit_in_80_by_24_with_a_live_filter(server: Api) -> None:
    await put(server, "shop", "orders", {"last": 1042, "tags": ["a", "b"]}, ttl=3600)
    await put(server, "shop", "order.text", "text, not JSON {")
    await put(server, "shop", "plain", 1)
    await put(server, "zeta", "rate", 0.2)
    async with open_console(server, size=(80, 24)) as (app, pilot):
        pane = await open_kv(app, pilot, key="orders")
        namespaces = pane.query_one("#namespaces", OptionList)
        prompts = [str(namespaces.get_option_at_index(i).prompt) for i in range(namespaces.option_count)]
        assert prompts == ["shop 3", "zeta 1"]
        table = pane.query_one("#keys", DataTable)
        assert [str(table.get_row(k)[0]) for k in table.rows] == ["order.text", "orders", "plain"]
        assert str(table.get_row("orders")[2]).startswith("in 59m") and table.get_row("plain")[2] == "never"
        shown = value_text(pane)
        assert '"last": 1042' in shown and '"tags": [' in shown  # indented JSON, one field a line
        for widget in (namespaces, table, pane.query_one("#kv-value")):
            region = widget.region
            assert region.width >= 10 and region.height >= 3 and region.right <= 80 and region.bottom <= 24

        table.move_cursor(row=table.get_row_index("order.text"))
        await wait_for(pilot, lambda: '"text, not JSON {"' in value_text(pane), "a text value shown as JSON text")

        await pilot.press("slash", *"der")
        await wait_for(pilot, lambda: set(table.rows) == {"order.text", "orders"}, "only matching keys")
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 3, "every key again")


async def test_edit_refuses_invalid_json_then_saves_and_keeps_the_expiry(server: Api) -> None:
    await put(server, "shop", "orders", {"count": 3}, ttl=3600)
    async with open_console(server) as (app, pilot):
        await open_kv(app, pilot, key="orders")
        await pilot.press("e")
        editor = await wait_for(pilot, lambda: isinstance(app.screen, JsonEditor) and app.screen, "the editor")
        area = editor.query_one(TextArea)
        assert json.loads(area.text) == {"count": 3}

        area.load_text('{\n  "count": 4,\n  oops\n}')
        await pilot.press("ctrl+s")
        error = text_of(editor.query_one("#json-error", Static))
        assert "line 3, column 3" in error and "nothing saved" in error
        assert app.screen is editor and area.cursor_location == (2, 2)
        assert (await stored(server, "shop", "orders"))["value"] == {"count": 3}  # type: ignore[index]

        area.load_text('{"count": 4, "by": "console"}')
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, JsonEditor), "the editor to close")

        async def saved() -> dict[str, Any] | None:
            entry = await stored(server, "shop", "orders")
            return entry if entry and entry["value"] == {"count": 4, "by": "console"} else None

        entry = await eventually(saved, timeout=15, what="the new value on the server")
        assert entry["expiresAt"] is not None


async def test_ttl_sets_and_clears_the_expiry_and_delete_asks_first(server: Api) -> None:
    await put(server, "shop", "token", {"v": [1, 2]})
    await put(server, "shop", "other", 2)
    async with open_console(server) as (app, pilot):
        pane = await open_kv(app, pilot, key="token")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText), "the ttl prompt")
        await pilot.press("x", "enter")
        assert isinstance(app.screen, AskText)  # refused in place: not a number
        await pilot.press("backspace", *"60", "enter")

        async def expiring() -> dict[str, Any] | None:
            entry = await stored(server, "shop", "token")
            return entry if entry and entry["expiresAt"] else None

        assert (await eventually(expiring, timeout=15, what="an expiry on the server"))["value"] == {"v": [1, 2]}

        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText), "the ttl prompt")
        await pilot.press("enter")

        async def forever() -> dict[str, Any] | None:
            entry = await stored(server, "shop", "token")
            return entry if entry and entry["expiresAt"] is None else None

        assert (await eventually(forever, timeout=15, what="the expiry to be cleared"))["value"] == {"v": [1, 2]}

        await wait_for(pilot, lambda: pane.selected_key() == "token", "the cursor kept on the key")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is pane, "back at the pane")
        assert await stored(server, "shop", "token") is not None

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("y")
        table = pane.query_one("#keys", DataTable)
        await wait_for(pilot, lambda: "token" not in table.rows, "the key to leave the table")
        assert await stored(server, "shop", "token") is None
        assert await stored(server, "shop", "other") is not None

        for role in ("viewer", "executor"):
            app.role = role
            assert not any(pane.check_action(action, ()) for action in ("new", "edit", "ttl", "delete"))
            assert pane.check_action("reload", ()) and pane.check_action("filter", ())
        await pilot.press("d")
        await pilot.pause()
        assert app.screen is pane and await stored(server, "shop", "other") is not None


async def test_new_key_goes_through_the_editor_into_the_namespace_chosen_with_colon(server: Api) -> None:
    async with open_console(server) as (app, pilot):
        await pilot.press("colon", *"kv new", "enter")
        pane = await wait_for(pilot, lambda: isinstance(app.screen, KvPane) and app.screen, "the kv pane")
        await wait_for(pilot, lambda: pane.namespace == "new", "the namespace from the command line")
        assert all(pane.check_action(action, ()) for action in ("new", "edit", "ttl", "delete"))

        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText), "the key prompt")
        await pilot.press("k", "enter")
        editor = await wait_for(pilot, lambda: isinstance(app.screen, JsonEditor) and app.screen, "the editor")
        editor.query_one(TextArea).load_text("[1, null]")
        await pilot.press("ctrl+s")

        async def created() -> dict[str, Any] | None:
            return await stored(server, "new", "k")

        entry = await eventually(created, timeout=15, what="the new key on the server")
        assert entry["value"] == [1, None] and entry["expiresAt"] is None
        table = pane.query_one("#keys", DataTable)
        await wait_for(pilot, lambda: "k" in table.rows, "the new key in the table")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("", (None, None)), ("  ", (None, None)), ("60", (60.0, None)), ("2.5", (2.5, None))],
)
def test_ttl_answers(typed: str, expected: tuple[float | None, str | None]) -> None:
    assert parse_ttl(typed) == expected


@pytest.mark.parametrize("typed", ["soon", "0", "-5", "nan", "inf"])
def test_bad_ttl_answers_say_why(typed: str) -> None:
    seconds, problem = parse_ttl(typed)
    assert seconds is None and problem


def test_names_and_json_are_checked_before_sending() -> None:
    assert check_name("key")("a/b") == "a key cannot contain '/'"
    assert check_name("key")(" ") == "a key needs a name"
    assert check_name("key")("ok") is None
    assert parse_json("null") == (None, None)
    _, problem = parse_json('{"a": 1,}')
    assert problem is not None and (problem.line, problem.column) == (1, 9)
