"""`x`: the execute form checks typed values before sending, shows refusals, and opens the run."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from workflowdev.tui.dialogs.execute_form import ExecuteForm
from workflowdev.tui.flow_inputs import BadValue
from workflowdev.tui.flow_inputs import InputSpec
from workflowdev.tui.flow_inputs import input_specs
from workflowdev.tui.flow_inputs import parse_value
from workflowdev.tui.panes.execution import ExecutionScreen

COUNTED = """\
name: counted
inputs:
  - name: count
    type: integer
    required: true
  - name: loud
    type: boolean
    default: false
tasks:
  - name: say
    type: util.log
    properties:
      message: "{{ inputs.count }}"
"""
PLAIN = "name: plain\ntasks:\n  - name: say\n    type: util.log\n    properties:\n      message: hi\n"


async def executions_of(server: Api, flow_id: str) -> list[dict[str, Any]]:
    return (await server.get(f"/api/v1/executions?flowId={flow_id}")).body


def error_text(form: ExecuteForm, name: str) -> str:
    return str(form.query_one(f"#error-{name}", Static).render())


async def open_form(app: Any, pilot: Any, flow_id: str) -> ExecuteForm:
    await wait_for(pilot, lambda: flow_id in app.screen.query_one("#flows-table").rows, "the flow's row")
    await pilot.press("x")
    return await wait_for(pilot, lambda: isinstance(app.screen, ExecuteForm) and app.screen, "the execute form")


async def test_a_bad_integer_is_refused_in_place_and_a_good_one_runs(server: Api) -> None:
    flow_id = await save_flow(server, COUNTED)
    async with open_console(server, size=(80, 24)) as (app, pilot):
        form = await open_form(app, pilot, flow_id)
        await pilot.press(*"abc", "enter")
        await wait_for(pilot, lambda: "expected an integer" in error_text(form, "count"), "the field's complaint")
        assert await executions_of(server, flow_id) == []  # refused before sending: nothing to wait for
        assert app.screen is form
        form.query_one("#input-count", Input).value = "3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionScreen), "the new execution to open")
        [execution] = await executions_of(server, flow_id)
        assert execution["inputs"] == {"count": 3, "loud": False}


async def test_a_required_input_left_empty_sends_nothing(server: Api) -> None:
    flow_id = await save_flow(server, COUNTED)
    async with open_console(server) as (app, pilot):
        form = await open_form(app, pilot, flow_id)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "required" in error_text(form, "count"), "the required marker's complaint")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ExecuteForm), "escape to close the form")
        assert await executions_of(server, flow_id) == []


async def test_the_servers_refusal_is_shown_in_the_form(server: Api) -> None:
    flow_id = await save_flow(server, COUNTED)
    async with open_console(server) as (app, pilot):
        form = await open_form(app, pilot, flow_id)
        # the flow changes behind the form's back: count is now a string
        changed = COUNTED.replace("type: integer", "type: string")
        assert (await server.put(f"/api/v1/flows/{flow_id}", json={"yamlContent": changed})).status == 200
        form.query_one("#input-count", Input).value = "7"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "expected a string" in error_text(form, "count"), "the server's complaint")
        assert app.screen is form
        assert await executions_of(server, flow_id) == []


async def test_a_flow_without_inputs_runs_with_x_then_enter(server: Api) -> None:
    flow_id = await save_flow(server, PLAIN)
    async with open_console(server) as (app, pilot):
        await open_form(app, pilot, flow_id)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionScreen), "the new execution to open")
        assert len(await executions_of(server, flow_id)) == 1


def test_inputs_are_read_from_the_yaml() -> None:
    count, loud = input_specs(COUNTED)
    assert (count.name, count.type, count.must_be_given) == ("count", "integer", True)
    assert (loud.type, loud.default, loud.must_be_given, loud.initial_text()) == ("boolean", False, False, "False")
    assert input_specs(PLAIN) == [] and input_specs(": not yaml [") == []


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("integer", " 42 ", 42),
        ("integer", "-3", -3),
        ("number", "2.5", 2.5),
        ("number", "7", 7),
        ("string", " as typed ", " as typed "),
        ("object", '{"a": [1]}', {"a": [1]}),
        ("array", "[1, 2]", [1, 2]),
    ],
)
def test_typed_text_becomes_a_value_of_the_inputs_type(kind: str, text: str, value: Any) -> None:
    assert parse_value(InputSpec("x", kind), text) == value


@pytest.mark.parametrize(
    ("kind", "text"),
    [("integer", "abc"), ("integer", "1.5"), ("number", "nan"), ("number", "x"), ("object", "[1]"), ("array", "{")],
)
def test_text_of_the_wrong_type_is_refused(kind: str, text: str) -> None:
    with pytest.raises(BadValue):
        parse_value(InputSpec("x", kind), text)
