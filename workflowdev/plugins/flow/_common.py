"""The pieces of the flow task types' manifests that several of them share."""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import JSON

TASK_LIST: Final[dict[str, JSON]] = {"type": "array", "items": {"type": "object"}}

CONCURRENCY: Final[dict[str, JSON]] = {"type": "integer", "minimum": 1}

NO_OUTPUTS: Final[dict[str, JSON]] = {
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}

DEFAULT_FOREACH_CONCURRENCY: Final = 1
DEFAULT_SUBFLOW_WAIT: Final = True
DEFAULT_WAIT_INTERVAL: Final = "5s"
MIN_WAIT_INTERVAL_SECONDS: Final = 1.0
