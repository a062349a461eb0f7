"""The background purge: a pass of the retention policy every `interval` seconds.

It runs on nodes with the `scheduler` role. On PostgreSQL the nodes sharing the database take
turns through an advisory lock: a node that finds a pass under way elsewhere skips its own
rather than deleting the same rows at the same time. After a pass that purged something,
SQLite's freed pages go back to the file system (incremental vacuum, a few at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from workflowdev.engine.services.retention import PurgeReport
from workflowdev.engine.services.retention import Retention
from workflowdev.engine.services.retention_policy import RetentionPolicy
from workflowdev.store.outage import Outage
from workflowdev.store.retention import exclusive_pass

log = logging.getLogger(__name__)


class RetentionLoop:
    def __init__(
        self,
        retention: Retention,
        policy: RetentionPolicy,
        interval: float,
        on_purged: Callable[[PurgeReport], None],
    ) -> None:
        self.retention = retention
        self.policy = policy
        self.interval = interval
        self.on_purged = on_purged
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = Outage(log, "purging by the retention policy")

    def start(self) -> None:
        if self.policy.enabled:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        """A batch cut short rolls back whole; the pass goes on from there at the next start."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            delay = self.interval
            try:
                await self._pass()
            except Exception as exc:  # noqa: BLE001 - the database may be away; try again shortly
                delay = min(delay, self._outage.failed(exc))
            else:
                self._outage.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _pass(self) -> None:
        async with exclusive_pass(self.retention.db) as ours:
            if not ours:
                return
            report = await self.retention.purge(self.policy)
        self.on_purged(report)
        if any(report.counts().values()):
            log.info("retention purged %s", ", ".join(f"{n:,} {kind}" for kind, n in report.counts().items()))
            await self.retention.reclaim_space()
