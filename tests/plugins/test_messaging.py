"""messaging: nats.*, mqtt.* and amqp.* against the machine's real NATS, Mosquitto and RabbitMQ.

Every test uses its own subjects, topics and queues (uuid) and removes what it leaves on a
broker. Conditions the local brokers cannot produce (they accept any NATS or MQTT credentials)
come from tiny protocol servers of our own: one that refuses the login, one that accepts TCP
and never says a word. A TCP forwarder in front of a real broker tells whether a task's
connection is really gone after the task ends or is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

import aio_pika
import aiomqtt
import pytest
import yaml
from jsonschema import Draft202012Validator
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._brokers import BrokerUrl
from workflowdev.plugins._toolkit import CONNECTORS_HINT
from workflowdev.plugins.messaging import PLUGINS
from workflowdev.plugins.messaging import AmqpPublish
from workflowdev.plugins.messaging import AmqpReceive
from workflowdev.plugins.messaging import MqttPublish
from workflowdev.plugins.messaging import MqttReceive
from workflowdev.plugins.messaging import NatsPublish
from workflowdev.plugins.messaging import NatsRequest

from .test_util import FakeContext

NATS_URL = "nats://127.0.0.1:4222"
MQTT_URL = "mqtt://127.0.0.1:1883"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REFUSED_PORT = 1
"""Nothing listens on port 1 of this machine: connecting is refused at once."""


def unique(prefix: str, separator: str = ".") -> str:
    return f"{prefix}{separator}{uuid.uuid4().hex}"


async def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait for `check()` to hold, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def everything_said(ctx: FakeContext, error: BaseException | None = None) -> str:
    """The task's log lines and error: where a password must never show."""
    return "\n".join([message for _, message in ctx.log.lines] + ([str(error)] if error else []))


def as_documented(plugin: type[Plugin], outputs_: Any) -> Any:
    """`outputs_`, after checking that they are exactly what the manifest's outputSchema says."""
    errors = [error.message for error in Draft202012Validator(plugin.manifest.output_schema).iter_errors(outputs_)]
    assert errors == [], errors
    return outputs_


@pytest.fixture
def ctx() -> FakeContext:
    return FakeContext()


# -- servers of our own ---------------------------------------------------------------------------


class Listener:
    """A local TCP server that counts the connections it accepted and those the client closed."""

    def __init__(self, handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
        self._handle = handle
        self.accepted = 0
        self.closed_by_client = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()  # the handlers see the end of their streams and return
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 5)
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def open(self) -> int:
        return self.accepted - self.closed_by_client

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            await self._handle(reader, writer)
        finally:
            writer.close()


async def drain_until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


def silent_server() -> Listener:
    """Accepts connections and never answers; notes when the client hangs up."""
    listener: Listener

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await drain_until_eof(reader)
        listener.closed_by_client += 1

    listener = Listener(handle)
    return listener


def forwarder(upstream_port: int) -> Listener:
    """Passes bytes both ways to a real broker; notes when the client side hangs up."""
    listener: Listener

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    target.write(data)
                    await target.drain()
            except ConnectionError:
                pass
            finally:
                target.close()

        broker_to_client = asyncio.create_task(pipe(upstream_reader, writer))
        try:
            await pipe(reader, upstream_writer)
            listener.closed_by_client += 1
        finally:
            await broker_to_client

    listener = Listener(handle)
    return listener


def fake_mqtt_broker_refusing_logins() -> Listener:
    """Reads a CONNECT and answers CONNACK 5 (not authorized), as a broker with a password file does."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(bytes([0x20, 0x02, 0x00, 0x05]))
        await writer.drain()

    return Listener(handle)


def fake_nats_server(
    *, refuse_login: bool = False, deny_publish: bool = False, max_payload: int = 1024 * 1024
) -> Listener:
    """Speaks just enough of the NATS protocol: INFO, PING/PONG, and the refusals a real server sends."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = {"server_id": "fake", "version": "2.9.10", "headers": True, "max_payload": max_payload, "proto": 1}
        writer.write(f"INFO {json.dumps(info)}\r\n".encode())
        while line := await reader.readline():
            op, *args = line.decode().split()
            if op == "CONNECT" and refuse_login:
                writer.write(b"-ERR 'Authorization Violation'\r\n")
                await writer.drain()
                return
            if op == "PING":
                writer.write(b"PONG\r\n")
            elif op in ("PUB", "HPUB"):
                await reader.readexactly(int(args[-1]) + 2)
                if deny_publish:
                    writer.write(f"-ERR 'Permissions Violation for Publish to \"{args[0]}\"'\r\n".encode())
            await writer.drain()

    return Listener(handle)


# -- URLs and the optional extra ------------------------------------------------------------------


def test_a_url_names_its_server_without_user_or_password() -> None:
    url = BrokerUrl.parse("amqp://app:s%40cret-pw@rabbit.internal/orders", {"amqp": 5672}, "amqp://…")

    assert (url.host, url.port, url.username, url.password) == ("rabbit.internal", 5672, "app", "s@cret-pw")
    assert url.where == "amqp://rabbit.internal:5672/orders"
    assert "s@cret-pw" not in repr(url) and "s%40cret-pw" not in repr(url)


def test_scrub_removes_the_password_in_every_spelling() -> None:
    url = BrokerUrl.parse("amqp://app:s%40cret-pw@rabbit.internal/", {"amqp": 5672}, "amqp://…")

    said = url.scrub("login app:s@cret-pw failed; retried amqp://app:s%40cret-pw@rabbit.internal/")

    assert said == "login app:*** failed; retried ***"


@pytest.mark.parametrize(
    "value",
    [
        "http://user:pa55word-x@host/",
        "amqp://user:pa55word-x@host:port/",
        "user:pa55word-x@host",
        "amqp://user:pa55word-x@/",
    ],
)
def test_a_bad_url_is_refused_without_being_echoed(value: str) -> None:
    with pytest.raises(TaskFailed) as failure:
        BrokerUrl.parse(value, {"amqp": 5672, "amqps": 5671}, "amqp://user:password@host:5672/vhost")

    assert "pa55word-x" not in str(failure.value)
    assert "amqp://user:password@host:5672/vhost" in str(failure.value)


@pytest.mark.parametrize(
    ("plugin", "properties", "module"),
    [
        (NatsPublish, {"url": NATS_URL, "subject": "a", "message": "x"}, "nats.aio.client"),
        (NatsRequest, {"url": NATS_URL, "subject": "a"}, "nats.errors"),
        (MqttPublish, {"url": MQTT_URL, "topic": "a", "message": "x"}, "aiomqtt"),
        (MqttReceive, {"url": MQTT_URL, "topic": "a"}, "aiomqtt"),
        (AmqpPublish, {"url": AMQP_URL, "routing_key": "a", "message": "x"}, "aio_pika"),
        (AmqpReceive, {"url": AMQP_URL, "queue": "a"}, "aiormq.exceptions"),
    ],
)
async def test_without_the_connectors_extra_the_task_says_what_to_install(
    ctx: FakeContext, monkeypatch: pytest.MonkeyPatch, plugin: type[Plugin], properties: dict[str, JSON], module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an absent package looks like to `import`

    with pytest.raises(TaskFailed, match="connectors") as failure:
        await plugin().run(ctx, properties)

    assert str(failure.value) == CONNECTORS_HINT


# -- NATS -----------------------------------------------------------------------------------------


@pytest.fixture
async def nats() -> AsyncIterator[NatsClient]:
    client = NatsClient()
    await client.connect(NATS_URL)
    yield client
    await client.close()


async def test_nats_publish_sends_json_text_and_headers(ctx: FakeContext, nats: NatsClient) -> None:
    subject = unique("wfdtest.orders")
    subscription = await nats.subscribe(subject)
    await nats.flush()

    outputs_ = as_documented(
        NatsPublish,
        await NatsPublish().run(
            ctx,
            {
                "url": NATS_URL,
                "subject": subject,
                "message": {"order": 7, "items": ["a"]},
                "headers": {"source": "wf", "n": 3},
            },
        ),
    )

    assert outputs_ == {"published": True}
    message = await subscription.next_msg(timeout=5)
    assert message.data == b'{"order":7,"items":["a"]}'
    assert message.headers == {"source": "wf", "n": "3"}
    assert ctx.log.lines == [("info", f"published 25 bytes to {subject} on nats://127.0.0.1:4222")]


async def test_nats_publish_sends_text_as_it_is(ctx: FakeContext, nats: NatsClient) -> None:
    subject = unique("wfdtest.text")
    subscription = await nats.subscribe(subject)
    await nats.flush()

    await NatsPublish().run(ctx, {"url": NATS_URL, "subject": subject, "message": "héllo {not json"})

    assert (await subscription.next_msg(timeout=5)).data == "héllo {not json".encode()


async def test_nats_publish_over_the_servers_max_payload_fails_clearly(ctx: FakeContext, nats: NatsClient) -> None:
    subject = unique("wfdtest.big")
    subscription = await nats.subscribe(subject)
    await nats.flush()
    limit = nats.max_payload
    assert limit == 1024 * 1024, "the local server runs with the default max_payload"

    await NatsPublish().run(ctx, {"url": NATS_URL, "subject": subject, "message": "x" * limit})
    with pytest.raises(TaskFailed) as failure:
        await NatsPublish().run(ctx, {"url": NATS_URL, "subject": subject, "message": "x" * (limit + 1)})

    assert str(failure.value) == (
        f"the message is {limit + 1} bytes, more than the {limit} bytes the server at "
        "nats://127.0.0.1:4222 accepts (its max_payload)"
    )
    assert len((await subscription.next_msg(timeout=5)).data) == limit
    with pytest.raises(TimeoutError):
        await subscription.next_msg(timeout=0.2)


async def test_nats_max_payload_is_the_one_the_server_announces(ctx: FakeContext) -> None:
    async with fake_nats_server(max_payload=16) as server:
        with pytest.raises(TaskFailed, match="the message is 17 bytes, more than the 16 bytes"):
            await NatsPublish().run(
                ctx, {"url": f"nats://127.0.0.1:{server.port}", "subject": "a", "message": "x" * 17}
            )


@pytest.mark.parametrize("subject", ["orders.*", "orders.>", "orders..new", "has space", ".orders", ""])
async def test_nats_publish_refuses_subjects_one_cannot_publish_to(ctx: FakeContext, subject: str) -> None:
    async with silent_server() as server:
        with pytest.raises(TaskFailed, match="cannot be published to"):
            await NatsPublish().run(ctx, {"url": f"nats://127.0.0.1:{server.port}", "subject": subject, "message": "x"})

        assert server.accepted == 0, "a bad subject is refused before connecting"


async def test_nats_a_refusal_by_the_server_fails_the_publish(ctx: FakeContext) -> None:
    async with fake_nats_server(deny_publish=True) as server:
        port = server.port
        with pytest.raises(TaskFailed) as failure:
            await NatsPublish().run(
                ctx, {"url": f"nats://127.0.0.1:{port}", "subject": "secret.things", "message": "x"}
            )

    assert str(failure.value).startswith(f"the server at nats://127.0.0.1:{port} refused: ")
    assert 'permissions violation for publish to "secret.things"' in str(failure.value).lower()


async def test_nats_request_returns_the_reply_and_its_headers(ctx: FakeContext, nats: NatsClient) -> None:
    subject = unique("wfdtest.lookup")

    async def answer(message: Msg) -> None:
        request = json.loads(message.data)
        reply = json.dumps({"sku": request["sku"], "stock": 4}).encode()
        await nats.publish(message.reply, reply, headers={"served-by": "test"})

    await nats.subscribe(subject, cb=answer)
    await nats.flush()

    outputs_ = as_documented(
        NatsRequest, await NatsRequest().run(ctx, {"url": NATS_URL, "subject": subject, "message": {"sku": "A-1"}})
    )

    assert outputs_ == {"reply": '{"sku": "A-1", "stock": 4}', "encoding": "utf-8", "headers": {"served-by": "test"}}


async def test_nats_request_returns_a_binary_reply_as_base64(ctx: FakeContext, nats: NatsClient) -> None:
    subject = unique("wfdtest.binary")

    async def answer(message: Msg) -> None:
        await message.respond(b"\xff\x00\xfe")

    await nats.subscribe(subject, cb=answer)
    await nats.flush()

    outputs_ = await NatsRequest().run(ctx, {"url": NATS_URL, "subject": subject})

    assert outputs_ == {"reply": "/wD+", "encoding": "base64", "headers": {}}


async def test_nats_request_without_responders_fails_at_once(ctx: FakeContext) -> None:
    subject = unique("wfdtest.nobody")
    started = time.monotonic()

    with pytest.raises(TaskFailed) as failure:
        await NatsRequest().run(ctx, {"url": NATS_URL, "subject": subject, "timeout": "10s"})

    assert str(failure.value) == f"no responders: nobody on nats://127.0.0.1:4222 answers requests on {subject}"
    assert time.monotonic() - started < 5


async def test_nats_request_to_a_silent_responder_times_out(ctx: FakeContext, nats: NatsClient) -> None:
    subject = unique("wfdtest.silent")
    await nats.subscribe(subject)  # subscribed, so there is a responder, which never answers
    await nats.flush()

    with pytest.raises(TaskFailed) as failure:
        await NatsRequest().run(ctx, {"url": NATS_URL, "subject": subject, "timeout": "300ms"})

    assert str(failure.value) == f"timed out after 300ms waiting for a reply on {subject} from nats://127.0.0.1:4222"


@pytest.mark.parametrize("plugin", [NatsPublish, NatsRequest])
async def test_nats_refused_connection(ctx: FakeContext, plugin: type[Plugin]) -> None:
    url = f"nats://app:n4ts-pw-9@127.0.0.1:{REFUSED_PORT}"

    with pytest.raises(TaskFailed) as failure:
        await plugin().run(ctx, {"url": url, "subject": "a", "message": "x"})

    assert str(failure.value) == f"could not connect to nats://127.0.0.1:{REFUSED_PORT}: connection refused"


@pytest.mark.parametrize("plugin", [NatsPublish, NatsRequest])
async def test_nats_a_server_that_never_answers_times_out_and_is_hung_up_on(
    ctx: FakeContext, plugin: type[Plugin]
) -> None:
    async with silent_server() as server:
        with pytest.raises(TaskFailed) as failure:
            await plugin().run(
                ctx, {"url": f"nats://127.0.0.1:{server.port}", "subject": "a", "message": "x", "timeout": "300ms"}
            )

        assert str(failure.value) == f"timed out after 300ms connecting to nats://127.0.0.1:{server.port}"
        await until(lambda: server.accepted >= 1 and server.open == 0, "the client to hang up")


async def test_nats_cancelled_request_ends_promptly_and_disconnects(ctx: FakeContext, nats: NatsClient) -> None:
    subject = unique("wfdtest.slow")
    asked = asyncio.Event()

    async def never_answer(message: Msg) -> None:
        asked.set()

    await nats.subscribe(subject, cb=never_answer)
    await nats.flush()
    async with forwarder(4222) as proxy:
        task = asyncio.create_task(
            NatsRequest().run(ctx, {"url": f"nats://127.0.0.1:{proxy.port}", "subject": subject, "timeout": "1h"})
        )
        async with asyncio.timeout(5):
            await asked.wait()

        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert time.monotonic() - started < 2
        await until(lambda: proxy.open == 0, "the connection to close", timeout=2)


async def test_nats_wrong_credentials_fail_without_showing_the_password(ctx: FakeContext) -> None:
    async with fake_nats_server(refuse_login=True) as server:
        port = server.port
        with pytest.raises(TaskFailed) as failure:
            await NatsPublish().run(
                ctx, {"url": f"nats://app:n4ts-pw-9@127.0.0.1:{port}", "subject": "a", "message": "x"}
            )

    assert str(failure.value).startswith(f"authentication failed on nats://127.0.0.1:{port} as user 'app'")
    assert "n4ts-pw-9" not in everything_said(ctx, failure.value)


async def test_nats_password_stays_out_of_the_log(ctx: FakeContext) -> None:
    # The local server ignores credentials, so a URL with a password connects.
    await NatsPublish().run(
        ctx, {"url": "nats://app:n4ts-pw-9@127.0.0.1:4222", "subject": unique("wfdtest.pw"), "message": "x"}
    )

    assert ctx.log.lines and "n4ts-pw-9" not in everything_said(ctx)


# -- MQTT -----------------------------------------------------------------------------------------


@pytest.fixture
async def mqtt() -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=unique("wfdtest", "-")[:23]) as client:
        yield client


@pytest.fixture
async def retained(mqtt: aiomqtt.Client) -> AsyncIterator[list[str]]:
    """Topics whose retained message the test leaves; cleared afterwards (an empty retained message)."""
    topics: list[str] = []
    yield topics
    for topic in topics:
        await mqtt.publish(topic, b"", qos=1, retain=True)


async def next_message(client: aiomqtt.Client, timeout: float = 5) -> aiomqtt.Message:
    async with asyncio.timeout(timeout):
        return await anext(aiter(client.messages))


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_mqtt_publish_delivers_with_the_qos_asked_for(ctx: FakeContext, mqtt: aiomqtt.Client, qos: int) -> None:
    topic = unique("wfdtest/readings", "/")
    await mqtt.subscribe(topic, qos=2)

    outputs_ = await MqttPublish().run(ctx, {"url": MQTT_URL, "topic": topic, "message": {"celsius": 21.5}, "qos": qos})

    assert outputs_ == {"published": True}
    message = await next_message(mqtt)
    assert (message.payload, message.qos, message.retain) == (b'{"celsius":21.5}', qos, False)
    assert ctx.log.lines == [("info", f"published 16 bytes to {topic} on mqtt://127.0.0.1:1883 (qos {qos})")]


async def test_mqtt_retained_message_is_what_a_later_receive_gets(ctx: FakeContext, retained: list[str]) -> None:
    topic = unique("wfdtest/state", "/")
    retained.append(topic)

    as_documented(
        MqttPublish, await MqttPublish().run(ctx, {"url": MQTT_URL, "topic": topic, "message": "on", "retain": True})
    )
    outputs_ = as_documented(
        MqttReceive, await MqttReceive().run(ctx, {"url": MQTT_URL, "topic": topic, "timeout": "5s"})
    )

    assert outputs_ == {
        "messages": [{"topic": topic, "payload": "on", "encoding": "utf-8", "qos": 1, "retain": True}],
        "count": 1,
    }


async def test_mqtt_receive_filters_and_stops_at_max_messages(
    ctx: FakeContext, mqtt: aiomqtt.Client, retained: list[str]
) -> None:
    base = unique("wfdtest/site", "/")
    for room in ("hall", "kitchen", "attic"):
        topic = f"{base}/{room}/temperature"
        retained.append(topic)
        await mqtt.publish(topic, room.encode(), qos=1, retain=True)
    await mqtt.publish(f"{base}/hall/humidity", b"not me", qos=1)
    started = time.monotonic()

    outputs_ = await MqttReceive().run(
        ctx, {"url": MQTT_URL, "topic": f"{base}/+/temperature", "max_messages": 2, "timeout": "30s"}
    )

    assert outputs_["count"] == 2 and len(outputs_["messages"]) == 2
    assert {m["payload"] for m in outputs_["messages"]} <= {"hall", "kitchen", "attic"}
    assert time.monotonic() - started < 10, "returns as soon as max_messages have arrived"


async def test_mqtt_receive_gets_messages_published_while_it_waits(ctx: FakeContext, mqtt: aiomqtt.Client) -> None:
    topic = unique("wfdtest/live", "/")
    receiving = asyncio.create_task(
        MqttReceive().run(ctx, {"url": MQTT_URL, "topic": topic, "qos": 2, "timeout": "20s"})
    )
    deadline = time.monotonic() + 10
    while not receiving.done():  # publish until the subscription is in place and the task has one
        assert time.monotonic() < deadline, "the receive never got a message"
        await mqtt.publish(topic, b"\x00\xffraw", qos=0)
        await asyncio.wait([receiving], timeout=0.05)

    outputs_ = receiving.result()

    assert outputs_["messages"] == [
        {"topic": topic, "payload": "AP9yYXc=", "encoding": "base64", "qos": 0, "retain": False}
    ]


async def test_mqtt_receive_with_nothing_returns_count_zero(ctx: FakeContext) -> None:
    topic = unique("wfdtest/quiet", "/")

    outputs_ = await MqttReceive().run(ctx, {"url": MQTT_URL, "topic": topic, "timeout": "200ms"})

    assert outputs_ == {"messages": [], "count": 0}


async def test_mqtt_receive_can_treat_nothing_as_a_failure(ctx: FakeContext) -> None:
    topic = unique("wfdtest/quiet", "/")

    with pytest.raises(TaskFailed) as failure:
        await MqttReceive().run(ctx, {"url": MQTT_URL, "topic": topic, "timeout": "200ms", "fail_on_empty": True})

    assert str(failure.value) == f"no message arrived from {topic} on mqtt://127.0.0.1:1883 within 200ms"


@pytest.mark.parametrize("topic", ["a/#/b", "a/b#", "a+/b", ""])
async def test_mqtt_receive_refuses_bad_filters(ctx: FakeContext, topic: str) -> None:
    with pytest.raises(TaskFailed, match="not a valid topic filter"):
        await MqttReceive().run(ctx, {"url": MQTT_URL, "topic": topic})


@pytest.mark.parametrize("topic", ["a/+", "a/#", ""])
async def test_mqtt_publish_refuses_wildcards(ctx: FakeContext, topic: str) -> None:
    with pytest.raises(TaskFailed, match="cannot be published to"):
        await MqttPublish().run(ctx, {"url": MQTT_URL, "topic": topic, "message": "x"})


@pytest.mark.parametrize(
    ("plugin", "properties"),
    [(MqttPublish, {"topic": "a", "message": "x"}), (MqttReceive, {"topic": "a"})],
)
async def test_mqtt_refused_connection(ctx: FakeContext, plugin: type[Plugin], properties: dict[str, JSON]) -> None:
    with pytest.raises(TaskFailed) as failure:
        await plugin().run(ctx, {"url": f"mqtt://app:mq-pw-77@127.0.0.1:{REFUSED_PORT}", **properties})

    assert str(failure.value) == f"could not connect to mqtt://127.0.0.1:{REFUSED_PORT}: connection refused"


@pytest.mark.parametrize(
    ("plugin", "properties"),
    [
        (MqttPublish, {"topic": "a", "message": "x", "timeout": "300ms"}),
        (MqttReceive, {"topic": "a", "connect_timeout": "300ms"}),
    ],
)
async def test_mqtt_a_broker_that_never_answers_times_out_and_is_hung_up_on(
    ctx: FakeContext, plugin: type[Plugin], properties: dict[str, JSON]
) -> None:
    async with silent_server() as server:
        with pytest.raises(TaskFailed) as failure:
            await plugin().run(ctx, {"url": f"mqtt://127.0.0.1:{server.port}", **properties})

        assert str(failure.value) == f"timed out after 300ms connecting to mqtt://127.0.0.1:{server.port}"
        await until(lambda: server.accepted == 1 and server.open == 0, "the client to hang up")


async def test_mqtt_cancelled_while_connecting_hangs_up(ctx: FakeContext) -> None:
    async with silent_server() as server:
        task = asyncio.create_task(MqttReceive().run(ctx, {"url": f"mqtt://127.0.0.1:{server.port}", "topic": "a"}))
        await until(lambda: server.accepted == 1, "the connection")

        task.cancel()

        with pytest.raises(asyncio.CancelledError):
            await task
        await until(lambda: server.open == 0, "the client to hang up")


async def test_mqtt_wrong_credentials_fail_without_showing_the_password(ctx: FakeContext) -> None:
    async with fake_mqtt_broker_refusing_logins() as server:
        port = server.port
        with pytest.raises(TaskFailed) as failure:
            await MqttPublish().run(ctx, {"url": f"mqtt://app:mq-pw-77@127.0.0.1:{port}", "topic": "a", "message": "x"})

    assert str(failure.value).startswith(f"authentication failed on mqtt://127.0.0.1:{port} as user 'app'")
    assert "mq-pw-77" not in everything_said(ctx, failure.value)


async def test_mqtt_cancelled_receive_ends_promptly_and_disconnects(ctx: FakeContext) -> None:
    async with forwarder(1883) as proxy:
        task = asyncio.create_task(
            MqttReceive().run(
                ctx, {"url": f"mqtt://127.0.0.1:{proxy.port}", "topic": unique("wfdtest/c", "/"), "timeout": "1h"}
            )
        )
        await until(lambda: any("waiting up to 1h" in line for _, line in ctx.log.lines), "the subscription")
        assert proxy.open == 1

        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert time.monotonic() - started < 2
        await until(lambda: proxy.open == 0, "the connection to close", timeout=2)


# -- AMQP -----------------------------------------------------------------------------------------


@pytest.fixture
async def rabbit() -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        yield await connection.channel()


@pytest.fixture
async def queue(rabbit: aio_pika.abc.AbstractChannel) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    declared = await rabbit.declare_queue(unique("wfdtest"), auto_delete=False)
    yield declared
    await declared.delete(if_unused=False, if_empty=False)


async def ready_count(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    """How many messages wait in a queue, as the broker says (a passive declare)."""
    declared = await channel.declare_queue(name, passive=True)
    assert declared.declaration_result.message_count is not None
    return declared.declaration_result.message_count


async def put(channel: aio_pika.abc.AbstractChannel, queue_name: str, *bodies: bytes) -> None:
    for body in bodies:
        await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue_name)


async def test_amqp_publish_delivers_body_headers_and_properties(
    ctx: FakeContext, queue: aio_pika.abc.AbstractQueue
) -> None:
    outputs_ = as_documented(
        AmqpPublish,
        await AmqpPublish().run(
            ctx,
            {
                "url": AMQP_URL,
                "routing_key": queue.name,
                "message": {"order": 7},
                "headers": {"source": "wf", "try": 2, "tags": ["a"]},
            },
        ),
    )

    assert outputs_ == {"published": True}
    message = await queue.get(timeout=5)
    assert message.body == b'{"order":7}'
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.headers == {"source": "wf", "try": 2, "tags": ["a"]}
    assert ctx.log.lines == [
        (
            "info",
            f"published 11 bytes to the default exchange with routing key {queue.name!r} on amqp://127.0.0.1:5672/",
        )
    ]
    await message.ack()


async def test_amqp_publish_text_through_an_exchange_not_persistent(
    ctx: FakeContext, queue: aio_pika.abc.AbstractQueue
) -> None:
    key = unique("wfdtest.event")
    await queue.bind("amq.topic", routing_key=key)

    await AmqpPublish().run(
        ctx, {"url": AMQP_URL, "exchange": "amq.topic", "routing_key": key, "message": "plain", "persistent": False}
    )

    message = await queue.get(timeout=5)
    assert (message.body, message.content_type, message.exchange, message.routing_key) == (
        b"plain",
        "text/plain",
        "amq.topic",
        key,
    )
    assert message.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
    await message.ack()


async def test_amqp_publish_nobody_takes_fails_unless_not_mandatory(ctx: FakeContext) -> None:
    key = unique("wfdtest.nobody")

    with pytest.raises(TaskFailed) as failure:
        await AmqpPublish().run(ctx, {"url": AMQP_URL, "routing_key": key, "message": "x"})
    assert str(failure.value) == (
        f"no queue took the message sent to the default exchange with routing key {key!r} on "
        "amqp://127.0.0.1:5672/ (the broker returned it); set mandatory: false to let it be dropped"
    )

    assert await AmqpPublish().run(ctx, {"url": AMQP_URL, "routing_key": key, "message": "x", "mandatory": False}) == {
        "published": True
    }


async def test_amqp_publish_to_a_missing_exchange_fails_and_the_broker_stays_up(ctx: FakeContext) -> None:
    exchange = unique("wfdtest.nowhere")

    with pytest.raises(TaskFailed) as failure:
        await AmqpPublish().run(ctx, {"url": AMQP_URL, "exchange": exchange, "routing_key": "k", "message": "x"})

    assert str(failure.value) == (
        f"publishing to {exchange!r} with routing key 'k' on amqp://127.0.0.1:5672/ failed: "
        f"NOT_FOUND - no exchange {exchange!r} in vhost '/'"
    )
    assert await AmqpPublish().run(
        ctx, {"url": AMQP_URL, "exchange": "amq.topic", "routing_key": "k", "message": "x", "mandatory": False}
    )


async def test_amqp_a_message_the_broker_refuses_fails_the_publish(
    ctx: FakeContext, rabbit: aio_pika.abc.AbstractChannel
) -> None:
    full = await rabbit.declare_queue(
        unique("wfdtest.full"), arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    )
    try:
        await AmqpPublish().run(ctx, {"url": AMQP_URL, "routing_key": full.name, "message": "first"})
        with pytest.raises(TaskFailed) as failure:
            await AmqpPublish().run(ctx, {"url": AMQP_URL, "routing_key": full.name, "message": "second"})
    finally:
        await full.delete(if_unused=False, if_empty=False)

    assert str(failure.value).startswith(
        "the broker at amqp://127.0.0.1:5672/ refused the message sent to the default exchange"
    )


async def test_amqp_publish_to_the_default_exchange_needs_a_routing_key(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed, match="routing_key must name the queue"):
        await AmqpPublish().run(ctx, {"url": AMQP_URL, "message": "x"})


async def test_amqp_receive_takes_max_messages_and_acknowledges_them(
    ctx: FakeContext, rabbit: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue
) -> None:
    await put(rabbit, queue.name, b"one", b"two", b"three")

    outputs_ = await AmqpReceive().run(ctx, {"url": AMQP_URL, "queue": queue.name, "max_messages": 2, "timeout": "30s"})

    assert outputs_["count"] == 2
    assert outputs_["messages"][0] == {
        "payload": "one",
        "encoding": "utf-8",
        "exchange": "",
        "routing_key": queue.name,
        "headers": {},
        "content_type": None,
        "redelivered": False,
    }
    assert [m["payload"] for m in outputs_["messages"]] == ["one", "two"]
    assert await ready_count(rabbit, queue.name) == 1
    third = await AmqpReceive().run(ctx, {"url": AMQP_URL, "queue": queue.name, "max_messages": 5, "timeout": "300ms"})
    assert [m["payload"] for m in third["messages"]] == ["three"]


async def test_amqp_receive_without_ack_leaves_the_messages_in_the_queue(
    ctx: FakeContext, rabbit: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue
) -> None:
    await put(rabbit, queue.name, b"peek")

    first = await AmqpReceive().run(ctx, {"url": AMQP_URL, "queue": queue.name, "ack": False})
    again = await AmqpReceive().run(ctx, {"url": AMQP_URL, "queue": queue.name})

    assert [(m["payload"], m["redelivered"]) for m in first["messages"]] == [("peek", False)]
    assert [(m["payload"], m["redelivered"]) for m in again["messages"]] == [("peek", True)]
    assert await ready_count(rabbit, queue.name) == 0


async def test_amqp_receive_gives_binary_bodies_as_base64_and_headers_as_json(
    ctx: FakeContext, rabbit: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue
) -> None:
    headers = {
        "raw": bytearray(b"\xff\x01"),
        "text": bytearray(b"ok"),
        "n": 1.5,
        "price": Decimal("2.25"),
        "at": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    }
    message = aio_pika.Message(b"\x89PNG\x00", headers=headers, content_type="image/png")
    await rabbit.default_exchange.publish(message, routing_key=queue.name)

    outputs_ = as_documented(AmqpReceive, await AmqpReceive().run(ctx, {"url": AMQP_URL, "queue": queue.name}))

    received = outputs_["messages"][0]
    assert (received["payload"], received["encoding"], received["content_type"]) == ("iVBORwA=", "base64", "image/png")
    assert received["headers"] == {
        "raw": {"base64": "/wE="},
        "text": "ok",
        "n": 1.5,
        "price": 2.25,
        "at": "2024-05-01T12:30:00+00:00",
    }


async def test_amqp_receive_from_a_missing_queue_fails_unless_declared(
    ctx: FakeContext, rabbit: aio_pika.abc.AbstractChannel
) -> None:
    name = unique("wfdtest.missing")

    with pytest.raises(TaskFailed) as failure:
        await AmqpReceive().run(ctx, {"url": AMQP_URL, "queue": name})
    assert str(failure.value) == (
        f"opening queue {name!r} on amqp://127.0.0.1:5672/ failed: NOT_FOUND - no queue {name!r} in vhost '/'"
    )

    try:
        outputs_ = await AmqpReceive().run(
            ctx, {"url": AMQP_URL, "queue": name, "declare_queue": True, "timeout": "200ms"}
        )
        assert outputs_ == {"messages": [], "count": 0}
        assert await ready_count(rabbit, name) == 0, "the queue now exists"
    finally:
        await rabbit.queue_delete(name)


async def test_amqp_receive_can_treat_nothing_as_a_failure(ctx: FakeContext, queue: aio_pika.abc.AbstractQueue) -> None:
    with pytest.raises(TaskFailed) as failure:
        await AmqpReceive().run(ctx, {"url": AMQP_URL, "queue": queue.name, "timeout": "200ms", "fail_on_empty": True})

    assert str(failure.value) == f"no message arrived from queue {queue.name!r} on amqp://127.0.0.1:5672/ within 200ms"


@pytest.mark.parametrize(
    ("plugin", "properties"),
    [(AmqpPublish, {"routing_key": "q", "message": "x"}), (AmqpReceive, {"queue": "q"})],
)
async def test_amqp_wrong_password_fails_without_showing_it(
    ctx: FakeContext, plugin: type[Plugin], properties: dict[str, JSON]
) -> None:
    with pytest.raises(TaskFailed) as failure:
        await plugin().run(ctx, {"url": "amqp://guest:wr0ng-pass@127.0.0.1:5672/", **properties})

    assert str(failure.value).startswith(
        "authentication failed on amqp://127.0.0.1:5672/ as user 'guest': ACCESS_REFUSED"
    )
    assert "wr0ng-pass" not in everything_said(ctx, failure.value)


@pytest.mark.parametrize(
    ("plugin", "properties"),
    [(AmqpPublish, {"routing_key": "q", "message": "x"}), (AmqpReceive, {"queue": "q"})],
)
async def test_amqp_refused_connection(ctx: FakeContext, plugin: type[Plugin], properties: dict[str, JSON]) -> None:
    with pytest.raises(TaskFailed) as failure:
        await plugin().run(ctx, {"url": f"amqp://guest:guest@127.0.0.1:{REFUSED_PORT}/", **properties})

    assert str(failure.value) == f"could not connect to amqp://127.0.0.1:{REFUSED_PORT}/: connection refused"


async def test_amqp_missing_virtual_host_is_named(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed) as failure:
        await AmqpReceive().run(ctx, {"url": "amqp://guest:guest@127.0.0.1:5672/no-such-vhost", "queue": "q"})

    assert "closed the connection while opening virtual host 'no-such-vhost'" in str(failure.value)


@pytest.mark.parametrize(
    ("plugin", "properties"),
    [
        (AmqpPublish, {"routing_key": "q", "message": "x", "timeout": "300ms"}),
        (AmqpReceive, {"queue": "q", "connect_timeout": "300ms"}),
    ],
)
async def test_amqp_a_broker_that_never_answers_times_out_and_is_hung_up_on(
    ctx: FakeContext, plugin: type[Plugin], properties: dict[str, JSON]
) -> None:
    async with silent_server() as server:
        with pytest.raises(TaskFailed) as failure:
            await plugin().run(ctx, {"url": f"amqp://guest:guest@127.0.0.1:{server.port}/", **properties})

        assert str(failure.value) == f"timed out after 300ms connecting to amqp://127.0.0.1:{server.port}/"
        await until(lambda: server.accepted == 1 and server.open == 0, "the client to hang up")


async def test_amqp_cancelled_receive_disconnects_and_leaves_the_messages(
    ctx: FakeContext, rabbit: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue
) -> None:
    await put(rabbit, queue.name, b"keep me")
    async with forwarder(5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        task = asyncio.create_task(
            AmqpReceive().run(ctx, {"url": url, "queue": queue.name, "max_messages": 2, "timeout": "1h"})
        )
        await until(lambda: any("waiting up to 1h" in line for _, line in ctx.log.lines), "the consumer")
        await until(lambda: proxy.open == 1, "the connection")

        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert time.monotonic() - started < 2
        await until(lambda: proxy.open == 0, "the connection to close", timeout=2)
    assert await ready_count(rabbit, queue.name) == 1, "a cancelled receive acknowledges nothing"


# -- the manifests' examples ----------------------------------------------------------------------

EXAMPLE_CREDENTIALS = {"${NATS_URL}": NATS_URL, "${MQTT_URL}": MQTT_URL, "${AMQP_URL}": AMQP_URL}
"""What the catalogue must define for the examples to run here."""
EXAMPLES = [
    pytest.param(plugin, example, id=f"{plugin.manifest.id}[{number}]")
    for plugin in PLUGINS
    for number, example in enumerate(plugin.manifest.examples)
]


@pytest.mark.parametrize(("plugin", "example"), EXAMPLES)
async def test_examples_run_against_the_local_brokers(
    ctx: FakeContext, rabbit: aio_pika.abc.AbstractChannel, plugin: type[Plugin], example: str
) -> None:
    for reference, url in EXAMPLE_CREDENTIALS.items():
        example = example.replace(reference, url)
    (task,) = yaml.safe_load(example)
    try:
        as_documented(plugin, await plugin().run(ctx, task["properties"]))
    finally:
        if plugin is AmqpReceive:  # its example declares a queue
            await rabbit.queue_delete(task["properties"]["queue"])


# -- flows through the API, with the URL in a credential -----------------------------------------


async def credential(api: Api, name: str, value: str) -> None:
    reply = await api.post("/api/v1/credentials", json={"name": name, "value": value})
    assert reply.status == 201, reply.body


async def shown(api: Api, execution_id: str) -> str:
    """Everything the API shows about an execution: details, task outputs and errors, log lines."""
    logs = await api.get(f"/api/v1/executions/{execution_id}/logs")
    assert logs.status == 200, logs.body
    return json.dumps(await detail(api, execution_id)) + json.dumps(logs.body)


async def test_flow_nats_request_with_the_url_in_a_credential(api: Api, nats: NatsClient) -> None:
    await credential(api, "NATS_URL", "nats://flows:n4ts-s3cret@127.0.0.1:4222")
    subject = unique("wfdtest.flow")

    async def answer(message: Msg) -> None:
        await message.respond(b"pong:" + message.data)

    await nats.subscribe(subject, cb=answer)
    await nats.flush()
    flow = f"""
name: nats-roundtrip
tasks:
  - name: announce
    type: nats.publish
    properties: {{url: "${{NATS_URL}}", subject: {subject}.events, message: {{hello: world}}}}
  - name: ask
    type: nats.request
    properties: {{url: "${{NATS_URL}}", subject: {subject}, message: ping, timeout: 5s}}
"""
    body = await run(api, flow)

    assert body["execution"]["status"] == "SUCCESS", body
    tasks = tasks_by_name(body)
    assert outputs(tasks["ask"][0]) == {"reply": "pong:ping", "encoding": "utf-8", "headers": {}}
    said = await shown(api, body["execution"]["id"])
    assert "nats://127.0.0.1:4222" in said, "the log names the server"
    assert "n4ts-s3cret" not in said


async def test_flow_mqtt_publish_then_receive_with_the_url_in_a_credential(
    api: Api, mqtt: aiomqtt.Client, retained: list[str]
) -> None:
    await credential(api, "MQTT_URL", "mqtt://flows:mq77-s3cret@127.0.0.1:1883")
    topic = unique("wfdtest/flow", "/")
    retained.append(topic)
    flow = f"""
name: mqtt-roundtrip
tasks:
  - name: report
    type: mqtt.publish
    properties: {{url: "${{MQTT_URL}}", topic: {topic}, message: {{celsius: 20}}, retain: true, qos: 2}}
  - name: read
    type: mqtt.receive
    properties: {{url: "${{MQTT_URL}}", topic: {topic}, timeout: 5s}}
"""
    body = await run(api, flow)

    assert body["execution"]["status"] == "SUCCESS", body
    read = outputs(tasks_by_name(body)["read"][0])
    assert read["messages"] == [
        {"topic": topic, "payload": '{"celsius":20}', "encoding": "utf-8", "qos": 1, "retain": True}
    ]
    said = await shown(api, body["execution"]["id"])
    assert "mqtt://127.0.0.1:1883" in said
    assert "mq77-s3cret" not in said


async def test_flow_amqp_publish_then_receive_with_the_url_in_a_credential(
    api: Api, queue: aio_pika.abc.AbstractQueue
) -> None:
    await credential(api, "AMQP_URL", AMQP_URL)
    flow = f"""
name: amqp-roundtrip
tasks:
  - name: send
    type: amqp.publish
    properties: {{url: "${{AMQP_URL}}", routing_key: {queue.name}, message: {{order: 1}}, headers: {{origin: flow}}}}
  - name: take
    type: amqp.receive
    properties: {{url: "${{AMQP_URL}}", queue: {queue.name}, timeout: 5s}}
"""
    body = await run(api, flow)

    assert body["execution"]["status"] == "SUCCESS", body
    take = outputs(tasks_by_name(body)["take"][0])
    assert [(m["payload"], m["headers"]) for m in take["messages"]] == [('{"order":1}', {"origin": "flow"})]
    said = await shown(api, body["execution"]["id"])
    assert "amqp://127.0.0.1:5672/" in said
    # guest:guest: the password is "guest", which must never show (not even as the user name).
    assert "guest" not in said


async def test_flow_amqp_wrong_password_fails_clearly_without_the_password(api: Api) -> None:
    await credential(api, "AMQP_URL", "amqp://guest:wr0ng-pass@127.0.0.1:5672/")
    flow = """
name: amqp-denied
tasks:
  - name: send
    type: amqp.publish
    properties: {url: "${AMQP_URL}", routing_key: nowhere, message: x}
"""
    body = await run(api, flow)

    assert body["execution"]["status"] == "FAILED"
    error = tasks_by_name(body)["send"][0]["error"]
    assert error.startswith("authentication failed on amqp://127.0.0.1:5672/")
    assert "wr0ng-pass" not in await shown(api, body["execution"]["id"])


@pytest.mark.parametrize("protocol", ["amqp", "mqtt"])
async def test_flow_cancelling_a_waiting_receive_ends_it_and_its_connection(
    api: Api, rabbit: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue, protocol: str
) -> None:
    upstream = {"amqp": 5672, "mqtt": 1883}[protocol]
    async with forwarder(upstream) as proxy:
        if protocol == "amqp":
            await credential(api, "BROKER_URL", f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
            task_type, source = "amqp.receive", f"queue: {queue.name}"
        else:
            await credential(api, "BROKER_URL", f"mqtt://127.0.0.1:{proxy.port}")
            task_type, source = "mqtt.receive", f"topic: {unique('wfdtest/wait', '/')}"
        flow_id = await save_flow(
            api,
            f"""
name: wait-{protocol}
tasks:
  - name: listen
    type: {task_type}
    properties: {{url: "${{BROKER_URL}}", {source}, timeout: 1h}}
""",
        )
        execution_id = await start(api, flow_id)

        async def waiting() -> bool:
            logs = await api.get(f"/api/v1/executions/{execution_id}/logs")
            return any("waiting up to 1h" in line["message"] for line in logs.body)

        deadline = time.monotonic() + 10
        while not await waiting():
            assert time.monotonic() < deadline, "the receive never started waiting"
            await asyncio.sleep(0.02)
        assert proxy.open == 1

        cancelled_at = time.monotonic()
        assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
        body = await wait_status(api, execution_id, timeout=10)

        assert body["execution"]["status"] == "CANCELLED"
        assert tasks_by_name(body)["listen"][0]["status"] == "CANCELLED"
        assert time.monotonic() - cancelled_at < 5
        await until(lambda: proxy.open == 0, "the task's connection to close", timeout=2)
