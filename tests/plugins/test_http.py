"""http.*: against a real local aiohttp server — bodies, redirects, limits, the address guard.

Unit tests call `run` with a context that has the engine's real `Resources`, so the shared
session is created and closed exactly as during an execution; flow-level tests go through the
API on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.abc import ResolveResult
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator

import workflowdev.plugins._netguard as netguard
from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.run.context import Resources
from workflowdev.plugins._netguard import DEFAULT_BLOCKED
from workflowdev.plugins._netguard import AddressPolicy
from workflowdev.plugins._netguard import BlockedAddress
from workflowdev.plugins._netguard import GuardedResolver
from workflowdev.plugins.http import Check
from workflowdev.plugins.http import Download
from workflowdev.plugins.http import GraphQL
from workflowdev.plugins.http import Request
from workflowdev.plugins.http import Upload
from workflowdev.plugins.http._client import SESSION_KEY

from .test_util import FakeContext

# -- the local server -----------------------------------------------------------------------------

RELEASE = web.AppKey("release", asyncio.Event)
CONNECTIONS = web.AppKey("connections", list)

BINARY = bytes(range(256)) * 4


async def json_handler(request: web.Request) -> web.Response:
    request.app[CONNECTIONS].append(request.transport)
    return web.json_response({"ok": True, "items": [1, 2]})


async def text_handler(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def binary_handler(request: web.Request) -> web.Response:
    return web.Response(body=BINARY, content_type="application/octet-stream")


async def broken_json_handler(request: web.Request) -> web.Response:
    return web.Response(text="<html>oops</html>", content_type="application/json")


async def echo_handler(request: web.Request) -> web.Response:
    """What arrived: method, query pairs, headers and the raw body."""
    return web.json_response(
        {
            "method": request.method,
            "query": [[k, v] for k, v in request.query.items()],
            "headers": dict(request.headers),
            "raw": (await request.read()).decode(),
        }
    )


async def redirect_handler(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def chain_handler(request: web.Request) -> web.Response:
    left = int(request.match_info["n"])
    raise web.HTTPFound("/json" if left == 0 else f"/chain/{left - 1}")


async def slow_handler(request: web.Request) -> web.Response:
    await asyncio.wait_for(request.app[RELEASE].wait(), 10)
    return web.Response(text="late")


async def big_handler(request: web.Request) -> web.StreamResponse:
    """`size` bytes; with `stream=1` sent chunked, without a Content-Length."""
    size = int(request.query["size"])
    if request.query.get("stream"):
        response = web.StreamResponse()
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        for start in range(0, size, 10_000):
            await response.write(b"x" * min(10_000, size - start))
        await response.write_eof()
        return response
    return web.Response(body=b"x" * size, content_type="application/octet-stream")


async def status_handler(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code}: database is down\n\n  try later")


async def upload_handler(request: web.Request) -> web.Response:
    """The multipart form as received: text fields, and each file's name, type and content."""
    fields: dict[str, str] = {}
    files: dict[str, dict[str, str]] = {}
    reader = await request.multipart()
    async for part in reader:
        assert isinstance(part, aiohttp.BodyPartReader)
        if part.filename is None:
            fields[part.name or ""] = await part.text()
        else:
            files[part.name or ""] = {
                "filename": part.filename,
                "content_type": part.headers.get("Content-Type", ""),
                "content": (await part.read()).decode(),
            }
    return web.json_response({"method": request.method, "fields": fields, "files": files})


async def graphql_handler(request: web.Request) -> web.Response:
    document = await request.json()
    if "broken" in document["query"]:
        errors = [{"message": "Cannot query field 'broken'"}, {"message": "second problem"}]
        return web.json_response({"data": None, "errors": errors})
    if "forbidden" in document["query"]:
        return web.json_response({"errors": [{"message": "not allowed"}]}, status=403)
    if "html" in document["query"]:
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")
    echo = {k: document.get(k) for k in ("query", "variables", "operationName")}
    return web.json_response({"data": {"echo": echo, "accept": request.headers.get("Accept")}})


def make_app() -> web.Application:
    app = web.Application()
    app[RELEASE] = asyncio.Event()
    app[CONNECTIONS] = []
    app.router.add_get("/json", json_handler)
    app.router.add_get("/text", text_handler)
    app.router.add_get("/binary", binary_handler)
    app.router.add_get("/broken-json", broken_json_handler)
    app.router.add_route("*", "/echo", echo_handler)
    app.router.add_get("/redirect", redirect_handler)
    app.router.add_get("/chain/{n}", chain_handler)
    app.router.add_get("/slow", slow_handler)
    app.router.add_get("/big", big_handler)
    app.router.add_route("*", "/status/{code}", status_handler)
    app.router.add_route("*", "/upload", upload_handler)
    app.router.add_post("/graphql", graphql_handler)
    return app


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = make_app()
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    app[RELEASE].set()
    await test_server.close()


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the context ----------------------------------------------------------------------------------


@dataclass
class HttpContext(FakeContext):
    """A task context with the engine's own per-execution Resources and a private workdir."""

    resources: Resources = field(default_factory=Resources)


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[HttpContext]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    context = HttpContext(workdir=workdir)
    assert isinstance(context, TaskContext)
    yield context
    await context.resources.close()


def unexpected_factory(*args: Any) -> Any:
    raise AssertionError("the execution should already have its session")


def with_settings(ctx: HttpContext, **changes: Any) -> HttpContext:
    """Settings changed before the first request (the session reads them when it is made)."""
    ctx.settings = replace(ctx.settings, **changes)
    return ctx


async def run_task(plugin: type[Plugin], ctx: HttpContext, **properties: JSON) -> Mapping[str, JSON]:
    """Run a task and check its outputs against its manifest's output schema."""
    result = await plugin().run(ctx, properties)
    errors = [e.message for e in Draft202012Validator(plugin.manifest.output_schema).iter_errors(result)]
    assert errors == [], errors
    return result


async def fails(plugin: type[Plugin], ctx: HttpContext, **properties: JSON) -> str:
    with pytest.raises(TaskFailed) as failure:
        await plugin().run(ctx, properties)
    return str(failure.value)


# -- http.request: bodies -------------------------------------------------------------------------


async def test_get_json_is_decoded(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/json"))

    assert out["status_code"] == 200
    assert out["body"] == {"ok": True, "items": [1, 2]}
    assert out["body_encoding"] == "json"
    assert out["headers"]["content-type"] == "application/json; charset=utf-8"


async def test_text_comes_back_as_text(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/text"))

    assert (out["body"], out["body_encoding"]) == ("hello", "text")


async def test_binary_comes_back_as_base64(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/binary"))

    assert out["body_encoding"] == "base64"
    assert base64.b64decode(out["body"]) == BINARY


async def test_a_json_label_on_a_non_json_body_gives_text_and_a_warning(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/broken-json"))

    assert (out["body"], out["body_encoding"]) == ("<html>oops</html>", "text")
    warnings = [line for level, line in ctx.log.lines if level == "warning"]
    assert len(warnings) == 1 and "not valid JSON" in warnings[0]


async def test_body_is_sent_as_json(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/echo"), method="POST", body={"sku": "A-12", "qty": [2]})

    echo = out["body"]
    assert echo["method"] == "POST"
    assert echo["headers"]["Content-Type"] == "application/json"
    assert json.loads(echo["raw"]) == {"sku": "A-12", "qty": [2]}


async def test_form_is_sent_url_encoded(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(
        Request, ctx, url=url(server, "/echo"), method="PUT", form={"name": "Zoë & co", "tag": ["a", "b"]}
    )

    echo = out["body"]
    assert echo["method"] == "PUT"
    assert echo["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert echo["raw"] == "name=Zo%C3%AB+%26+co&tag=a&tag=b"


async def test_data_is_sent_raw_and_a_given_content_type_wins(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(
        Request,
        ctx,
        url=url(server, "/echo"),
        method="PATCH",
        data="<a>1</a>",
        headers={"content-type": "application/xml"},
    )

    assert out["body"]["raw"] == "<a>1</a>"
    assert out["body"]["headers"]["Content-Type"] == "application/xml"


async def test_at_most_one_body_kind(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Request, ctx, url=url(server, "/echo"), method="POST", body={}, data="x")

    assert message == "give at most one of body, form and data; this task gives body and data"


async def test_headers_and_query_are_sent(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(
        Request,
        ctx,
        url=url(server, "/echo?page=1"),
        headers={"X-Trace": "abc", "X-Count": 3},
        query={"ids": [1, 2], "verbose": True, "q": "a b"},
    )

    echo = out["body"]
    assert echo["query"] == [["page", "1"], ["ids", "1"], ["ids", "2"], ["verbose", "true"], ["q", "a b"]]
    assert echo["headers"]["X-Trace"] == "abc"
    assert echo["headers"]["X-Count"] == "3"


async def test_the_session_is_shared_by_tasks_and_closed_with_the_execution(
    server: TestServer, ctx: HttpContext
) -> None:
    await run_task(Request, ctx, url=url(server, "/json"))
    await run_task(Request, ctx, url=url(server, "/json"))
    session = await ctx.resources.get(SESSION_KEY, unexpected_factory, unexpected_factory)
    first, second = server.app[CONNECTIONS]
    assert first is second and not first.is_closing(), "the second task reused the pooled connection"

    await ctx.resources.close()

    assert session.closed
    await eventually(lambda: asyncio.sleep(0, first.is_closing()), timeout=5, what="the connection to close")


# -- http.request: redirects, statuses, failures --------------------------------------------------


async def test_redirects_are_followed(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/chain/3"))

    assert out["status_code"] == 200 and out["body"]["ok"] is True


async def test_redirects_can_be_left_unfollowed(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/chain/3"), follow_redirects=False)

    assert out["status_code"] == 302
    assert out["headers"]["location"] == "/chain/2"


async def test_too_many_redirects_fail(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Request, ctx, url=url(server, "/chain/5"), max_redirects=2)

    assert message.endswith("gave up after 2 redirects")


async def test_a_redirect_to_the_metadata_address_is_refused(server: TestServer, ctx: HttpContext) -> None:
    target = "http://169.254.169.254/latest/meta-data/"

    message = await fails(Request, ctx, url=url(server, f"/redirect?to={target}"), timeout="5s")

    assert message == (
        f"GET {url(server, '/redirect')}: refused to connect to 169.254.169.254: it is in "
        "169.254.0.0/16, a link-local or cloud-metadata range blocked by default; an operator can "
        "allow it with http_allow"
    )


async def test_a_link_local_url_is_refused(ctx: HttpContext) -> None:
    message = await fails(Request, ctx, url="http://169.254.10.20:8080/", timeout="5s")

    assert "refused to connect to 169.254.10.20" in message


async def test_http_deny_is_checked_after_name_resolution(server: TestServer, ctx: HttpContext) -> None:
    with_settings(ctx, http_deny=("127.0.0.0/8", "::1/128"))

    message = await fails(Request, ctx, url=f"http://localhost:{server.port}/json")

    assert "refused to connect to localhost (" in message and message.endswith(", listed in http_deny")
    assert server.app[CONNECTIONS] == []


async def test_http_allow_does_not_override_http_deny(server: TestServer, ctx: HttpContext) -> None:
    with_settings(ctx, http_deny=("127.0.0.0/8",), http_allow=("127.0.0.0/8",))

    message = await fails(Request, ctx, url=url(server, "/json"))

    assert "listed in http_deny" in message


async def test_a_slow_server_times_out(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Request, ctx, url=url(server, "/slow"), timeout="200ms")

    assert message == f"GET {url(server, '/slow')} timed out after 200ms"


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_cap_fails(server: TestServer, ctx: HttpContext, streamed: bool) -> None:
    with_settings(ctx, http_max_response_bytes=50_000)
    path = f"/big?size=200000{'&stream=1' if streamed else ''}"

    message = await fails(Request, ctx, url=url(server, path))

    assert message == "the response body is larger than 50000 bytes, the limit set by http_max_response_bytes"


async def test_a_body_at_the_cap_is_read(server: TestServer, ctx: HttpContext) -> None:
    with_settings(ctx, http_max_response_bytes=50_000)

    out = await run_task(Request, ctx, url=url(server, "/big?size=50000&stream=1"))

    assert out["body"] == "x" * 50_000


async def test_an_error_status_fails_with_status_and_snippet(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Request, ctx, url=url(server, "/status/500?token=secret"))

    assert message == (
        f"GET {url(server, '/status/500')} answered HTTP 500 Internal Server Error: "
        "status 500: database is down try later"
    )


async def test_fail_on_status_false_returns_the_error_response(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Request, ctx, url=url(server, "/status/503"), fail_on_status=False)

    assert out["status_code"] == 503
    assert out["body"].startswith("status 503")


async def test_connection_refused_names_host_and_reason(ctx: HttpContext, closed_port: int) -> None:
    message = await fails(Request, ctx, url=f"http://127.0.0.1:{closed_port}/x")

    assert message.endswith(f"could not connect to 127.0.0.1:{closed_port}: Connection refused")


async def test_an_unknown_host_names_the_host(ctx: HttpContext) -> None:
    message = await fails(Request, ctx, url="http://no-such-host.invalid/x", timeout="10s")

    assert "could not resolve host no-such-host.invalid" in message


@pytest.mark.parametrize("bad", ["ftp://example.test/x", "example.test/x", "http://"])
async def test_only_http_urls(ctx: HttpContext, bad: str) -> None:
    message = await fails(Request, ctx, url=bad)

    assert message.startswith("url must be an absolute http:// or https:// URL")


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context whose certificate (for 127.0.0.1) no client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[TestServer]:
    test_server = TestServer(make_app(), host="127.0.0.1")
    await test_server.start_server(ssl=self_signed_tls(tmp_path))
    yield test_server
    await test_server.close()


async def test_an_untrusted_certificate_fails_unless_verification_is_off(
    tls_server: TestServer, ctx: HttpContext
) -> None:
    address = url(tls_server, "/json")
    assert address.startswith("https://")

    message = await fails(Request, ctx, url=address)
    out = await run_task(Request, ctx, url=address, verify_tls=False)

    assert "the TLS certificate of 127.0.0.1 could not be verified" in message
    assert "verify_tls: false" in message
    assert out["body"] == {"ok": True, "items": [1, 2]}


# -- the address guard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::1",
        "fe80::1%1",
        "fd00:ec2::254",
        "100.100.100.200",
        "::ffff:169.254.169.254",
    ],
)
def test_link_local_and_metadata_addresses_are_blocked_by_default(address: str) -> None:
    reason = AddressPolicy().refusal(address)

    assert reason is not None and "http_allow" in reason


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "192.168.0.7", "93.184.216.34", "100.100.100.201"])
def test_everything_else_is_reachable_by_default(address: str) -> None:
    assert AddressPolicy().refusal(address) is None


def test_http_allow_lifts_the_default_block_for_its_ranges_only() -> None:
    policy = AddressPolicy.from_settings(allow=["169.254.169.254/32"], deny=[])

    assert policy.refusal("169.254.169.254") is None
    assert policy.refusal("169.254.169.253") is not None
    assert policy.refusal("100.100.100.200") is not None


def test_http_deny_adds_ranges_and_beats_http_allow() -> None:
    policy = AddressPolicy.from_settings(allow=["10.0.0.0/8"], deny=["10.0.0.0/8", "fc00::/7"])

    assert policy.refusal("10.9.9.9") == "it is in 10.0.0.0/8, listed in http_deny"
    assert policy.refusal("fd12::1") == "it is in fc00::/7, listed in http_deny"
    assert policy.refusal("11.0.0.1") is None


def test_a_bad_range_is_named() -> None:
    with pytest.raises(ValueError, match="'10.0.0.0/33' in http_deny is not an address range"):
        AddressPolicy.from_settings(allow=[], deny=["10.0.0.0/33"])


def test_the_socket_factory_refuses_before_connecting() -> None:
    policy = AddressPolicy()
    info = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("169.254.169.254", 80))

    with pytest.raises(BlockedAddress) as refused:
        policy.open_socket(info)

    assert refused.value.address == "169.254.169.254"
    with policy.open_socket((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))) as sock:
        assert sock.family == socket.AF_INET


@dataclass
class FixedAnswers(AbstractResolver):
    """A DNS that answers every name with the same addresses."""

    addresses: list[str]

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_drops_refused_answers() -> None:
    resolver = GuardedResolver(AddressPolicy(), FixedAnswers(["169.254.169.254", "127.0.0.1", "fe80::2"]))

    answers = await resolver.resolve("mixed.example", 80)

    assert [answer["host"] for answer in answers] == ["127.0.0.1"]


async def test_the_resolver_refuses_a_name_with_only_refused_answers() -> None:
    resolver = GuardedResolver(AddressPolicy(), FixedAnswers(["169.254.169.254", "fd00:ec2::254"]))

    with pytest.raises(BlockedAddress) as refused:
        await resolver.resolve("metadata.google.internal", 80)

    assert refused.value.address == "169.254.169.254"


def test_the_default_block_is_the_documented_one() -> None:
    assert set(DEFAULT_BLOCKED) == {"169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32"}


# -- http.download --------------------------------------------------------------------------------


async def test_download_streams_past_the_memory_cap(server: TestServer, ctx: HttpContext) -> None:
    with_settings(ctx, http_max_response_bytes=10_000)

    out = await run_task(Download, ctx, url=url(server, "/big?size=3000000&stream=1"), path="in/data.bin")

    assert out == {
        "path": "in/data.bin",
        "size": 3_000_000,
        "status_code": 200,
        "content_type": "application/octet-stream",
    }
    assert (ctx.workdir / "in" / "data.bin").read_bytes() == b"x" * 3_000_000


async def test_download_replaces_an_existing_file(server: TestServer, ctx: HttpContext) -> None:
    (ctx.workdir / "greeting.txt").write_text("old and longer")

    out = await run_task(Download, ctx, url=url(server, "/text"), path="greeting.txt")

    assert out["size"] == 5 and (ctx.workdir / "greeting.txt").read_text() == "hello"
    assert sorted(p.name for p in ctx.workdir.iterdir()) == ["greeting.txt"]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_download_over_max_bytes_leaves_nothing(server: TestServer, ctx: HttpContext, streamed: bool) -> None:
    path = f"/big?size=3000000{'&stream=1' if streamed else ''}"

    message = await fails(Download, ctx, url=url(server, path), path="data.bin", max_bytes=1_500_000)

    assert message == "the response body is larger than 1500000 bytes, the limit set by max_bytes"
    assert list(ctx.workdir.iterdir()) == []


async def test_download_of_an_error_saves_nothing(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Download, ctx, url=url(server, "/status/404"), path="page.html")

    assert "answered HTTP 404 Not Found: status 404: database is down" in message
    assert message.endswith("nothing was saved")
    assert list(ctx.workdir.iterdir()) == []


async def test_download_files_root_is_used_when_configured(
    server: TestServer, ctx: HttpContext, tmp_path: Path
) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    with_settings(ctx, files_root=root)

    await run_task(Download, ctx, url=url(server, "/text"), path="greeting.txt")

    assert (root / "greeting.txt").read_text() == "hello"


@pytest.mark.parametrize("path", ["../outside.txt", "/tmp/outside.txt", "a/../../outside.txt", "link/outside.txt"])
async def test_download_paths_cannot_leave_the_workdir(
    server: TestServer, ctx: HttpContext, tmp_path: Path, path: str
) -> None:
    (ctx.workdir / "link").symlink_to(tmp_path)

    await fails(Download, ctx, url=url(server, "/text"), path=path)

    assert not (tmp_path / "outside.txt").exists()
    assert server.app[CONNECTIONS] == []


# -- http.upload ----------------------------------------------------------------------------------


async def test_upload_streams_a_file_as_multipart(server: TestServer, ctx: HttpContext) -> None:
    (ctx.workdir / "reports").mkdir()
    (ctx.workdir / "reports" / "may.csv").write_text("id,total\n1,9.50\n")

    out = await run_task(
        Upload,
        ctx,
        url=url(server, "/upload"),
        path="reports/may.csv",
        field="report",
        fields={"month": "2024-05", "final": True},
    )

    assert out["status_code"] == 200
    assert out["body"] == {
        "method": "POST",
        "fields": {"month": "2024-05", "final": "true"},
        "files": {"report": {"filename": "may.csv", "content_type": "text/csv", "content": "id,total\n1,9.50\n"}},
    }


async def test_upload_sends_content_with_put(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(
        Upload, ctx, url=url(server, "/upload"), content="plain words", method="PUT", content_type="text/plain"
    )

    assert out["body"]["method"] == "PUT"
    assert out["body"]["files"] == {
        "file": {"filename": "upload.txt", "content_type": "text/plain", "content": "plain words"}
    }


async def test_upload_needs_exactly_one_source(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Upload, ctx, url=url(server, "/upload"))

    assert message == "give exactly one of path (a file to send) and content (text to send)"


async def test_upload_of_a_missing_or_escaping_file_fails(server: TestServer, ctx: HttpContext, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    (ctx.workdir / "link.txt").symlink_to(tmp_path / "secret.txt")

    assert "there is no file at path nope.txt" in await fails(Upload, ctx, url=url(server, "/upload"), path="nope.txt")
    assert "outside" in await fails(Upload, ctx, url=url(server, "/upload"), path="link.txt")


async def test_upload_error_status_fails(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Upload, ctx, url=url(server, "/status/413"), content="x", method="POST")

    assert "answered HTTP 413 Request Entity Too Large" in message


# -- http.graphql ---------------------------------------------------------------------------------


async def test_graphql_sends_query_variables_and_operation(server: TestServer, ctx: HttpContext) -> None:
    query = "query Order($id: ID!) { order(id: $id) { status } }"

    out = await run_task(
        GraphQL, ctx, url=url(server, "/graphql"), query=query, variables={"id": "42"}, operation_name="Order"
    )

    assert out["errors"] == [] and out["status_code"] == 200
    assert out["data"]["echo"] == {"query": query, "variables": {"id": "42"}, "operationName": "Order"}
    assert out["data"]["accept"].startswith("application/graphql-response+json")


async def test_graphql_errors_fail_the_task(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(GraphQL, ctx, url=url(server, "/graphql"), query="{ broken }")

    assert message == (f"GraphQL errors from {url(server, '/graphql')}: Cannot query field 'broken'; second problem")


async def test_graphql_errors_can_be_results(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(GraphQL, ctx, url=url(server, "/graphql"), query="{ forbidden }", fail_on_errors=False)

    assert out == {"data": None, "errors": [{"message": "not allowed"}], "status_code": 403}


async def test_graphql_answer_that_is_not_json_fails(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(GraphQL, ctx, url=url(server, "/graphql"), query="{ html }", fail_on_errors=False)

    assert "answered HTTP 502 without a GraphQL JSON object: <html>bad gateway</html>" in message


# -- http.check -----------------------------------------------------------------------------------


async def test_check_passes(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Check, ctx, url=url(server, "/text"), contains="hell", expected_status=[200, 204])

    assert out["ok"] is True and out["status_code"] == 200 and out["reason"] is None
    assert out["latency_ms"] >= 0


async def test_check_with_the_wrong_status_fails(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Check, ctx, url=url(server, "/status/503"))

    assert message == (
        f"check of GET {url(server, '/status/503')} failed: status 503, expected 200: "
        "status 503: database is down try later"
    )


async def test_check_without_the_text_fails(server: TestServer, ctx: HttpContext) -> None:
    message = await fails(Check, ctx, url=url(server, "/text"), contains="goodbye")

    assert message.endswith("failed: the body does not contain 'goodbye'")


async def test_check_can_report_instead_of_failing(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Check, ctx, url=url(server, "/status/500"), fail=False)

    assert out["ok"] is False and out["status_code"] == 500
    assert out["reason"].startswith("status 500, expected 200")


async def test_check_reports_an_unreachable_server(ctx: HttpContext, closed_port: int) -> None:
    out = await run_task(Check, ctx, url=f"http://127.0.0.1:{closed_port}/", fail=False)

    assert out["ok"] is False and out["status_code"] is None
    assert out["reason"].endswith("Connection refused")


async def test_check_reports_a_timeout(server: TestServer, ctx: HttpContext) -> None:
    out = await run_task(Check, ctx, url=url(server, "/slow"), timeout=0.2, fail=False)

    assert out["ok"] is False and out["reason"].endswith("timed out after 0.2s")
    assert out["latency_ms"] >= 200


async def test_check_never_hides_a_refused_address(ctx: HttpContext) -> None:
    message = await fails(Check, ctx, url="http://169.254.169.254/", fail=False)

    assert "refused to connect to 169.254.169.254" in message


# -- the manifests' examples ----------------------------------------------------------------------


def catalogue_app() -> web.Application:
    """Exactly what the examples may rely on at http://example.test (the catalogue's contract)."""

    async def upload(request: web.Request) -> web.Response:
        names = [part.name async for part in await request.multipart()]
        return web.json_response({"received": names})

    async def graphql(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"data": {"ok": True}})

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="ok")

    async def json_ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/json", json_ok)
    app.router.add_get("/text", hello)
    app.router.add_post("/upload", upload)
    app.router.add_post("/graphql", graphql)
    app.router.add_get("/status/{code}", status)
    return app


HTTP_EXAMPLES = [
    pytest.param(plugin, example, id=f"{plugin.manifest.id}[{number}]")
    for plugin in (Request, Download, Upload, GraphQL, Check)
    for number, example in enumerate(plugin.manifest.examples)
]


@pytest.mark.parametrize(("plugin", "example"), HTTP_EXAMPLES)
async def test_examples_run_against_the_example_test_paths(
    plugin: type[Plugin], example: str, ctx: HttpContext
) -> None:
    catalogue = TestServer(catalogue_app(), host="127.0.0.1")
    await catalogue.start_server()
    try:
        local = example.replace("http://example.test", url(catalogue, "").rstrip("/"))
        assert local != example, "http examples use http://example.test"
        (task,) = yaml.safe_load(local)

        out = await run_task(plugin, ctx, **task.get("properties", {}))
    finally:
        await catalogue.close()

    assert out.get("ok", True) is True


# -- through a real execution ---------------------------------------------------------------------


async def test_flow_tasks_share_one_session_that_closes_with_the_execution(
    api: Api, server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[aiohttp.ClientSession] = []
    close_session = netguard._close_session

    async def recording_close(session: aiohttp.ClientSession) -> None:
        closed.append(session)
        await close_session(session)

    monkeypatch.setattr(netguard, "_close_session", recording_close)
    base = url(server, "")
    yaml = (
        "name: http-flow\n"
        "tasks:\n"
        "  - name: first\n"
        "    type: http.request\n"
        "    properties:\n"
        f"      url: {base}/json\n"
        "  - name: second\n"
        "    type: http.request\n"
        "    properties:\n"
        f"      url: {base}/json\n"
        "      query:\n"
        "        count: '{{ outputs.first.body.items | length }}'\n"
        "  - name: posted\n"
        "    type: http.request\n"
        "    properties:\n"
        f"      url: {base}/echo\n"
        "      method: POST\n"
        "      body: {seen: '{{ outputs.first.body.ok }}'}\n"
    )

    body = await run(api, yaml)

    assert body["execution"]["status"] == "SUCCESS", [(t["taskName"], t["error"]) for t in body["tasks"]]
    tasks = {name: outputs(runs[-1]) for name, runs in tasks_by_name(body).items()}
    assert tasks["first"]["body"] == {"ok": True, "items": [1, 2]}
    assert json.loads(tasks["posted"]["body"]["raw"]) == {"seen": True}
    first, second = server.app[CONNECTIONS]
    assert first is second, "both tasks went through the execution's one pooled connection"
    await eventually(lambda: asyncio.sleep(0, first.is_closing()), timeout=5, what="the connection to close")
    assert len(closed) == 1 and closed[0].closed


async def test_a_failing_request_fails_its_task_with_the_status(api: Api, server: TestServer) -> None:
    yaml = (
        "name: http-fail\n"
        "tasks:\n"
        "  - name: call\n"
        "    type: http.request\n"
        "    properties:\n"
        f"      url: {url(server, '/status/502')}\n"
    )

    body = await run(api, yaml)

    assert body["execution"]["status"] == "FAILED"
    error = tasks_by_name(body)["call"][-1]["error"]
    assert "answered HTTP 502 Bad Gateway: status 502: database is down" in error


async def test_a_proxy_from_the_environment_is_not_used(
    server: TestServer, ctx: HttpContext, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would connect on the task's behalf, out of the address guard's sight."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    out = await run_task(Request, ctx, url=url(server, "/text"))

    assert out["body"] == "hello"
