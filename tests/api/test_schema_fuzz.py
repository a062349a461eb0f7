"""Fuzz the whole API from its own OpenAPI document: no 5xx, no response that breaks its schema.

The document is built from the app itself (no server needed to collect the tests); the server
runs in a thread of its own, on SQLite, for the whole module. A bounded number of examples per
operation keeps it to seconds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from workflowdev.api.app import RESOURCES, create_app
from workflowdev.api.openapi import build_document
from workflowdev.config import Settings
from workflowdev.engine.engine import Engine, EngineSettings
from workflowdev.plugins import build_registry
from workflowdev.runtime import Runtime
from workflowdev.store.database import Database


def _document() -> dict:
    db = Database("sqlite:///unused.db")
    registry = build_registry(entry_points=False)
    engine = Engine(db, registry, EngineSettings(node_id="doc", workdir_root=Path("/nonexistent")))
    return build_document(create_app(Settings(), db, registry, engine), RESOURCES)


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on its own loop in a thread: schemathesis calls it with blocking HTTP."""
    data_dir = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(host="127.0.0.1", port=0, data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'f.db'}")
    runtime = Runtime(settings_)
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
    yield runtime.base_url
    loop.call_soon_threadsafe(stop.set)  # type: ignore[union-attr]
    thread.join(30)
    loop.close()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_holds_its_own_contract(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=[not_a_server_error, response_schema_conformance], timeout=30)
