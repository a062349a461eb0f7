"""`workflowdev run FILE`: one execution of a flow file, here and now, drawn as a live tree.

It runs the real engine on a throwaway SQLite database, so a flow behaves exactly as it would on
a server, and follows it through the engine's event bus: task states and durations in a tree,
log lines beneath. A gate asks at the terminal when there is one.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.console import Group
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from workflowdev.engine.errors import DomainError
from workflowdev.engine.events import APPROVAL_CREATED
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import LOG
from workflowdev.engine.events import TASK_UPDATED
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.flows import FlowService
from workflowdev.plugins import build_registry
from workflowdev.store.database import Database

STYLES = {
    TaskStatus.QUEUED: ("·", "dim"),
    TaskStatus.RUNNING: ("▶", "cyan"),
    TaskStatus.WAITING: ("⏸", "yellow"),
    ExecutionStatus.PAUSED: ("⏸", "yellow"),
    TaskStatus.SUCCESS: ("✔", "green"),
    TaskStatus.FAILED: ("✘", "red"),
    TaskStatus.SKIPPED: ("↷", "dim"),
    TaskStatus.CANCELLED: ("⊘", "magenta"),
    TaskStatus.TIMED_OUT: ("⧗", "red"),
}
"""By status value: a task's and an execution's statuses of one name look alike."""
LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}
LOG_TAIL = 12
LOCAL = Actor("local")


class RunError(Exception):
    """The flow could not be started; the message says why."""


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; a value that reads as JSON (42, true, [1]) keeps its type, else it is text."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise RunError(f"--input takes NAME=VALUE, got {pair!r}")
        try:
            inputs[key] = json.loads(raw)
        except json.JSONDecodeError:
            inputs[key] = raw
    return inputs


@dataclass
class View:
    """What the screen shows, rebuilt from events."""

    flow_name: str
    status: str = ExecutionStatus.QUEUED
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def apply(self, kind: str, data: dict[str, Any]) -> None:
        if kind == TASK_UPDATED:
            self.tasks[data["id"]] = data
        elif kind == LOG:
            self.logs.append(data)
        elif kind == EXECUTION_UPDATED:
            self.status = data.get("status", self.status)
            self.error = data.get("error") or self.error

    def render(self, tail: int | None = LOG_TAIL) -> Group:
        glyph, style = STYLES.get(self.status, ("?", ""))
        root = Tree(Text.assemble((f"{glyph} ", style), (self.flow_name, "bold"), f"  {self.status}"))
        children: dict[str | None, list[dict[str, Any]]] = {}
        for task in self.tasks.values():
            children.setdefault(task.get("parentId"), []).append(task)

        def add(node: Tree, parent: str | None) -> None:
            for task in children.get(parent, []):
                g, s = STYLES.get(task["status"], ("?", ""))
                label = Text.assemble((f"{g} ", s), task["taskName"])
                if task.get("iteration") is not None:
                    label.append(f" [{task['iteration']}]", "dim")
                label.append(f"  {task['taskType']}", "dim")
                if task.get("durationMs") is not None:
                    label.append(f"  {task['durationMs']} ms", "dim")
                if task.get("attempt", 1) > 1:
                    label.append(f"  attempt {task['attempt']}", "yellow")
                if task.get("error"):
                    label.append(f"  {task['error']}", "red")
                add(node.add(label), task["id"])

        add(root, None)
        lines = self.logs if tail is None else self.logs[-tail:]
        log_text = Text()
        for line in lines:
            log_text.append(f"{line['ts'][11:23]} ", "dim")
            log_text.append(f"{line['level']:<7} ", LEVEL_STYLES.get(line["level"], ""))
            if line.get("taskName"):
                log_text.append(f"{line['taskName']}: ", "bold")
            log_text.append(line["message"] + "\n")
        parts: list[Any] = [root]
        if lines:
            parts += [Text("logs", style="bold underline"), log_text]
        if self.error and self.status in ENDED:
            parts.append(Text(f"error: {self.error}", style="red"))
        return Group(*parts)


async def run_file(path: Path, inputs: dict[str, Any], console: Console) -> int:
    try:
        yaml_content = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="workflowdev-run-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'run.db'}")
        await db.migrate()
        registry = build_registry()
        engine = Engine(db, registry, EngineSettings(node_id="local-run", workdir_root=Path(tmp) / "work"))
        await engine.start()
        try:
            return await _run(engine, FlowService(db, registry), yaml_content, inputs, console)
        finally:
            await engine.stop()
            await db.close()


async def _run(engine: Engine, flows: FlowService, yaml_content: str, inputs: dict[str, Any], console: Console) -> int:
    try:
        flow = await flows.create(yaml_content=yaml_content, actor=LOCAL)
        subscription = engine.bus.subscribe(types=[TASK_UPDATED, LOG, EXECUTION_UPDATED, APPROVAL_CREATED])
        started = await engine.executions.start(flow.id, actor=LOCAL, inputs=inputs, trigger={"type": "cli"})
    except DomainError as exc:
        details = "".join(
            f"\n  line {d['line']}, column {d['column']}: {d['message']}" if "line" in d else f"\n  {d.get('path')}: {d.get('message')}"
            for d in exc.details
        )
        raise RunError(exc.message + details) from None
    execution_id = started["executionId"]
    view = View(flow.name)
    with Live(view.render(), console=console, auto_refresh=False, transient=True) as live:
        while view.status not in ENDED:
            event = await subscription.get(timeout=0.5)
            if event is None:
                continue
            if event.execution_id != execution_id:
                continue
            if event.type == APPROVAL_CREATED:
                live.stop()
                await _ask(engine, event.data, console)
                live.start()
                continue
            view.apply(event.type, event.data)
            live.update(view.render(), refresh=True)
    subscription.close()
    final = await engine.executions.get_row(execution_id)
    view.status, view.error = final.status, final.error
    console.print(view.render(tail=None))
    return 0 if final.status == ExecutionStatus.SUCCESS else 1


async def _ask(engine: Engine, approval: dict[str, Any], console: Console) -> None:
    console.print(Text.assemble(("⏸ approval needed ", "yellow bold"), approval["taskName"], ": ", approval.get("message") or ""))
    if not sys.stdin.isatty():
        console.print("no terminal to ask: rejecting", style="red")
        await engine.approvals.decide(approval["id"], approve=False, actor=LOCAL, comment="no terminal to ask")
        return
    answer = await asyncio.to_thread(console.input, "approve? [y/N] ")
    await engine.approvals.decide(approval["id"], approve=answer.strip().lower() in ("y", "yes"), actor=LOCAL, comment=None)
