"""What a mocked task answers instead of running its plugin: flow tests (`workflowdev test`).

A test replaces the tasks that talk to the outside world by name. Their properties are still
rendered (a template error fails the test as it would fail the flow), their retries and
timeouts still apply; only the plugin call is replaced by the answer. Servers have no mocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflowdev.engine.plugin import TaskFailed


@dataclass(frozen=True)
class TaskMock:
    outputs: dict[str, Any] | None = None
    error: str | None = None
    """The task fails with this message instead of answering `outputs`."""

    def answer(self) -> dict[str, Any]:
        if self.error is not None:
            raise TaskFailed(self.error)
        return dict(self.outputs or {})
