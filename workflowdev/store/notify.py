"""PostgreSQL LISTEN/NOTIFY: one dedicated connection per node that listens and sends.

The store holds only the mechanism: listen on named channels, call back with each payload that
another session sent, send payloads. What a channel means is the engine's business.

Notifications are hints. While the connection is down nothing is heard and what is sent is
dropped, so `on_state(True)` is called after every (re)connection and the caller looks at the
database again then. Sends are queued and go out together in one statement (one round trip,
one transaction) from the same connection; a session hears its own notifications, so those are
filtered out by the sender's backend pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy.engine import make_url

from workflowdev.store.outage import Outage

log = logging.getLogger(__name__)

MAX_PAYLOAD = 7900
"""Bytes of one payload; PostgreSQL refuses more than 8000 (less a little for safety)."""
KEEPALIVE_SECONDS = 5.0
"""An idle connection is checked this often, so a dead one is noticed and replaced."""
MAX_OUTBOX = 10_000
"""Sends waiting at most; beyond it (the connection cannot keep up) new ones are dropped."""
SEND_ALL = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)"

Handler = Callable[[str], None]


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL asyncpg wants, from the SQLAlchemy URL the store uses."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Channels:
    url: str
    handlers: Mapping[str, Handler]
    """Channel name → called with each payload heard on it (must be quick: it runs on the loop)."""
    on_state: Callable[[bool], None] = lambda up: None
    """Called with True after each (re)connection, with False when the connection is lost."""
    _outbox: list[tuple[str, str]] = field(default_factory=list)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _lost: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _dropped: int = 0
    connected: bool = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="listen-notify")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    def send(self, channel: str, payload: str) -> None:
        """Queue a notification; dropped when the connection is down or far behind."""
        if not self.connected:
            return
        if len(self._outbox) >= MAX_OUTBOX:
            self._dropped += 1
            return
        self._outbox.append((channel, payload))
        self._ready.set()

    async def _supervise(self) -> None:
        outage = Outage(log, "LISTEN/NOTIFY wake-ups")
        while not self._stopping.is_set():
            try:
                await self._session(outage)
                delay = 0.0
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect after a pause
                delay = outage.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _session(self, outage: Outage) -> None:
        """Connect, listen, and send until the connection is lost or the node stops."""
        import asyncpg  # this bridge runs on PostgreSQL only; SQLite nodes never load the driver

        conn: Any = await asyncpg.connect(asyncpg_dsn(self.url), timeout=5)
        try:
            own_pid = conn.get_server_pid()

            def heard(_conn: Any, pid: int, channel: str, payload: str) -> None:
                if pid != own_pid:
                    self.handlers[channel](payload)

            self._lost.clear()
            conn.add_termination_listener(lambda _conn: self._lost.set())
            for channel in self.handlers:
                await conn.add_listener(channel, heard)
            self.connected = True
            outage.succeeded()
            self.on_state(True)
            await self._pump(conn)
        finally:
            if self.connected:
                self.connected = False
                self._outbox.clear()
                self.on_state(False)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _pump(self, conn: Any) -> None:
        while not self._stopping.is_set():
            waiters = {asyncio.ensure_future(e.wait()) for e in (self._ready, self._lost, self._stopping)}
            _, pending = await asyncio.wait(waiters, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if self._lost.is_set():
                raise ConnectionError("the LISTEN connection was closed")
            self._ready.clear()
            batch, self._outbox = self._outbox, []
            if self._dropped:
                log.warning("dropped %d notifications: the LISTEN connection could not keep up", self._dropped)
                self._dropped = 0
            if batch:
                channels, payloads = zip(*batch, strict=True)
                await conn.execute(SEND_ALL, list(channels), list(payloads), timeout=KEEPALIVE_SECONDS)
            elif not self._stopping.is_set():
                await conn.fetchval("SELECT 1", timeout=KEEPALIVE_SECONDS)
