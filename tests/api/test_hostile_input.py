"""Hostile values at every parameter of every route, from the OpenAPI document, on both databases.

Hypothesis picks an operation, a place (a path segment, a query parameter, a header, the JSON
body) and a value meant to break something below the API: raw bytes that are not UTF-8, lone
surrogate escapes, NUL, numbers past 64 bits or of thousands of digits, `NaN`. Every answer must
be the API's JSON error (or, for a value that is merely odd, any answer but a 5xx), and the
server must keep answering. Requests are raw (`http.client`), so bytes reach the server as sent.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.api.threaded_server import threaded_server
from workflowdev.runtime import Runtime


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    parameters: tuple[tuple[str, str, str | None], ...]
    """(name, in, schema type)."""
    json_body: bool

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Hostile:
    """A value to send, and whether any correct server must refuse it wherever it goes."""

    text: bytes
    always_refused: bool
    label: str

    def __repr__(self) -> str:
        return self.label


BIG = [str(2**63), str(2**64), "9" * 20, "-" + "9" * 30, "9" * 5000]
RAW_VALUES = [
    Hostile(b"\xff\xfe", True, "bytes ff fe"),
    Hostile(b"\xed\xa0\x80", True, "an encoded surrogate"),
    Hostile(b"a\x00b", True, "NUL"),
    *(Hostile(big.encode(), False, f"{len(big)} digits") for big in BIG),
]
JSON_VALUES = [
    Hostile(b'"\\ud800"', True, "lone high surrogate"),
    Hostile(b'"x\\udfffy"', True, "lone low surrogate"),
    Hostile(b'"\\u0000"', True, "escaped NUL"),
    Hostile(b"NaN", True, "NaN"),
    Hostile(b"1e400", True, "1e400"),
    Hostile(b"9" * 5000, True, "5000 digits"),
    *(Hostile(big.encode(), False, f"{len(big)} digits") for big in BIG[:4]),
]
INTEGER = "integer"


def _operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            params = tuple(
                (p["name"], p["in"], p.get("schema", {}).get("type"))
                for p in [*item.get("parameters", []), *op.get("parameters", [])]
            )
            body = "application/json" in op.get("requestBody", {}).get("content", {})
            found.append(Operation(method.upper(), path, params, body))
    return found


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with threaded_server(tmp_path_factory.mktemp("hostile"), url) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def operations(server: Runtime) -> list[Operation]:
    status, _, body = _send(server, "GET", "/api/v1/openapi.json")
    assert status == 200
    return _operations(json.loads(body))


def _send(
    runtime: Runtime, method: str, target: str, headers: dict[str, bytes] | None = None, body: bytes | None = None
) -> tuple[int, str, bytes]:
    address = urlsplit(runtime.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _target(op: Operation, place: str, name: str | None, value: bytes) -> str:
    path = op.path
    for param, where, _ in op.parameters:
        if where == "path":
            segment = quote(value, safe="") if (place, name) == ("path", param) else str(uuid.uuid4())
            path = path.replace("{" + param + "}", segment)
    if place == "query":
        path += f"?{name}={quote(value, safe='')}"
    return path


@st.composite
def attacks(draw: st.DrawFn, operations: list[Operation]) -> tuple[Operation, str, str | None, Hostile]:
    op = draw(st.sampled_from(operations))
    places = [(where, name, kind) for name, where, kind in op.parameters]
    places.append(("header", "X-Hostile", None))
    if op.json_body:
        places.append(("body", None, None))
    where, name, kind = draw(st.sampled_from(places))
    value = draw(st.sampled_from(JSON_VALUES if where == "body" else RAW_VALUES))
    if kind == INTEGER and value.text.lstrip(b"-").isdigit():
        value = Hostile(value.text, True, value.label + " for an integer")
    return op, where, name, value


def _attack(runtime: Runtime, op: Operation, where: str, name: str | None, value: Hostile) -> tuple[int, str, bytes]:
    headers = {name or "X-Hostile": value.text} if where == "header" else None
    body = None
    if op.json_body:
        body = b'{"field": ' + value.text + b"}" if where == "body" else b"{}"
    return _send(runtime, op.method, _target(op, where, name, value.text), headers, body)


def test_every_route_answers_hostile_values_with_a_json_error(server: Runtime, operations: list[Operation]) -> None:
    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(attack=attacks(operations))
    def check(attack: tuple[Operation, str, str | None, Hostile]) -> None:
        op, where, name, value = attack
        status, content_type, body = _attack(server, op, where, name, value)
        assert status < 500, (op, where, name, value, body[:300])
        if value.always_refused:
            assert 400 <= status < 500, (op, where, name, value, status, body[:300])
        if status >= 400:
            assert content_type.startswith("application/json"), (op, where, name, value, body[:300])
            error = json.loads(body)["error"]
            assert error["code"] and error["message"]

    check()
    assert _send(server, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize(
    ("headers", "target"),
    [
        ({"X-Big": b"a" * 20_000}, "/healthz"),
        (None, "/api/v1/flows?q=" + "a" * 20_000),
    ],
    ids=["header", "request-line"],
)
def test_an_oversize_request_line_or_header_is_a_json_400(
    server: Runtime, headers: dict[str, bytes] | None, target: str
) -> None:
    status, content_type, body = _send(server, "GET", target, headers)
    assert status == 400 and content_type.startswith("application/json")
    assert "too long" in json.loads(body)["error"]["message"]
    assert _send(server, "GET", "/healthz")[0] == 200


def test_the_largest_offset_the_databases_take_is_answered(server: Runtime) -> None:
    for path in ("/api/v1/flows", "/api/v1/executions", "/api/v1/triggers", "/api/v1/audit", "/api/v1/kv"):
        status, _, body = _send(server, "GET", f"{path}?offset={2**63 - 1}")
        assert status == 200 and json.loads(body) == [], (path, body)
