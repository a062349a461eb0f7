"""`e` and `n`: write a flow in the operator's own editor, validated on return, saved only when valid.

The console hands the terminal to `$VISUAL` / `$EDITOR` (default `vi`) on a temporary file and
waits for it without blocking the event loop: when the server is embedded in the same process,
its executions and schedules keep running while the operator types. Where the terminal cannot be
handed over (headless tests, Textual web) the editor still runs, just without suspending the app.

Nothing is saved until the server's own validation accepts the text; an invalid edit shows its
errors at their lines and can be edited again from the operator's text, never from scratch.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from textual.app import App
from textual.app import SuspendNotSupported

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.flow_errors import FlowErrors
from workflowdev.tui.session import Session

if TYPE_CHECKING:
    from workflowdev.tui.panes.base import Pane

Json = dict[str, Any]
DEFAULT_EDITOR = "vi"
NEW_FLOW_TEMPLATE = """\
# A new flow: change the name, write its tasks, save and quit. Leave it unchanged to cancel.
name: my-flow
namespace: default
description: What this flow is for
inputs:
  - name: who
    type: string
    default: world
tasks:
  - name: greet
    type: util.log
    properties:
      message: "Hello, {{ inputs.who }}!"
"""
REFUSALS_SHOWN_AT_LINES = (400, 409)
"""Statuses whose refusal is about the text itself (invalid, or a name already taken)."""


class EditorFailed(Exception):
    """The editor could not be started, or exited reporting failure: the edit is abandoned."""


def editor_command(environ: Mapping[str, str] = os.environ) -> list[str]:
    """`$VISUAL`, else `$EDITOR`, else vi, split as a shell would (`code --wait` works)."""
    return shlex.split(environ.get("VISUAL") or environ.get("EDITOR") or DEFAULT_EDITOR)


async def run_editor(app: App[Any], text: str, file_name: str, environ: Mapping[str, str] = os.environ) -> str:
    """Let the operator edit `text` in their editor; returns the text as they saved it."""
    command = editor_command(environ)
    with tempfile.TemporaryDirectory(prefix="workflowdev-") as folder:
        path = Path(folder) / file_name
        path.write_text(text, encoding="utf-8")
        with ExitStack() as terminal:
            try:
                terminal.enter_context(app.suspend())
            except SuspendNotSupported:
                pass  # headless: nothing to hand over, the editor runs all the same
            try:
                process = await asyncio.create_subprocess_exec(*command, str(path))
            except OSError as exc:
                raise EditorFailed(f"cannot run {shlex.join(command)!r}: {exc.strerror or exc}; set $EDITOR") from exc
            code = await process.wait()
        if code != 0:
            raise EditorFailed(f"{command[0]} exited with status {code}; nothing saved")
        return path.read_text(encoding="utf-8")


async def edit_flow(pane: Pane, flow: Json | None, environ: Mapping[str, str] = os.environ) -> Json | None:
    """Edit `flow` (None: write a new one) until it is saved or given up; returns the saved flow.

    Runs in a worker of `pane`: it waits on the editor and on the error screen. Handing the
    terminal to the editor is the App's to do (only it can suspend), the rest goes through the
    pane's session.
    """
    session = pane.session
    original = flow["yamlContent"] if flow is not None else NEW_FLOW_TEMPLATE
    title = f"{flow['namespace']}/{flow['name']}" if flow is not None else "new flow"
    file_name = f"{flow['name'] if flow is not None else 'new-flow'}.yaml"
    text = original
    while True:
        try:
            text = await run_editor(pane.app, text, file_name, environ)
        except EditorFailed as exc:
            pane.notify(str(exc), title="Editor", severity="error")
            return None
        if text == original:
            pane.notify("No change; nothing saved.", title=title)
            return None
        try:
            problems = await _problems(session, text)
            if not problems:
                return await _save(pane, flow, text)
        except ApiError as exc:  # own handling: a refusal of the text is shown at its lines
            if exc.status not in REFUSALS_SHOWN_AT_LINES:
                session.report(exc)
                return None
            problems = exc.details or [{"message": exc.message}]
        if not await session.ask(FlowErrors(title, text, problems)):
            pane.notify("Edit discarded; nothing saved.", title=title)
            return None


async def _problems(session: Session, text: str) -> list[Json]:
    report = await session.client.validate(text)
    return [] if report.get("valid") else list(report.get("errors") or [{"message": "invalid flow"}])


async def _save(pane: Pane, flow: Json | None, text: str) -> Json:
    client = pane.session.client
    if flow is None:
        saved = await client.create_flow(text)
        pane.notify(f"Created {saved['namespace']}/{saved['name']}.", title="Saved")
    else:
        saved = await client.update_flow(flow["id"], yaml=text)
        pane.notify(f"Saved {saved['namespace']}/{saved['name']} as revision {saved['revision']}.", title="Saved")
    return saved
