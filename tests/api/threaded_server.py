"""A real server on its own event loop in a thread, for tests whose client is blocking
(schemathesis, hypothesis-driven raw HTTP)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workflowdev.config import Settings
from workflowdev.runtime import Runtime


@contextmanager
def threaded_server(data_dir: Path, database_url: str | None = None) -> Iterator[Runtime]:
    settings = Settings(
        host="127.0.0.1", port=0, data_dir=data_dir, database_url=database_url or f"sqlite:///{data_dir / 'f.db'}"
    )
    runtime = Runtime(settings)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        await runtime.start()
        ready.set()
        await stop.wait()
        await runtime.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the server did not start"
    try:
        yield runtime
    finally:
        loop.call_soon_threadsafe(stop.set)  # type: ignore[union-attr]
        thread.join(30)
        loop.close()
