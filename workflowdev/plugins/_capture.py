"""The end of a process's output stream, kept within a size limit (script.* and ssh.command)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Final

CAPTURE_BYTES: Final = 1024 * 1024
"""How much of each stream a task returns: the last MiB; all of it reaches the log."""


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
