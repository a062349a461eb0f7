"""The console's frame: connecting, the header's live figures, `:` navigation, help, demo flows."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from textual.command import CommandList
from textual.command import CommandPalette
from textual.widgets import DataTable
from textual.widgets import Footer
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.ports import free_port
from tests.tui.conftest import USERS_PASSWORD
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from workflowdev.cli.console import wants_mouse
from workflowdev.tui.app import WorkflowdevApp
from workflowdev.tui.app import choose_theme
from workflowdev.tui.client import Disconnected
from workflowdev.tui.demo import demo_flows
from workflowdev.tui.dialogs.command_line import Command
from workflowdev.tui.dialogs.command_line import UnknownCommand
from workflowdev.tui.dialogs.command_line import parse_command
from workflowdev.tui.dialogs.help import HelpScreen
from workflowdev.tui.dialogs.login import LoginScreen
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.panes.flow_detail import FlowScreen
from workflowdev.tui.widgets.offline_banner import OfflineBanner
from workflowdev.tui.widgets.status_header import StatusHeader


async def test_connects_and_names_the_user(server: Api) -> None:
    async with open_console(server) as (app, _pilot):
        assert app.role == "admin"
        assert "anonymous" in app.identity or "admin" in app.identity
        assert app.current_mode == "flows"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (":flows", Command("flows")),
        ("ex failed", Command("executions", "failed")),
        (":kv orders", Command("kv", "orders")),
        (":x 1f0c", Command("execution", "1f0c")),
        ("q", Command("quit")),
        ("gates", Command("approvals")),
    ],
)
def test_command_line_grammar(typed: str, expected: Command) -> None:
    assert parse_command(typed) == expected


@pytest.mark.parametrize("typed", ["", ":", "bogus", ":x"])
def test_command_line_refuses_what_it_cannot_do(typed: str) -> None:
    with pytest.raises(UnknownCommand):
        parse_command(typed)


async def test_colon_goes_to_a_pane(server: Api) -> None:
    async with open_console(server) as (app, pilot):
        await pilot.press("colon", *"kv", "enter")
        await wait_for(pilot, lambda: app.current_mode == "kv", "the kv pane")
        assert isinstance(app.screen, Pane)
        assert app.screen.PANE_TITLE == "Key-value"


async def test_question_mark_lists_the_keys_with_their_ids(server: Api) -> None:
    async with open_console(server) as (app, pilot):
        await pilot.press("question_mark")
        help_screen = await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen, "help")
        ids = {item.binding_id for item in help_screen.keys}
        assert {"app.command_line", "app.oldest_gate", "app.quit"} <= ids


FIXED_START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PANES = ("flows", "executions", "approvals", "kv", "triggers", "credentials", "plugins", "audit", "nodes")


async def test_help_names_each_key_once_and_end_reaches_the_last(server: Api) -> None:
    async with open_console(server, size=(80, 24)) as (app, pilot):
        for pane in PANES:
            await pilot.press("colon", *pane, "enter")
            await wait_for(pilot, lambda: app.current_mode == pane, f"the {pane} pane")  # noqa: B023
            await pilot.press("question_mark")
            shown = await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen, "help")
            for item in shown.keys:
                keys = item.keys.split(", ")
                assert len(keys) == len(set(keys)), f"{pane}: {item}"
            table = shown.query_one(DataTable)
            await pilot.press("end")
            assert table.cursor_row == table.row_count - 1
            await pilot.press("home")
            assert table.cursor_row == 0
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "help to close")


async def test_keymap_entries_that_do_nothing_or_hide_a_key_are_named_at_start(server: Api) -> None:
    keymap = {"flows.exec": "e", "app.command_line": "x", "flows.reload": "f5"}
    async with open_console(server, keymap=keymap) as (app, pilot):
        warnings = [str(n.message) for n in app._notifications if n.title == "Keymap"]
    assert any("flows.exec = 'e' does nothing" in w for w in warnings), warnings
    assert any("app.command_line = 'x' takes x from flows.execute (Execute)" in w for w in warnings), warnings
    assert not any("flows.reload" in w for w in warnings), warnings  # a free key: nothing to say


async def test_keymap_remaps_a_binding(server: Api) -> None:
    async with open_console(server, keymap={"app.command_line": "o"}) as (app, pilot):
        await pilot.press("o", *"audit", "enter")
        await wait_for(pilot, lambda: app.current_mode == "audit", "the audit pane through the remapped key")


async def test_demo_flows_load_on_request(server: Api) -> None:
    async with open_console(server, load_demo=True) as (app, pilot):
        await wait_for(pilot, lambda: any("Loaded:" in str(n.message) for n in app._notifications), "demo loaded")
    names = {flow["name"] for flow in (await server.get("/api/v1/flows")).body}
    assert {"hello", "release", "fan-out", "flaky"} <= names


async def test_demo_flows_are_offered_only_on_an_empty_server(server: Api) -> None:
    await server.post("/api/v1/flows", json={"yamlContent": "name: mine\ntasks:\n  - {name: a, type: util.noop}\n"})
    async with open_console(server, offer_demo=True) as (app, pilot):
        session = [w for w in app.workers if w.group == "session"]
        await wait_for(pilot, lambda: all(w.is_finished for w in session), "the session to decide on the demo")
        assert not isinstance(app.screen, Confirm)
    assert [flow["name"] for flow in (await server.get("/api/v1/flows")).body] == ["mine"]


async def test_demo_offer_declined_loads_nothing(server: Api) -> None:
    async with open_console(server, offer_demo=True) as (app, pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the demo offer")
        assert f"({', '.join(demo_flows())})" in app.screen.question  # the flows it would load, by name
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, Confirm), "the offer to close")
    assert (await server.get("/api/v1/flows")).body == []


async def test_a_secured_server_asks_to_log_in_and_refuses_a_wrong_password(secured_server: Api) -> None:
    app = WorkflowdevApp(secured_server.base_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        await pilot.click("#username")
        await pilot.press(*"viewer", "enter", *"wrong password", "enter")
        error = app.screen.query_one(".error", Static)
        await wait_for(pilot, lambda: "wrong username or password" in str(error.content), "the refusal")
        assert app.role is None
        await pilot.press(*USERS_PASSWORD, "enter")
        await wait_for(pilot, lambda: app.role == "viewer" and app.connected, "the viewer session")
        assert app.identity.startswith("viewer (viewer)")


async def test_a_token_skips_the_login_screen(secured_server: Api) -> None:
    login = await secured_server.post("/auth/login", json={"username": "executor", "password": USERS_PASSWORD})
    async with open_console(secured_server, token=login.body["token"]) as (app, _pilot):
        assert app.role == "executor"
        assert not isinstance(app.screen, LoginScreen)


async def test_the_command_palette_finds_a_flow_by_name_and_opens_it(server: Api) -> None:
    await server.post("/api/v1/flows", json={"yamlContent": "name: nightly-report\ntasks:\n  - {name: a, type: util.noop}\n"})
    async with open_console(server) as (app, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"nightly")
        await wait_for(pilot, lambda: app.screen.query_one(CommandList).option_count > 0, "a match")
        await pilot.press("down", "enter")
        flow = await wait_for(pilot, lambda: isinstance(app.screen, FlowScreen) and app.screen, "the flow to open")
        assert flow.flow_id == (await server.get("/api/v1/flows")).body[0]["id"]


SSH = {"SSH_CONNECTION": "10.0.0.1 5 10.0.0.2 22"}


@pytest.mark.parametrize(
    ("environ", "flag", "setting", "expected"),
    [
        ({}, None, "auto", True),
        (SSH, None, "auto", False),
        ({"SSH_TTY": "/dev/pts/1"}, True, "auto", True),
        (SSH, None, "on", True),
        ({}, None, "off", False),
        (SSH, False, "on", False),
    ],
)
def test_the_mouse_is_left_to_the_terminal_over_ssh_unless_the_setting_or_flag_says(
    environ: dict[str, str], flag: bool | None, setting: str, expected: bool
) -> None:
    assert wants_mouse(flag, setting, environ) is expected


@pytest.mark.parametrize(
    ("environ", "theme"),
    [({"TERM": "xterm"}, "ansi-dark"), ({"TERM": "xterm-256color"}, "textual-dark"), ({"COLORTERM": "truecolor"}, "textual-dark")],
)
def test_sixteen_colour_terminals_get_their_own_palette(environ: dict[str, str], theme: str) -> None:
    assert choose_theme(environ) == theme


async def test_offline_is_one_banner_and_the_clock_stops_where_the_link_went() -> None:
    ticks = iter(FIXED_START + timedelta(seconds=s) for s in range(10_000))
    app = WorkflowdevApp(f"http://127.0.0.1:{free_port()}", clock=lambda: next(ticks))
    attempts: list[None] = []
    ask = app.client.me

    async def counted_me() -> Any:
        attempts.append(None)
        return await ask()

    app.client.me = counted_me  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        banner = await wait_for(
            pilot, lambda: app.screen.query(OfflineBanner).filter(".-offline").first(None), "the offline banner"
        )
        assert "OFFLINE since" in str(banner.render())
        stopped = app.clock()
        assert app.clock() == app.clock() == stopped == app.offline_since  # no timer moves while offline
        await wait_for(pilot, lambda: len(attempts) >= 3, "two retries")
        assert not list(app._notifications)  # the banner, not a toast per retry or per failed read


async def test_the_header_names_who_and_where_at_80_columns(server: Api) -> None:
    async with open_console(server, size=(80, 24)) as (app, pilot):
        for pane in PANES:
            await pilot.press("colon", *pane, "enter")
            await wait_for(pilot, lambda: app.current_mode == pane, f"the {pane} pane")  # noqa: B023
            header = str(app.screen.query_one(StatusHeader).render())
            assert app.identity and app.identity in header, (pane, header)
            assert "● live" in header or header.rstrip().endswith("●"), header


async def test_a_viewer_sees_read_only_in_the_header(secured_server: Api) -> None:
    login = await secured_server.post("/auth/login", json={"username": "viewer", "password": USERS_PASSWORD})
    async with open_console(secured_server, size=(80, 24), token=login.body["token"]) as (app, _pilot):
        header = str(app.screen.query_one(StatusHeader).render())
    assert "viewer (viewer) @" in header and "read-only" in header, header


async def test_every_footer_keeps_keys_and_gate_on_screen_at_80_columns(server: Api) -> None:
    """At 80 columns the footer cut `? Keys` and `^g Gate` off the executions and execution panes."""
    execution_id = await start(server, await save_flow(server, "name: one\ntasks:\n  - {name: a, type: util.noop}\n"))
    await wait_status(server, execution_id)
    async with open_console(server, size=(80, 24)) as (app, pilot):
        for pane in (*PANES, "execution"):
            if pane == "execution":
                app.open_execution(execution_id)
            else:
                await pilot.press("colon", *pane, "enter")
            await wait_for(pilot, lambda: app.screen.query(Footer) and app.screen.query_one(Footer).children, pane)
            keys = {getattr(k, "action", None): k for k in app.screen.query_one(Footer).children}
            for action in ("help", "oldest_gate"):
                assert action in keys and keys[action].region.right <= 80, (pane, action, keys.get(action))


@pytest.mark.parametrize("pane", ["flows", "executions"])
async def test_lists_answer_j_k_g_G_and_ctrl_d_u(server: Api, pane: str) -> None:
    for i in range(30):
        flow_id = await save_flow(server, f"name: listed-{i:02d}\ntasks:\n  - {{name: a, type: util.noop}}\n")
        if pane == "executions":
            await start(server, flow_id)
    async with open_console(server, size=(80, 24)) as (app, pilot):
        await pilot.press("colon", *pane, "enter")
        table = await wait_for(pilot, lambda: app.current_mode == pane and app.screen.query_one(DataTable), pane)
        await wait_for(pilot, lambda: table.row_count == 30, "thirty rows")
        table.focus()
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 29
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("ctrl+d")
        assert table.cursor_row > 5  # a page
        await pilot.press("ctrl+u")
        assert table.cursor_row == 0


async def test_one_failed_request_on_a_live_console_is_told_and_leaves_it_live(server: Api) -> None:
    async with open_console(server) as (app, pilot):
        app.report(Disconnected(server.base_url, TimeoutError("read timed out")))
        await pilot.pause()
        assert app.connected and app.offline_since is None  # the event stream says when the link is down
        assert not app.screen.query(OfflineBanner).filter(".-offline")
        assert [n.title for n in app._notifications] == ["Error"]
