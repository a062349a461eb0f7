"""The scheduler loop: sleeps until the next schedule is due, then fires what is due.

Any number of nodes may run it against one database: each instant's firing row is unique, so
the node that commits first fires it and the others find it taken. It wakes at the earliest
`next_fire_at` and at least every `poll_interval`, to see triggers other nodes created. Each
look also fires the flow triggers whose upstream end no node fired (its node died first).
"""

from __future__ import annotations

import logging

from workflowdev.engine.clock import Clock
from workflowdev.engine.node.background import BackgroundLoop
from workflowdev.engine.services.schedules import Schedules
from workflowdev.engine.services.triggers import TriggerService
from workflowdev.store.outage import Outage

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, schedules: Schedules, triggers: TriggerService, clock: Clock, poll_interval: float = 1.0) -> None:
        self.schedules = schedules
        self.triggers = triggers
        self.clock = clock
        self.poll_interval = poll_interval
        self._background = BackgroundLoop("scheduler")
        self._outage = Outage(log, "firing schedules")

    def start(self) -> None:
        self._background.start(self._loop())

    async def stop(self) -> None:
        await self._background.stop()

    def wake(self) -> None:
        """A schedule changed: look again now."""
        self._background.wake()

    async def _loop(self) -> None:
        while not self._background.stopping:
            try:
                await self.schedules.fire_due()
                await self.triggers.fire_missed_flow_triggers()
                upcoming = await self.schedules.next_due_at()
            except Exception as exc:  # noqa: BLE001 - the database may be away; try again shortly
                delay = self._outage.failed(exc)
            else:
                self._outage.succeeded()
                delay = self.poll_interval
                if upcoming is not None:
                    delay = min(delay, max(0.0, (upcoming - self.clock()).total_seconds()))
            await self._background.sleep(delay)
