"""The in-process event bus: every committed change, fanned out to whoever listens.

Publishers publish only after the change is durable, so a listener that reacts by reading the
database always finds what the event announced. Publishing never blocks: each subscriber has a
bounded queue, and a subscriber too slow to keep up is cut off (its iterator ends with
`SubscriberLagged`) rather than slowing the engine or growing without bound; it reconnects and
reads the current state again.

With several nodes on one PostgreSQL, `cluster.py` bridges the bus through NOTIFY: events made
on other nodes arrive here with their `origin` set. Subscribers (the streams of the API, waiters)
get every node's events; listeners (metrics, flow triggers, the bridge itself) get only this
node's, because the node that made a change is the one that reacts to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from collections.abc import Collection
from dataclasses import dataclass
from dataclasses import field
from typing import Any

EXECUTION_UPDATED = "execution.updated"
TASK_UPDATED = "task.updated"
LOG = "log"
APPROVAL_CREATED = "approval.created"
APPROVAL_DECIDED = "approval.decided"


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    execution_id: str
    data: dict[str, Any]
    origin: str | None = None
    """The node that published it, when that is another node; None for this node's own."""


class SubscriberLagged(Exception):
    """The subscriber fell more than its queue size behind and was cut off."""


@dataclass(eq=False)
class Subscription:
    bus: EventBus
    execution_id: str | None
    types: frozenset[str] | None
    queue: asyncio.Queue[Event | None]
    lagged: bool = False

    def wants(self, event: Event) -> bool:
        if self.execution_id is not None and event.execution_id != self.execution_id:
            return False
        return self.types is None or event.type in self.types

    def close(self) -> None:
        self.bus._subscribers.discard(self)
        if not self.queue.full():
            self.queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        """The next event; ends when closed, raises `SubscriberLagged` when cut off."""
        event = await self.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """`close`, spelled as async iterators spell it, so a stream can close any of them."""
        self.close()

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when closed or when `timeout` passes first."""
        try:
            event = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if event is None and self.lagged:
            raise SubscriberLagged()
        return event


@dataclass
class EventBus:
    queue_size: int = 10_000
    _subscribers: set[Subscription] = field(default_factory=set)
    _listeners: list[Callable[[Event], None]] = field(default_factory=list)

    def subscribe(
        self, *, execution_id: str | None = None, types: Collection[str] | None = None
    ) -> Subscription:
        sub = Subscription(
            self,
            execution_id,
            frozenset(types) if types is not None else None,
            asyncio.Queue(self.queue_size + 1),
        )
        self._subscribers.add(sub)
        return sub

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Call `callback` synchronously for every event made on this node (metrics, triggers); it
        must be quick."""
        self._listeners.append(callback)

    def wants(self, kind: str, execution_id: str) -> bool:
        """Whether anyone would receive such an event, so publishers can skip building it."""
        if self._listeners:
            return True
        return any(
            (sub.execution_id is None or sub.execution_id == execution_id) and (sub.types is None or kind in sub.types)
            for sub in self._subscribers
        )

    def publish(self, event: Event) -> None:
        if event.origin is None:
            for callback in self._listeners:
                callback(event)
        for sub in list(self._subscribers):
            if not sub.wants(event):
                continue
            if sub.queue.qsize() >= self.queue_size:
                sub.lagged = True
                self._subscribers.discard(sub)
                sub.queue.put_nowait(None)
            else:
                sub.queue.put_nowait(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
