"""The end of a process's output stream, kept within a size limit (script.* and ssh.command).

Both task types answer with the same four fields for the two streams, described alike and
warned about alike when a stream outgrew its capture; they differ only in what their exit code
means and in what stdout leaves out, so those stay with each task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Final

from workflowdev.engine.plugin import JSON

CAPTURE_BYTES: Final = 1024 * 1024
"""How much of each stream a task returns: the last MiB; all of it reaches the log."""
CAPTURED_FIELDS: Final = ("stdout", "stderr", "stdout_truncated", "stderr_truncated")
"""The output fields `captured_outputs` fills, in the order the output schemas list them."""


@dataclass
class Capture:
    """The end of one stream, at most `limit` bytes of it."""

    limit: int = CAPTURE_BYTES
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if (excess := len(self.data) - self.limit) > 0:
            del self.data[:excess]
            self.truncated = True

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def captured_properties(stdout_description: str) -> dict[str, JSON]:
    """The output schema's properties for `CAPTURED_FIELDS`; stdout's description is the task's."""
    return {
        "stdout": {"type": "string", "description": stdout_description},
        "stderr": {"type": "string", "description": "Standard error (its last 1 MiB)."},
        "stdout_truncated": {"type": "boolean", "description": "True when stdout was longer than 1 MiB."},
        "stderr_truncated": {"type": "boolean", "description": "True when stderr was longer than 1 MiB."},
    }


def captured_outputs(stdout: Capture, stderr: Capture, warn: Callable[[str], None]) -> dict[str, JSON]:
    """The task's `CAPTURED_FIELDS`, after a warning for each stream that lost its beginning."""
    for name, capture in (("stdout", stdout), ("stderr", stderr)):
        if capture.truncated:
            warn(f"{name} was longer than {CAPTURE_BYTES} bytes; the output keeps its end")
    return {
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "stdout_truncated": stdout.truncated,
        "stderr_truncated": stderr.truncated,
    }
