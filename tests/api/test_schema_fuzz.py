"""Fuzz the whole API from its own OpenAPI document: no 5xx, no response that breaks its schema.

The document is built from the app itself (no server needed to collect the tests); the server
runs in a thread of its own, on SQLite, for the whole module. A bounded number of examples per
operation keeps it to seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.checks import response_schema_conformance

from tests.api.threaded_server import threaded_server
from workflowdev.api.app import RESOURCES
from workflowdev.api.app import create_app
from workflowdev.api.openapi import build_document
from workflowdev.config import Settings
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.plugins import build_registry
from workflowdev.store.database import Database


def _document() -> dict:
    db = Database("sqlite:///unused.db")
    registry = build_registry(entry_points=False)
    engine = Engine(db, registry, EngineSettings(node_id="doc", workdir_root=Path("/nonexistent")))
    return build_document(create_app(Settings(), db, registry, engine), RESOURCES)


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with threaded_server(tmp_path_factory.mktemp("fuzz")) as runtime:
        yield runtime.base_url


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_holds_its_own_contract(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=[not_a_server_error, response_schema_conformance], timeout=30)
