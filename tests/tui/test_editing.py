"""`e` and `n`: the $EDITOR round trip saves valid edits as revisions and nothing else.

The editor is a small shell script written to tmp_path: the console runs whatever $EDITOR names.
Under the headless test driver the app cannot hand the terminal over, so the editor runs without
suspending the app (see workflowdev/tui/editing.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.test_flows_pane import flow_yaml
from tests.tui.test_flows_pane import table_of
from workflowdev.tui.dialogs.flow_errors import FlowErrors
from workflowdev.tui.editing import editor_command


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Makes $EDITOR a script running `body` (a shell snippet; the file is "$1")."""

    def use(body: str) -> None:
        script = tmp_path / "editor.sh"
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
        monkeypatch.delenv("VISUAL", raising=False)
        monkeypatch.setenv("EDITOR", str(script))

    return use


async def revision_of(server: Api, flow_id: str) -> tuple[int, str]:
    flow = (await server.get(f"/api/v1/flows/{flow_id}")).body
    return flow["revision"], flow["yamlContent"]


async def edit_selected(app: Any, pilot: Any, flow_id: str) -> None:
    await wait_for(pilot, lambda: flow_id in table_of(app).rows, "the flow's row")
    await pilot.press("e")


async def test_a_valid_edit_is_saved_as_a_new_revision(server: Api, editor: Any) -> None:
    editor("sed -i 's/message: hi/message: edited/' \"$1\"")
    flow_id = await save_flow(server, flow_yaml("tuned"))
    async with open_console(server) as (app, pilot):
        await edit_selected(app, pilot, flow_id)
        revision, yaml = await eventually(lambda: _saved(server, flow_id, 2), what="revision 2")
        assert "message: edited" in yaml
        await wait_for(pilot, lambda: str(table_of(app).get_cell(flow_id, "rev")) == "2", "the row's new revision")


async def _saved(server: Api, flow_id: str, revision: int) -> tuple[int, str] | None:
    current = await revision_of(server, flow_id)
    return current if current[0] == revision else None


async def test_an_invalid_edit_shows_its_line_and_saves_nothing(server: Api, editor: Any) -> None:
    editor("sed -i 's/util\\.log/no.such/' \"$1\"")
    flow_id = await save_flow(server, flow_yaml("fragile"))
    async with open_console(server) as (app, pilot):
        await edit_selected(app, pilot, flow_id)
        errors = await wait_for(pilot, lambda: isinstance(app.screen, FlowErrors) and app.screen, "the errors")
        listed = str(errors.query_one("#problems Static", Static).render())
        assert "line 5" in listed and "no.such" in listed
        assert "✖5 │" in str(errors.query_one("#yaml", Static).render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, FlowErrors), "escape to discard")
        assert await revision_of(server, flow_id) == (1, flow_yaml("fragile"))


async def test_editing_again_starts_from_the_operators_text(server: Api, editor: Any) -> None:
    editor(
        'if grep -q no.such "$1"; then sed -i \'s/no\\.such/util.log/; s/message: hi/message: fixed/\' "$1";'
        " else sed -i 's/util\\.log/no.such/' \"$1\"; fi"
    )
    flow_id = await save_flow(server, flow_yaml("second-try"))
    async with open_console(server) as (app, pilot):
        await edit_selected(app, pilot, flow_id)
        await wait_for(pilot, lambda: isinstance(app.screen, FlowErrors), "the errors")
        await pilot.press("e")
        _, yaml = await eventually(lambda: _saved(server, flow_id, 2), what="the fixed edit to be saved")
        assert "type: util.log" in yaml and "message: fixed" in yaml


async def test_an_unchanged_file_saves_nothing(server: Api, editor: Any) -> None:
    editor("exit 0")
    flow_id = await save_flow(server, flow_yaml("steady"))
    async with open_console(server) as (app, pilot):
        await edit_selected(app, pilot, flow_id)
        await wait_for(pilot, lambda: any("No change" in n.message for n in app._notifications), "'no change'")
        assert (await revision_of(server, flow_id))[0] == 1


async def test_n_writes_a_new_flow_from_the_template(server: Api, editor: Any) -> None:
    editor("sed -i 's/^name: my-flow/name: fresh/' \"$1\"")
    async with open_console(server) as (app, pilot):
        await pilot.press("n")

        async def created() -> list[dict[str, Any]]:
            return [f for f in (await server.get("/api/v1/flows")).body if f["name"] == "fresh"]

        [flow] = await eventually(created, what="the new flow")
        await wait_for(pilot, lambda: flow["id"] in table_of(app).rows, "the new flow's row")


def test_the_editor_command_follows_visual_then_editor_then_vi() -> None:
    assert editor_command({"VISUAL": "code --wait", "EDITOR": "nano"}) == ["code", "--wait"]
    assert editor_command({"EDITOR": "emacs -nw"}) == ["emacs", "-nw"]
    assert editor_command({}) == ["vi"]
