"""The console's pictures, as key presses on the recorded demo data set.

The same scenarios make the README's screenshots (`screenshots/make.py`) and the snapshot tests
(`tests/tui/test_snapshots.py`), so a picture in the README is always one the tests have seen.
Each scenario only uses keys an operator would press; before the picture is taken the console
must have finished every request it started (live streams excepted), so nothing is half-drawn.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets import TextArea

from screenshots.record import FIXED_NOW
from screenshots.replay import load_dataset
from workflowdev.tui.app import WorkflowdevApp

LONG_LIVED_GROUPS = frozenset({"events", "execution-logs"})
"""Workers that live as long as their view (the event stream, a live execution's log): never awaited."""
SETTLE_DEADLINE = 20.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    keys: tuple[tuple[str, ...], ...] = ()
    """Steps, each a run of keys pressed together; the console settles after each step."""
    steps: Callable[[Pilot[None]], Awaitable[None]] | None = field(default=None, compare=False)


def _first(kind: str, **match: str) -> str:
    data = load_dataset()
    for item in data[kind]:
        if all(item.get(k) == v for k, v in match.items()):
            return str(item["id"])
    raise LookupError(f"no {kind} matching {match} in the data set")


def _go(pane: str) -> tuple[str, ...]:
    """One step: typing `:pane⏎` (the prompt keeps fast typing, so no settling inside it)."""
    return ("colon", *pane, "enter")


def _open_execution(**match: str) -> tuple[str, ...]:
    return _go("x " + _first("executions", **match)[:8])


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("flows", "Flows: every flow with its last run and triggers"),
    Scenario("flow", "A flow: its YAML, revisions and triggers", (("enter",),)),
    Scenario("executions", "Executions, live", (_go("executions"),)),
    Scenario(
        "execution", "An execution: the task tree, outputs and the log tail", (_open_execution(flowName="fan-out"),)
    ),
    Scenario(
        "failed", "A failed execution, opened at its first failure", (_open_execution(flowName="flaky"), ("!",))
    ),
    Scenario(
        "paused",
        "A paused execution: the cursor on its gate, the tasks still to run shown dim",
        (_open_execution(status="PAUSED"),),
    ),
    Scenario("approvals", "Approvals waiting for a decision", (_go("approvals"),)),
    Scenario("gate", "Deciding a gate: what ran before it and what runs after", (("ctrl+g",),)),
    Scenario("kv", "The key-value browser", (_go("kv orders"),)),
    Scenario("triggers", "Triggers: schedules and webhooks", (_go("triggers"),)),
    Scenario("credentials", "Credentials: names only", (_go("credentials"),)),
    Scenario("plugins", "The plugin catalogue", (_go("plugins http"),)),
    Scenario("audit", "The audit log", (_go("audit"),)),
    Scenario("nodes", "Nodes sharing the database", (_go("nodes"),)),
    Scenario("help", "? lists every key of the pane", (_go("executions"), ("question_mark",))),
)


def demo_app(server_url: str, theme: str = "textual-dark") -> WorkflowdevApp:
    """The console as the pictures show it: fixed clock, fixed theme."""
    return WorkflowdevApp(server_url, clock=lambda: FIXED_NOW, theme=theme, server_label="127.0.0.1:8080")


async def settle(pilot: Pilot[None]) -> None:
    """Until the console is connected and no request it started is still on its way."""
    app: WorkflowdevApp = pilot.app  # type: ignore[assignment]
    end = time.monotonic() + SETTLE_DEADLINE
    def busy() -> list[str] | None:
        """What is still at work, or None when the console is connected and quiet."""
        running = [w.name for w in app.workers if w.is_running and w.group not in LONG_LIVED_GROUPS]
        return running if running or not app.connected or app.role is None else None

    while True:
        if busy() is None:
            # Quiet now; but a message in flight (a resync after the session began) may be about to
            # start a load: let every pending message run, and settle only if it is still quiet.
            await pilot.pause()
            if busy() is None:
                break
        if time.monotonic() > end:
            raise TimeoutError(f"the console did not settle: {busy()}")
        await pilot.pause(0.05)
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    for area in app.screen.query(TextArea):
        area.cursor_blink = False
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def run_before(scenario: Scenario) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def play(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for step in scenario.keys:
            await pilot.press(*step)
            await settle(pilot)
        if scenario.steps is not None:
            await scenario.steps(pilot)
            await settle(pilot)

    return play
