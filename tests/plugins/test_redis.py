"""redis.*: get, set, delete, publish and raw commands against the machine's Redis.

What flows rely on: values round-trip (strings as they are, JSON when asked), expiry and the
nx/xx conditions, a subscriber really receiving what is published, binary replies that cannot
be mistaken for text, dangerous commands refused unless allowed, and failures that name the
problem without the URL: a wrong password, a refused port, a server that never answers. A
timed-out or cancelled task must leave no connection behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins.redis import DANGEROUS_COMMANDS
from workflowdev.plugins.redis import Command
from workflowdev.plugins.redis import Delete
from workflowdev.plugins.redis import Get
from workflowdev.plugins.redis import Publish
from workflowdev.plugins.redis import Set

from .test_util import FakeContext

REDIS_URL = os.environ.get("WORKFLOWDEV_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def run_task(plugin: type[Plugin], ctx: TaskContext, **properties: JSON) -> dict[str, JSON]:
    out = dict(await plugin().run(ctx, {"url": REDIS_URL, **properties}))
    errors = list(Draft202012Validator(plugin.manifest.output_schema).iter_errors(out))
    assert errors == [], errors
    return out


async def failure(plugin: type[Plugin], ctx: TaskContext, **properties: JSON) -> str:
    with pytest.raises(TaskFailed) as caught:
        await plugin().run(ctx, {"url": REDIS_URL, **properties})
    return str(caught.value)


@pytest.fixture
def ctx() -> FakeContext:
    return FakeContext()


@pytest.fixture
async def direct() -> AsyncIterator[aioredis.Redis]:
    """A client of the test's own, to set up and check around the plugins."""
    async with aioredis.Redis.from_url(REDIS_URL) as client:
        yield client


@pytest.fixture
async def prefix(direct: aioredis.Redis) -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    name = f"wf-test:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in direct.scan_iter(match=f"{name}*")]
    if keys:
        await direct.delete(*keys)


@dataclass(frozen=True)
class AclUser:
    name: str
    password: str

    def url(self, password: str | None = None) -> str:
        return f"redis://{self.name}:{password or self.password}@127.0.0.1:6379/0"


@pytest.fixture
async def acl_user(direct: aioredis.Redis) -> AsyncIterator[AclUser]:
    """A Redis user with a password (the default user has none), removed at the end."""
    user = AclUser(f"wf_{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}")
    await direct.acl_setuser(
        user.name, enabled=True, passwords=[f"+{user.password}"], keys=["*"], channels=["*"], commands=["+@all"]
    )
    yield user
    await direct.acl_deluser(user.name)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- get and set ----------------------------------------------------------------------------------


async def test_a_string_round_trips_as_it_is(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    assert await run_task(Set, ctx, key=f"{prefix}s", value="hello {{ not an expression }}") == {"set": True}

    assert await run_task(Get, ctx, key=f"{prefix}s") == {"value": "hello {{ not an expression }}", "found": True}
    assert await direct.get(f"{prefix}s") == b"hello {{ not an expression }}"


async def test_other_values_are_stored_as_json_and_read_back_with_json(
    ctx: FakeContext, prefix: str, direct: aioredis.Redis
) -> None:
    await run_task(Set, ctx, key=f"{prefix}doc", value={"rows": 42, "tags": ["a", "b"], "ok": True})
    await run_task(Set, ctx, key=f"{prefix}n", value=3.5)

    assert await direct.get(f"{prefix}doc") == b'{"rows":42,"tags":["a","b"],"ok":true}'
    assert await run_task(Get, ctx, key=f"{prefix}doc", json=True) == {
        "value": {"rows": 42, "tags": ["a", "b"], "ok": True},
        "found": True,
    }
    assert await run_task(Get, ctx, key=f"{prefix}n") == {"value": "3.5", "found": True}


async def test_json_true_stores_strings_as_json_too(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    await run_task(Set, ctx, key=f"{prefix}s", value="text", json=True)

    assert await direct.get(f"{prefix}s") == b'"text"'
    assert (await run_task(Get, ctx, key=f"{prefix}s", json=True))["value"] == "text"


async def test_a_missing_key_is_an_answer(ctx: FakeContext, prefix: str) -> None:
    assert await run_task(Get, ctx, key=f"{prefix}missing", json=True) == {"value": None, "found": False}


async def test_reading_text_as_json_fails_clearly(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    await direct.set(f"{prefix}s", "not json")

    message = await failure(Get, ctx, key=f"{prefix}s", json=True)

    assert message == f"the value of {prefix}s is not JSON; read it without json: true"


async def test_binary_values_come_back_as_base64_objects(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    await direct.set(f"{prefix}bin", b"\xff\x00\xfe")

    assert await run_task(Get, ctx, key=f"{prefix}bin") == {"value": {"base64": "/wD+"}, "found": True}


async def test_ttl_makes_the_key_expire(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    await run_task(Set, ctx, key=f"{prefix}short", value="x", ttl="1500ms")
    await run_task(Set, ctx, key=f"{prefix}long", value="x", ttl="1d")
    await run_task(Set, ctx, key=f"{prefix}forever", value="x")

    assert 0 < await direct.pttl(f"{prefix}short") <= 1500
    assert 86_000_000 < await direct.pttl(f"{prefix}long") <= 86_400_000
    assert await direct.pttl(f"{prefix}forever") == -1


async def test_nx_and_xx_decide_whether_to_write(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    assert await run_task(Set, ctx, key=f"{prefix}lock", value="first", nx=True) == {"set": True}
    assert await run_task(Set, ctx, key=f"{prefix}lock", value="second", nx=True) == {"set": False}
    assert await run_task(Set, ctx, key=f"{prefix}absent", value="x", xx=True) == {"set": False}
    assert await run_task(Set, ctx, key=f"{prefix}lock", value="third", xx=True) == {"set": True}

    assert await direct.get(f"{prefix}lock") == b"third"
    assert await direct.exists(f"{prefix}absent") == 0


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"value": "x", "nx": True, "xx": True}, "nx and xx exclude each other"),
        ({"value": "x", "ttl": "soon"}, "ttl: "),
        ({"value": "x", "ttl": 0}, "ttl must be longer than zero"),
        ({"value": float("nan")}, "NaN or an infinity"),
    ],
)
async def test_set_refuses_what_cannot_be_meant(
    ctx: FakeContext, prefix: str, direct: aioredis.Redis, properties: dict[str, JSON], message: str
) -> None:
    assert message in await failure(Set, ctx, key=f"{prefix}k", **properties)
    assert await direct.exists(f"{prefix}k") == 0


# -- delete and publish ---------------------------------------------------------------------------


async def test_delete_counts_the_keys_that_existed(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    await direct.set(f"{prefix}a", "1")
    await direct.rpush(f"{prefix}list", "x")

    assert await run_task(Delete, ctx, keys=[f"{prefix}a", f"{prefix}list", f"{prefix}never"]) == {"deleted": 2}
    assert await run_task(Delete, ctx, keys=f"{prefix}a") == {"deleted": 0}
    assert await direct.exists(f"{prefix}a", f"{prefix}list") == 0


async def test_a_subscriber_receives_what_is_published(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    channel = f"{prefix}events"
    async with direct.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"

        out = await run_task(Publish, ctx, channel=channel, message={"event": "done", "rows": 3})

        received = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
    assert out == {"receivers": 1}
    assert received is not None and json.loads(received["data"]) == {"event": "done", "rows": 3}


async def test_publishing_to_nobody_is_still_a_success(ctx: FakeContext, prefix: str) -> None:
    assert await run_task(Publish, ctx, channel=f"{prefix}empty", message="hello") == {"receivers": 0}


# -- commands -------------------------------------------------------------------------------------


async def test_commands_return_their_replies_as_json(ctx: FakeContext, prefix: str, direct: aioredis.Redis) -> None:
    key = f"{prefix}user"

    assert await run_task(Command, ctx, command=["HSET", key, "name", "Ada", "age", 36, "admin", True]) == {"result": 3}
    assert await run_task(Command, ctx, command=["HGETALL", key]) == {
        "result": {"name": "Ada", "age": "36", "admin": "true"}
    }
    await direct.rpush(f"{prefix}list", b"one", b"\xff")
    assert await run_task(Command, ctx, command=["LRANGE", f"{prefix}list", 0, -1]) == {
        "result": ["one", {"base64": "/w=="}]
    }
    assert await run_task(Command, ctx, command=["get", f"{prefix}nothing"]) == {"result": None}


async def test_a_dangerous_command_is_refused_and_not_sent(
    ctx: FakeContext, prefix: str, direct: aioredis.Redis
) -> None:
    await direct.set(f"{prefix}survivor", "still here")

    message = await failure(Command, ctx, command=["flushdb"])

    assert message == (
        "FLUSHDB is refused by default because it can wipe or swap whole databases; set "
        "allow_dangerous: true if this flow really needs it"
    )
    assert await direct.get(f"{prefix}survivor") == b"still here"


@pytest.mark.parametrize("name", sorted(DANGEROUS_COMMANDS))
async def test_every_dangerous_command_needs_consent(ctx: FakeContext, name: str) -> None:
    assert f"{name} is refused by default" in await failure(Command, ctx, command=[name.lower(), "x"])


async def test_allow_dangerous_lets_a_refused_command_through(ctx: FakeContext) -> None:
    out = await run_task(Command, ctx, command=["CONFIG", "GET", "maxmemory"], allow_dangerous=True)

    assert out == {"result": {"maxmemory": "0"}}


@pytest.mark.parametrize("name", ["SUBSCRIBE", "monitor", "HELLO"])
async def test_connection_mode_commands_never_run(ctx: FakeContext, name: str) -> None:
    message = await failure(Command, ctx, command=[name, "3"], allow_dangerous=True)

    assert message.startswith(f"{name.upper()} cannot run as a task")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["HGETALL", "{key}string"],
            "answered with an error: WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (["NOSUCHCOMMAND"], "answered with an error: unknown command 'NOSUCHCOMMAND'"),
    ],
)
async def test_redis_errors_fail_the_task_with_redis_own_words(
    ctx: FakeContext, prefix: str, direct: aioredis.Redis, command: list[str], message: str
) -> None:
    await direct.set(f"{prefix}string", "x")

    error = await failure(Command, ctx, command=[part.replace("{key}", prefix) for part in command])

    assert error.startswith("Redis at 127.0.0.1:6379 ") and message in error


# -- connections ----------------------------------------------------------------------------------


async def test_a_wrong_password_fails_authentication_without_showing_it(ctx: FakeContext, acl_user: AclUser) -> None:
    good = await Command().run(ctx, {"url": acl_user.url(), "command": ["PING"]})
    assert good == {"result": True}

    with pytest.raises(TaskFailed) as caught:
        await Get().run(ctx, {"url": acl_user.url(f"wrong-{acl_user.password}"), "key": "k"})

    message = str(caught.value)
    assert message == (
        f"authentication failed for user '{acl_user.name}' at 127.0.0.1:6379: "
        "invalid username-password pair or user is disabled."
    )


async def test_a_refused_connection_names_host_and_port(ctx: FakeContext, closed_port: int) -> None:
    with pytest.raises(TaskFailed) as caught:
        await Get().run(ctx, {"url": f"redis://user:secret-pw@127.0.0.1:{closed_port}/0", "key": "k"})

    assert str(caught.value) == f"could not connect to 127.0.0.1:{closed_port}: Connection refused"


@pytest.mark.parametrize(
    "url",
    ["http://user:secret-pw@127.0.0.1/0", "redis://user:secret-pw@127.0.0.1:notaport/0", "", "memcached://secret-pw@x"],
)
async def test_a_url_that_is_not_redis_is_refused_without_being_echoed(ctx: FakeContext, url: str) -> None:
    with pytest.raises(TaskFailed) as caught:
        await Get().run(ctx, {"url": url, "key": "k"})

    assert "url" in str(caught.value) and "secret-pw" not in str(caught.value)


async def test_without_the_client_library_the_task_names_the_extra(
    ctx: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)

    assert "pip install 'workflowdev[connectors]'" in await failure(Get, ctx, key="k")


@dataclass
class SilentServer:
    port: int
    connected: asyncio.Event
    hung_up: asyncio.Event


@pytest.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    """Accepts connections and never answers: the Redis that hangs."""
    connected, hung_up = asyncio.Event(), asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        connected.set()
        while await reader.read(4096):
            pass  # swallow the command, say nothing
        hung_up.set()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield SilentServer(server.sockets[0].getsockname()[1], connected, hung_up)
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_silent_server_times_out_and_is_hung_up_on(ctx: FakeContext, silent_server: SilentServer) -> None:
    url = f"redis://user:secret-pw@127.0.0.1:{silent_server.port}/0"

    with pytest.raises(TaskFailed) as caught:
        await Get().run(ctx, {"url": url, "key": "k", "timeout": "300ms"})

    assert str(caught.value) == f"timed out after 300ms waiting for Redis at 127.0.0.1:{silent_server.port}"
    await asyncio.wait_for(silent_server.hung_up.wait(), timeout=5)


async def test_cancelling_a_blocked_command_closes_its_connection(
    ctx: FakeContext, prefix: str, direct: aioredis.Redis
) -> None:
    key = f"{prefix}queue"

    async def blocked_clients() -> int:
        clients = await direct.client_list()
        return sum(1 for client in clients if client.get("cmd") == "blpop")

    task = asyncio.create_task(Command().run(ctx, {"url": REDIS_URL, "command": ["BLPOP", key, 0], "timeout": "1m"}))
    await eventually(blocked_clients, timeout=5, what="BLPOP to block")

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: _is_zero(blocked_clients()), timeout=5, what="the blocked connection to close")


async def _is_zero(count: Any) -> bool:
    return await count == 0


# -- the examples ---------------------------------------------------------------------------------


async def test_every_example_runs_against_the_local_server(ctx: FakeContext, direct: aioredis.Redis) -> None:
    """The catalogue's setup: a REDIS_URL credential; the examples use keys under workflowdev:example:."""
    try:
        for plugin in (Get, Set, Delete, Publish, Command):
            for number, example in enumerate(plugin.manifest.examples):
                task = yaml.safe_load(example.replace("${REDIS_URL}", REDIS_URL))[0]
                try:
                    await run_task(plugin, ctx, **task["properties"])
                except (TaskFailed, AssertionError) as exc:
                    pytest.fail(f"example {number} of {plugin.manifest.id} failed: {exc}")
    finally:
        keys = [key async for key in direct.scan_iter(match="workflowdev:example:*")]
        if keys:
            await direct.delete(*keys)


# -- through a real execution ---------------------------------------------------------------------


async def test_a_flow_uses_redis_through_a_credential_and_never_shows_it(
    api: Api, acl_user: AclUser, prefix: str
) -> None:
    for name, value in (("REDIS_URL", acl_user.url()), ("REDIS_BAD_URL", acl_user.url(f"not-{acl_user.password}"))):
        reply = await api.post("/api/v1/credentials", json={"name": name, "value": value})
        assert reply.status == 201, reply.body
    flow = f"""
name: redis-flow
tasks:
  - name: save
    type: redis.set
    properties:
      url: ${{REDIS_URL}}
      key: {prefix}state
      value: {{cursor: 42}}
  - name: load
    type: redis.get
    properties:
      url: ${{REDIS_URL}}
      key: {prefix}state
      json: true
  - name: bump
    type: redis.command
    properties:
      url: ${{REDIS_URL}}
      command: [INCRBY, {prefix}counter, "{{{{ outputs.load.value.cursor }}}}"]
  - name: denied
    type: redis.get
    allow_failure: true
    properties:
      url: ${{REDIS_BAD_URL}}
      key: {prefix}state
  - name: cleanup
    type: redis.delete
    properties:
      url: ${{REDIS_URL}}
      keys: [{prefix}state, {prefix}counter]
"""
    body = await run(api, flow)

    tasks = tasks_by_name(body)
    assert outputs(tasks["load"][-1]) == {"value": {"cursor": 42}, "found": True}
    assert outputs(tasks["bump"][-1]) == {"result": 42}
    assert outputs(tasks["cleanup"][-1]) == {"deleted": 2}
    denied = tasks["denied"][-1]
    assert denied["status"] == "FAILED"
    assert denied["error"] == (
        f"authentication failed for user '{acl_user.name}' at 127.0.0.1:6379: "
        "invalid username-password pair or user is disabled."
    )
    logs = await api.get(f"/api/v1/executions/{body['execution']['id']}/logs")
    assert logs.status == 200
    assert [text for text in (json.dumps(body), json.dumps(logs.body)) if acl_user.password in text] == []
