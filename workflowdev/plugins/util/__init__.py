"""util: the small building blocks of flows — log, echo, sleep, assert, ids, dates, random values, noop.

They touch nothing outside the task's own log, which also makes them the task types that
examples, tests and new users reach for first: every one of them must behave exactly as its
manifest says, with errors an operator can act on.
"""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.util.basics import MAX_SLEEP_SECONDS
from workflowdev.plugins.util.basics import Assert
from workflowdev.plugins.util.basics import Echo
from workflowdev.plugins.util.basics import Log
from workflowdev.plugins.util.basics import Noop
from workflowdev.plugins.util.basics import Sleep
from workflowdev.plugins.util.dates import DateTime
from workflowdev.plugins.util.ids import Uuid
from workflowdev.plugins.util.random_values import RandomValue

__all__ = ["MAX_SLEEP_SECONDS", "PLUGINS", "Assert", "DateTime", "Echo", "Log", "Noop", "RandomValue", "Sleep", "Uuid"]

PLUGINS: Final[list[type[Plugin]]] = [Log, Echo, Sleep, Assert, Noop, Uuid, DateTime, RandomValue]
