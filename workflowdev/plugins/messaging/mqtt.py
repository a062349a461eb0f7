"""mqtt.publish and mqtt.receive: MQTT through aiomqtt, QoS 0 to 2 and retained messages."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import AsyncIterator
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.plugins._brokers import BrokerUrl
from workflowdev.plugins._brokers import Collection
from workflowdev.plugins._brokers import Step
from workflowdev.plugins._brokers import close_within
from workflowdev.plugins._brokers import decode_payload
from workflowdev.plugins._brokers import encode_message
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import import_client
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_duration
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_text
from workflowdev.plugins._toolkit import read_whole_number
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.messaging._schemas import CLIENT_ID_SCHEMA
from workflowdev.plugins.messaging._schemas import CONNECT_TIMEOUT_SCHEMA
from workflowdev.plugins.messaging._schemas import DEFAULT_TIMEOUT
from workflowdev.plugins.messaging._schemas import ENCODING_SCHEMA
from workflowdev.plugins.messaging._schemas import FAIL_ON_EMPTY_SCHEMA
from workflowdev.plugins.messaging._schemas import MAX_MESSAGES_SCHEMA
from workflowdev.plugins.messaging._schemas import MESSAGE_SCHEMA
from workflowdev.plugins.messaging._schemas import MQTT_EXAMPLE
from workflowdev.plugins.messaging._schemas import MQTT_PORTS
from workflowdev.plugins.messaging._schemas import MQTT_URL_SCHEMA
from workflowdev.plugins.messaging._schemas import PAYLOAD_SCHEMA
from workflowdev.plugins.messaging._schemas import PUBLISH_TIMEOUT_SCHEMA
from workflowdev.plugins.messaging._schemas import PUBLISHED_SCHEMA
from workflowdev.plugins.messaging._schemas import QOS_SCHEMA
from workflowdev.plugins.messaging._schemas import WAIT_SCHEMA
from workflowdev.plugins.messaging._schemas import received_schema

if TYPE_CHECKING:
    from aiomqtt import Client as MqttClient
    from aiomqtt import Message as MqttMessage


def _mqtt_topic(properties: Mapping[str, JSON]) -> str:
    """A topic name to publish to: no wildcards, no NUL, at most 65535 bytes."""
    topic = read_text(properties, "topic")
    if not topic or "+" in topic or "#" in topic or "\0" in topic or len(topic.encode()) > 65535:
        raise TaskFailed(f"topic {topic!r} cannot be published to: it must be non-empty, without wildcards (+ and #)")
    return topic


def _mqtt_filter(properties: Mapping[str, JSON]) -> str:
    """A topic filter: `+` stands for one whole level, `#` for the rest and only at the end."""
    topic = read_text(properties, "topic")
    levels = topic.split("/")
    wrong = (
        not topic
        or "\0" in topic
        or len(topic.encode()) > 65535
        or any(("+" in level and level != "+") or ("#" in level and level != "#") for level in levels)
        or "#" in levels[:-1]
    )
    if wrong:
        raise TaskFailed(
            f"topic {topic!r} is not a valid topic filter: + must be a whole level, # a whole level at the end"
        )
    return topic


def _client_id(properties: Mapping[str, JSON]) -> str:
    if "client_id" in properties:
        return read_text(properties, "client_id")
    return f"workflowdev-{secrets.token_hex(6)[:11]}"


# -- MQTT -----------------------------------------------------------------------------------------


def _mqtt_refusal(url: BrokerUrl, exc: Exception, step: Step, limit: TaskTimeout) -> TaskFailed:
    """Why connecting failed. aiomqtt passes socket errors on as text only, hence the text checks."""
    aiomqtt = import_client("aiomqtt")
    reason = url.scrub(str(exc))
    if isinstance(exc, aiomqtt.MqttCodeError):
        if getattr(exc.rc, "value", exc.rc) in (4, 5, 134, 135):  # bad user name or password, not authorized
            user = f" as user {url.username!r}" if url.username else ""
            return TaskFailed(f"authentication failed on {url.where}{user}: {reason}")
        return TaskFailed(f"the broker at {url.where} refused the connection: {reason}")
    if "timed out" in reason.lower():
        return step.timed_out(limit)
    if "connection refused" in reason.lower():
        return TaskFailed(f"could not connect to {url.where}: connection refused")
    return TaskFailed(f"could not connect to {url.where}: {reason}")


_OPENINGS_LEFT_BEHIND: Final[set[asyncio.Task[object]]] = set()
"""MQTT connections still being opened when their task stopped; kept until they are closed."""


def _drop_socket(client: MqttClient) -> None:
    """Close the socket of a connection that never got going (no DISCONNECT to send)."""
    client._client._sock_close()  # noqa: SLF001 - see _mqtt: aiomqtt offers no way to do this


def _hang_up_while_opening(client: MqttClient, opening: asyncio.Future[object]) -> None:
    """The task stopped before CONNACK: make sure the half-open connection ends too.

    When paho is still connecting in aiomqtt's worker thread there is no socket to close yet,
    so the opening is left to finish (bounded by the client's timeout) and then closed.
    """
    if opening.done():
        _drop_socket(client)
        if not opening.cancelled():
            opening.exception()  # looked at: the task's own outcome is what counts now
        return
    if client._client.socket() is not None:  # noqa: SLF001
        _drop_socket(client)
        opening.cancel()
        return

    async def close_once_open() -> None:
        try:
            await opening
        except BaseException:  # noqa: BLE001 - whatever ended the opening, the socket goes
            pass
        _drop_socket(client)

    closing = asyncio.get_running_loop().create_task(close_once_open())
    _OPENINGS_LEFT_BEHIND.add(closing)
    closing.add_done_callback(_OPENINGS_LEFT_BEHIND.discard)


@asynccontextmanager
async def _mqtt(
    ctx: TaskContext, url: BrokerUrl, client_id: str, limit: TaskTimeout, step: Step
) -> AsyncIterator[MqttClient]:
    """A connected client; disconnected on the way out, cancellation included.

    aiomqtt 2.x (`__aenter__`) gives up without closing its socket when CONNACK does not come in
    time, and when the wait is cancelled it even breaks paho's own close. So the opening runs as
    a task of its own (a cancellation of ours does not reach into it), and when it fails or we
    stop waiting, the socket of paho's client underneath is closed here.
    """
    aiomqtt = import_client("aiomqtt")
    client: MqttClient = aiomqtt.Client(
        hostname=url.host,
        port=url.port,
        username=url.username,
        password=url.password,
        identifier=client_id,
        timeout=limit.seconds,
        clean_session=True,
        tls_context=ssl.create_default_context() if url.scheme == "mqtts" else None,
    )
    opening = asyncio.ensure_future(client.__aenter__())
    try:
        await asyncio.shield(opening)
    except aiomqtt.MqttError as exc:
        _drop_socket(client)
        raise _mqtt_refusal(url, exc, step, limit) from None
    except BaseException:
        _hang_up_while_opening(client, opening)
        raise
    try:
        yield client
    finally:
        await close_within(ctx.log, url.where, lambda: client.__aexit__(None, None, None))


class MqttPublish(Plugin):
    """Publish one message to an MQTT topic."""

    manifest: ClassVar[Manifest] = Manifest(
        id="mqtt.publish",
        name="Publish to MQTT",
        category="messaging",
        description=(
            "Publishes a message to an MQTT topic (MQTT 3.1.1). With QoS 1 or 2 the task "
            "succeeds once the broker has acknowledged the message; with QoS 0 once it is sent. "
            "`retain: true` makes the broker keep it for future subscribers."
        ),
        input_schema=object_schema(
            {
                "url": MQTT_URL_SCHEMA,
                "topic": {
                    "type": "string",
                    "minLength": 1,
                    "pattern": r"^[^+#]+$",
                    "description": "The topic, such as sensors/greenhouse/temperature; no wildcards (+ or #).",
                },
                "message": MESSAGE_SCHEMA,
                "qos": QOS_SCHEMA,
                "retain": flag_schema(False, "Ask the broker to keep the message as the topic's last known value."),
                "client_id": CLIENT_ID_SCHEMA,
                "timeout": PUBLISH_TIMEOUT_SCHEMA,
            },
            ["url", "topic", "message"],
        ),
        output_schema=PUBLISHED_SCHEMA,
        examples=(
            task_example(
                "report_temperature",
                "mqtt.publish",
                """
                url: ${MQTT_URL}
                topic: sensors/greenhouse/temperature
                message: {celsius: 21.5}
                qos: 1
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], MQTT_PORTS, MQTT_EXAMPLE)
        topic = _mqtt_topic(properties)
        payload = encode_message(properties["message"])
        qos = read_whole_number(properties, "qos", 1, 0, 2)
        retain = read_flag(properties, "retain", False)
        client_id = _client_id(properties)
        limit = read_duration(properties, "timeout", DEFAULT_TIMEOUT)
        aiomqtt = import_client("aiomqtt")
        step = Step(f"connecting to {url.where}")
        try:
            async with asyncio.timeout(limit.seconds), _mqtt(ctx, url, client_id, limit, step) as client:
                step.doing = f"publishing to {topic} on {url.where}"
                await client.publish(topic, payload, qos=qos, retain=retain)
        except TimeoutError:
            raise step.timed_out(limit) from None
        except aiomqtt.MqttError as exc:
            raise TaskFailed(f"publishing to {topic} on {url.where} failed: {url.scrub(str(exc))}") from None
        except ValueError as exc:  # paho's own checks, such as the protocol's 256 MiB payload limit
            raise TaskFailed(f"cannot publish to {topic}: {exc}") from None
        ctx.log.info(f"published {len(payload)} bytes to {topic} on {url.where} (qos {qos})")
        return {"published": True}


def _mqtt_message(message: MqttMessage) -> dict[str, JSON]:
    payload = message.payload
    data = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
    body, encoding = decode_payload(bytes(data))
    return {
        "topic": str(message.topic),
        "payload": body,
        "encoding": encoding,
        "qos": message.qos,
        "retain": bool(message.retain),
    }


class MqttReceive(Plugin):
    """Subscribe to an MQTT topic filter and collect what arrives for a while."""

    manifest: ClassVar[Manifest] = Manifest(
        id="mqtt.receive",
        name="Receive from MQTT",
        category="messaging",
        description=(
            "Subscribes to an MQTT topic filter (`+` one level, `#` the rest) and returns the "
            "messages that arrive within `timeout`, as soon as `max_messages` have. A retained "
            "message arrives at once. The subscription lasts as long as the task: messages "
            "published before or after it, or beyond `max_messages`, are not kept."
        ),
        input_schema=object_schema(
            {
                "url": MQTT_URL_SCHEMA,
                "topic": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The topic filter, such as sensors/+/temperature or sensors/#.",
                },
                "max_messages": MAX_MESSAGES_SCHEMA,
                "timeout": WAIT_SCHEMA,
                "connect_timeout": CONNECT_TIMEOUT_SCHEMA,
                "qos": {**QOS_SCHEMA, "description": "The QoS asked for in the subscription (0, 1 or 2)."},
                "client_id": CLIENT_ID_SCHEMA,
                "fail_on_empty": FAIL_ON_EMPTY_SCHEMA,
            },
            ["url", "topic"],
        ),
        output_schema=received_schema(
            object_schema(
                {
                    "topic": {"type": "string", "description": "The topic the message was published to."},
                    "payload": PAYLOAD_SCHEMA,
                    "encoding": ENCODING_SCHEMA,
                    "qos": {"type": "integer", "enum": [0, 1, 2], "description": "The QoS it was delivered with."},
                    "retain": {"type": "boolean", "description": "Whether it is the broker's retained message."},
                },
                ["topic", "payload", "encoding", "qos", "retain"],
            )
        ),
        examples=(
            task_example(
                "latest_temperatures",
                "mqtt.receive",
                """
                url: ${MQTT_URL}
                topic: sensors/+/temperature
                max_messages: 10
                timeout: 1s
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], MQTT_PORTS, MQTT_EXAMPLE)
        topic = _mqtt_filter(properties)
        collection = Collection.read(properties)
        qos = read_whole_number(properties, "qos", 1, 0, 2)
        client_id = _client_id(properties)
        connect = read_duration(properties, "connect_timeout", DEFAULT_TIMEOUT)
        aiomqtt = import_client("aiomqtt")
        step = Step(f"connecting to {url.where}")
        try:
            async with (
                asyncio.timeout(connect.seconds) as deadline,
                _mqtt(ctx, url, client_id, connect, step) as client,
            ):
                step.doing = f"subscribing to {topic} on {url.where}"
                granted = await client.subscribe(topic, qos=qos)
                if any(code.is_failure for code in granted):
                    raise TaskFailed(f"the broker at {url.where} refused the subscription to {topic}")
                deadline.reschedule(None)
                step.doing = f"receiving from {topic} on {url.where}"
                received = await collection.gather(ctx.log, client.messages, f"subscribed to {topic} on {url.where}")
        except TimeoutError:
            raise step.timed_out(connect) from None
        except aiomqtt.MqttError as exc:
            raise TaskFailed(f"{step.doing} failed: {url.scrub(str(exc))}") from None
        messages = [_mqtt_message(message) for message in received]
        return collection.outputs(ctx.log, messages, f"{topic} on {url.where}")
