"""The one way the node's background loops sleep, wake and stop.

The dispatcher, the scheduler and the heartbeat each run as one named task that does a round,
then sleeps until a delay runs out or something wakes it. A stop wakes the sleeper and waits
for the round under way to finish, so nothing is cut off halfway through a write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False
        """Set by `stop`: the loop's body ends its round and returns."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, body: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(body, name=self.name)

    def wake(self) -> None:
        """Cut the current sleep short (the next one, when none is under way)."""
        self._wake.set()

    async def sleep(self, seconds: float) -> bool:
        """Until `seconds` pass, a wake-up or a stop; whether it was woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        woken = self._wake.is_set()
        self._wake.clear()
        return woken

    async def stop(self) -> None:
        self.stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
