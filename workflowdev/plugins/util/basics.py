"""util.log, util.echo, util.sleep, util.assert and util.noop: the small steps every flow uses."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import CONDITION_SCHEMA
from workflowdev.engine.plugin import DURATION_TEXT_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_condition
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_duration
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
DEFAULT_LOG_LEVEL: Final = "info"
DEFAULT_ASSERT_MESSAGE: Final = "assertion failed"

MAX_SLEEP_SECONDS: Final = 86_400.0
"""A sleep holds a runner slot; waits longer than a day belong to a schedule trigger."""


class Log(Plugin):
    """Write one line to the task's log, at the level asked for."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.log",
        name="Log a message",
        category="util",
        description=(
            "Writes a message to the execution's log at the given level. Strings are logged as "
            "they are; any other value (a number, a list, an object) is logged as compact JSON. "
            "The logged text is also the task's output."
        ),
        input_schema=object_schema(
            {
                "message": {
                    "description": ("What to log. Any JSON value; non-strings are logged as compact JSON."),
                },
                "level": {
                    "type": "string",
                    "enum": list(LOG_LEVELS),
                    "default": DEFAULT_LOG_LEVEL,
                    "description": "Log level of the line.",
                },
            },
            ["message"],
        ),
        output_schema=single_value("message", {"type": "string", "description": "The text exactly as logged."}),
        examples=(
            task_example("hello", "util.log", "message: Hello world"),
            task_example(
                "report",
                "util.log",
                """
                level: warning
                message: {stage: import, skipped: 3}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        level = properties.get("level", DEFAULT_LOG_LEVEL)
        writers = {
            "debug": ctx.log.debug,
            "info": ctx.log.info,
            "warning": ctx.log.warning,
            "error": ctx.log.error,
        }
        if level not in writers:
            raise TaskFailed(f"level must be one of {', '.join(LOG_LEVELS)}; got {as_text(level)}")
        text = as_text(properties["message"])
        writers[level](text)
        return {"message": text}


class Echo(Plugin):
    """Return a value unchanged: how a flow names an intermediate result for later tasks."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.echo",
        name="Echo a value",
        category="util",
        description=(
            "Returns its `value` unchanged as the output `value`. Useful to compute something "
            "once with an expression and refer to it later as `outputs.<task>.value`."
        ),
        input_schema=single_value("value", {"description": "Any JSON value; returned as it is."}),
        output_schema=single_value("value", {"description": "The `value` property, unchanged."}),
        examples=(task_example("settings", "util.echo", "value: {region: eu-west, batch_size: 50, dry_run: false}"),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return {"value": properties["value"]}


class Sleep(Plugin):
    """Wait for a while. Cancelling the task (which is how the runner cancels) ends it at once."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.sleep",
        name="Sleep",
        category="util",
        description=(
            "Waits for `duration`, then succeeds with the time actually slept. Cancelling the "
            "execution interrupts the wait immediately. At most one day: longer waits belong "
            "to a schedule trigger."
        ),
        input_schema=single_value(
            "duration",
            {
                "anyOf": [
                    DURATION_TEXT_SCHEMA,
                    {"type": "number", "minimum": 0, "maximum": MAX_SLEEP_SECONDS},
                ],
                "description": (
                    "How long to wait: 500ms, 30s, 10m, 2h, 1d, ISO 8601 (PT30S) or a number "
                    "of seconds. At most one day."
                ),
            },
        ),
        output_schema=single_value(
            "slept_ms",
            {
                "type": "integer",
                "minimum": 0,
                "description": "Milliseconds actually slept, measured on a monotonic clock.",
            },
        ),
        examples=(task_example("let_the_replica_catch_up", "util.sleep", "duration: 250ms"),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        try:
            seconds = parse_duration(properties["duration"])
        except ValueError as exc:
            raise TaskFailed(str(exc)) from None
        if seconds > MAX_SLEEP_SECONDS:
            raise TaskFailed(
                f"duration {as_text(properties['duration'])} is longer than the maximum of one "
                "day; use a schedule trigger for longer waits"
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(seconds)
        return {"slept_ms": round((loop.time() - started) * 1000)}


class Assert(Plugin):
    """Stop the flow with the operator's own message when something that must hold does not."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.assert",
        name="Assert",
        category="util",
        description=(
            "Succeeds when `condition` is true and fails the task with `message` when it is "
            "false. The condition is usually an expression; the words true and false (any case) "
            "are accepted too, any other value fails the task."
        ),
        input_schema=object_schema(
            {
                "condition": {
                    **CONDITION_SCHEMA,
                    "description": "What must hold; a boolean, or the text true/false.",
                },
                "message": {
                    "type": "string",
                    "default": DEFAULT_ASSERT_MESSAGE,
                    "description": "The task's error when the condition is false.",
                },
            },
            ["condition"],
        ),
        output_schema={
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        },
        examples=(
            task_example(
                "enough_orders",
                "util.assert",
                """
                condition: true
                message: expected at least one order
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        if not as_condition(properties["condition"]):
            raise TaskFailed(as_text(properties.get("message", DEFAULT_ASSERT_MESSAGE)))
        return {}


class Noop(Plugin):
    """Do nothing and succeed: a placeholder, or a join point for `depends_on` in a DAG."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.noop",
        name="No operation",
        category="util",
        description=(
            "Does nothing and succeeds. A placeholder while a flow is being written, or a join "
            "point that other tasks of a flow.dag depend on."
        ),
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        output_schema={"type": "object", "properties": {}, "additionalProperties": False},
        examples=(task_example("placeholder", "util.noop"),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return {}
