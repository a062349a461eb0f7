"""util.*: what flows rely on — the logged text, echoed values, cancellable sleeps, assertions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import PluginSettings
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins.util import Assert
from workflowdev.plugins.util import Echo
from workflowdev.plugins.util import Log
from workflowdev.plugins.util import Noop
from workflowdev.plugins.util import Sleep


@dataclass
class RecordingLog:
    """A TaskLogger that keeps (level, message) pairs for the test to read."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def debug(self, message: str) -> None:
        self.lines.append(("debug", message))

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))

    def error(self, message: str) -> None:
        self.lines.append(("error", message))


@dataclass
class FakeContext:
    """Just enough of a TaskContext for plugins that only log."""

    log: RecordingLog = field(default_factory=RecordingLog)
    kv: Any = None  # util plugins never touch the key-value store
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    execution_id: str = "00000000-0000-0000-0000-000000000001"
    flow_name: str = "test-flow"
    namespace: str = "default"
    task_name: str = "task"
    attempt: int = 1
    iteration: int | None = None
    idempotency_key: str = "5b8e6a4e-4f8e-5d39-9a55-2a1f3c7d9e01"
    workdir: Path = field(default_factory=Path.cwd)
    settings: PluginSettings = field(default_factory=PluginSettings)
    resources: Any = None  # util plugins keep nothing per execution


@pytest.fixture
def ctx() -> FakeContext:
    context = FakeContext()
    assert isinstance(context, TaskContext)
    return context


async def test_log_writes_a_string_at_info_by_default(ctx: FakeContext) -> None:
    outputs = await Log().run(ctx, {"message": "Hello world"})

    assert outputs == {"message": "Hello world"}
    assert ctx.log.lines == [("info", "Hello world")]


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ({"stage": "import", "skipped": [1, 2]}, '{"stage":"import","skipped":[1,2]}'),
        ([1, "two", None], '[1,"two",null]'),
        (3.5, "3.5"),
        (True, "true"),
        (None, "null"),
        ({"name": "Zoë"}, '{"name":"Zoë"}'),
    ],
)
async def test_log_writes_non_strings_as_compact_json(
    ctx: FakeContext, value: JSON, logged: str
) -> None:
    outputs = await Log().run(ctx, {"message": value})

    assert outputs == {"message": logged}
    assert ctx.log.lines == [("info", logged)]


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
async def test_log_uses_the_requested_level(ctx: FakeContext, level: str) -> None:
    await Log().run(ctx, {"message": "disk almost full", "level": level})

    assert ctx.log.lines == [(level, "disk almost full")]


async def test_log_refuses_an_unknown_level_without_logging(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed, match="level must be one of debug, info, warning, error"):
        await Log().run(ctx, {"message": "hi", "level": "loud"})

    assert ctx.log.lines == []


@pytest.mark.parametrize("value", ["text", 42, 1.5, False, None, [1, {"a": [2]}], {"k": {"n": 1}}])
async def test_echo_returns_the_value_unchanged(ctx: FakeContext, value: JSON) -> None:
    assert await Echo().run(ctx, {"value": value}) == {"value": value}


@pytest.mark.parametrize("duration", ["50ms", 0.05, "PT0.05S"])
async def test_sleep_waits_and_reports_the_time_slept(ctx: FakeContext, duration: JSON) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    outputs = await Sleep().run(ctx, {"duration": duration})

    elapsed_ms = (loop.time() - started) * 1000
    assert 50 <= outputs["slept_ms"] <= round(elapsed_ms)


async def test_sleep_is_cancelled_promptly(ctx: FakeContext) -> None:
    task = asyncio.create_task(Sleep().run(ctx, {"duration": "1h"}))
    await asyncio.sleep(0)  # one loop turn: the task runs up to its sleep
    assert not task.done()
    loop = asyncio.get_running_loop()
    cancelled_at = loop.time()

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    assert loop.time() - cancelled_at < 2


@pytest.mark.parametrize("duration", ["5 minutes", "soon", -1, True])
async def test_sleep_refuses_an_invalid_duration(ctx: FakeContext, duration: JSON) -> None:
    with pytest.raises(TaskFailed, match="duration"):
        await asyncio.wait_for(Sleep().run(ctx, {"duration": duration}), timeout=2)


@pytest.mark.parametrize("duration", ["2d", 86_401, "P1DT1S"])
async def test_sleep_refuses_more_than_a_day_at_once(ctx: FakeContext, duration: JSON) -> None:
    with pytest.raises(TaskFailed, match="longer than the maximum of one day"):
        await asyncio.wait_for(Sleep().run(ctx, {"duration": duration}), timeout=2)


@pytest.mark.parametrize("condition", [True, "true", "TRUE", " True "])
async def test_assert_passes_when_the_condition_holds(ctx: FakeContext, condition: JSON) -> None:
    outputs = await Assert().run(ctx, {"condition": condition, "message": "must not fail"})

    assert outputs == {}


@pytest.mark.parametrize("condition", [False, "false", "False", "FALSE"])
async def test_assert_fails_with_the_message(ctx: FakeContext, condition: JSON) -> None:
    with pytest.raises(TaskFailed) as failure:
        await Assert().run(ctx, {"condition": condition, "message": "expected at least one order"})

    assert str(failure.value) == "expected at least one order"


async def test_assert_without_message_still_says_why(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed) as failure:
        await Assert().run(ctx, {"condition": False})

    assert str(failure.value) == "assertion failed"


@pytest.mark.parametrize("condition", ["yes", "", 1, 0, None, [True]])
async def test_assert_refuses_a_condition_that_is_not_a_boolean(
    ctx: FakeContext, condition: JSON
) -> None:
    with pytest.raises(TaskFailed, match="condition must be true or false"):
        await Assert().run(ctx, {"condition": condition, "message": "not this message"})


async def test_noop_succeeds_with_no_outputs_and_no_log(ctx: FakeContext) -> None:
    assert await Noop().run(ctx, {}) == {}
    assert ctx.log.lines == []
