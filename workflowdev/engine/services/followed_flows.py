"""Which flows an enabled flow trigger follows, kept in memory: asked at every execution's end.

Most executions end in a flow nobody follows, and asking the database each time was a read
transaction per execution (about a tenth of a node's work in W3). The answer is now read at most
once per `FOLLOWED_TTL`, and at once after this node changed a trigger. A trigger another node
just created may be missed for that long; the durable sweep (`fire_missed_flow_triggers`) fires
what was missed, exactly once, so staleness costs latency, never a firing. When a flow is
followed, its triggers are still read fresh, so a trigger just disabled elsewhere never fires
from this cache.
"""

from __future__ import annotations

import asyncio
import time

from workflowdev.store import triggers as store
from workflowdev.store.database import Database

FOLLOWED_TTL = 1.0
"""Seconds a node trusts its list of followed flows before reading it again."""


class FollowedFlows:
    def __init__(self, db: Database, ttl: float = FOLLOWED_TTL) -> None:
        self.db = db
        self.ttl = ttl
        self._flow_ids: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._reading = asyncio.Lock()

    def forget(self) -> None:
        """A trigger changed here: the next question reads the database again."""
        self._read_at = None

    async def includes(self, flow_id: str) -> bool:
        if self._stale():
            async with self._reading:  # one read for every end that found it stale together
                if self._stale():
                    read_at = time.monotonic()
                    async with self.db.read() as conn:
                        self._flow_ids = frozenset(await store.followed_flow_ids(conn))
                    self._read_at = read_at
        return flow_id in self._flow_ids

    def _stale(self) -> bool:
        return self._read_at is None or time.monotonic() - self._read_at > self.ttl
