"""messaging: publish and receive messages through NATS, MQTT and AMQP (RabbitMQ).

Each task opens its own connection and closes it however the task ends, cancellation included
(brokers and credentials differ from task to task, and a receive must not leave a consumer
behind it). Choices that hold for all six task types:
- `url` usually comes from a credential (`${AMQP_URL}`): messages name the server as
  scheme://host:port, never with user or password (see `_brokers`).
- A message is text as written, or any other JSON value as compact JSON text. What is received
  comes back as text when it is UTF-8, else as base64, with `encoding` saying which.
- A publish succeeds only once the broker has the message: NATS answers a PING after it, MQTT
  QoS 1 and 2 are acknowledged, AMQP uses publisher confirms (and, unless `mandatory: false`,
  fails when no queue takes the message).
- A receive returns what arrived within `timeout` (at most `max_messages`); no message at all is
  a result (count 0), unless `fail_on_empty` says it is an error. Reaching the broker has its own
  `connect_timeout`, so a dead broker is an error rather than an empty result.
- AMQP queues are not created implicitly: a typo in a queue name should fail, not create a queue
  nobody publishes to. `declare_queue: true` declares a durable queue when it is missing.
"""

from __future__ import annotations

import asyncio
import errno
import math
import secrets
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import unquote

from workflowdev.engine.plugin import (
    DURATION_SCHEMA,
    JSON,
    Manifest,
    Plugin,
    TaskContext,
    TaskFailed,
    as_text,
)
from workflowdev.plugins._brokers import (
    BrokerUrl,
    Step,
    Timeout,
    client_name,
    close_within,
    decode_payload,
    encode_message,
    import_client,
    timeout,
)

if TYPE_CHECKING:
    from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
    from aiomqtt import Client as MqttClient
    from aiomqtt import Message as MqttMessage
    from nats.aio.client import Client as NatsClient

__all__ = [
    "MAX_MESSAGES",
    "PLUGINS",
    "AmqpPublish",
    "AmqpReceive",
    "MqttPublish",
    "MqttReceive",
    "NatsPublish",
    "NatsRequest",
]

DEFAULT_TIMEOUT: Final = "10s"
"""For a publish or a request, the whole exchange; for a receive, reaching the broker."""
DEFAULT_WAIT: Final = "10s"
"""How long a receive waits for messages."""
MAX_MESSAGES: Final = 10_000
"""Received messages are task outputs, kept in memory and stored: a receive takes at most this many."""

NATS_PORTS: Final = {"nats": 4222, "tls": 4222}
MQTT_PORTS: Final = {"mqtt": 1883, "mqtts": 8883}
AMQP_PORTS: Final = {"amqp": 5672, "amqps": 5671}
NATS_EXAMPLE: Final = "nats://[user:password@]host:4222 (tls://… for TLS)"
MQTT_EXAMPLE: Final = "mqtt://[user:password@]host:1883 (mqtts://…:8883 for TLS)"
AMQP_EXAMPLE: Final = "amqp://user:password@host:5672/vhost (amqps://…:5671 for TLS)"


# -- schemas --------------------------------------------------------------------------------------


def _scheme_pattern(schemes: Mapping[str, int]) -> str:
    """`^(nats|tls)://` in any case, as URLs allow."""
    spelled = ("".join(f"[{c.lower()}{c.upper()}]" for c in scheme) for scheme in schemes)
    return f"^({'|'.join(spelled)})://"


def _url_schema(schemes: Mapping[str, int], example: str, credential: str) -> dict[str, JSON]:
    return {
        "type": "string",
        "pattern": _scheme_pattern(schemes),
        "description": (
            f"The broker, as {example}. Usually a credential reference such as `${{{credential}}}`, "
            "so the password stays out of the flow; messages never show it."
        ),
    }


NATS_URL_SCHEMA: Final = _url_schema(NATS_PORTS, NATS_EXAMPLE, "NATS_URL")
MQTT_URL_SCHEMA: Final = _url_schema(MQTT_PORTS, MQTT_EXAMPLE, "MQTT_URL")
AMQP_URL_SCHEMA: Final = _url_schema(AMQP_PORTS, AMQP_EXAMPLE, "AMQP_URL")
MESSAGE_SCHEMA: Final[dict[str, JSON]] = {
    "description": "What to send: text as it is; any other JSON value (an object, a list, a number) as compact JSON.",
}
NATS_SUBJECT_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "pattern": r"^[^.\s]+(\.[^.\s]+)*$",
    "description": "The subject, dot-separated names such as orders.created; no wildcards (* or >).",
}
NATS_HEADERS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "object",
    "propertyNames": {"pattern": r"^[^:\s]+$"},
    "additionalProperties": {"type": ["string", "number", "boolean"]},
    "description": "NATS message headers, name to value (values are sent as text).",
}
QOS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "integer",
    "enum": [0, 1, 2],
    "default": 1,
    "description": "MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once.",
}
CLIENT_ID_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 65535,
    "description": (
        "The MQTT client id. By default a fresh one per task (`workflowdev-` and 11 random hex "
        "digits); two connections with the same id knock each other off the broker."
    ),
}


def _timeout_schema(default: str, description: str) -> dict[str, JSON]:
    return {
        **DURATION_SCHEMA,
        "default": default,
        "description": f"{description} 500ms, 30s, 10m, ISO 8601 (PT30S) or a number of seconds.",
    }


PUBLISH_TIMEOUT_SCHEMA: Final = _timeout_schema(
    DEFAULT_TIMEOUT, "How long the whole publish may take, from connecting to the broker's acknowledgement:"
)
CONNECT_TIMEOUT_SCHEMA: Final = _timeout_schema(
    DEFAULT_TIMEOUT, "How long reaching the broker and subscribing may take before the task fails:"
)
WAIT_SCHEMA: Final = _timeout_schema(
    DEFAULT_WAIT,
    "How long to wait for messages once subscribed; the task then returns what arrived (maybe none).",
)
MAX_MESSAGES_SCHEMA: Final[dict[str, JSON]] = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_MESSAGES,
    "default": 1,
    "description": f"Return as soon as this many messages have arrived (at most {MAX_MESSAGES}).",
}
FAIL_ON_EMPTY_SCHEMA: Final[dict[str, JSON]] = {
    "type": "boolean",
    "default": False,
    "description": "Fail the task when no message arrived within `timeout` (by default, count 0 is a result).",
}
PUBLISHED_SCHEMA: Final[dict[str, JSON]] = {
    "type": "object",
    "properties": {
        "published": {"const": True, "description": "Always true: a publish the broker did not take fails the task."},
    },
    "required": ["published"],
    "additionalProperties": False,
}
PAYLOAD_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "description": "The message body: the text when it is UTF-8, else its base64 form.",
}
ENCODING_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "enum": ["utf-8", "base64"],
    "description": "How `payload` holds the body: utf-8 (the text itself) or base64 (binary bodies).",
}


def _received_schema(message: Mapping[str, JSON]) -> dict[str, JSON]:
    return {
        "type": "object",
        "properties": {
            "messages": {
                "type": "array",
                "items": dict(message),
                "description": "The messages, in the order they arrived.",
            },
            "count": {"type": "integer", "minimum": 0, "description": "How many messages arrived (0 when none did)."},
        },
        "required": ["messages", "count"],
        "additionalProperties": False,
    }


# -- reading properties ---------------------------------------------------------------------------


def _text(properties: Mapping[str, JSON], name: str, default: str | None = None) -> str:
    value = properties.get(name, default)
    if not isinstance(value, str):
        raise TaskFailed(f"{name} must be text, got {as_text(value)}")
    return value


def _flag(properties: Mapping[str, JSON], name: str, default: bool) -> bool:
    value = properties.get(name, default)
    if not isinstance(value, bool):
        raise TaskFailed(f"{name} must be true or false, got {as_text(value)}")
    return value


def _whole(properties: Mapping[str, JSON], name: str, default: int, allowed: range) -> int:
    value = properties.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise TaskFailed(f"{name} must be a whole number, got {as_text(value)}")
    if int(value) not in allowed:
        raise TaskFailed(f"{name} must be between {allowed.start} and {allowed.stop - 1}, got {as_text(value)}")
    return int(value)


def _nats_subject(properties: Mapping[str, JSON]) -> str:
    subject = _text(properties, "subject")
    tokens = subject.split(".")
    if any(not token or token in ("*", ">") or any(c.isspace() for c in token) for token in tokens):
        raise TaskFailed(
            f"subject {subject!r} cannot be published to: it must be dot-separated names without "
            "spaces, empty names or wildcards (* and >)"
        )
    return subject


def _nats_headers(properties: Mapping[str, JSON]) -> dict[str, str] | None:
    headers = properties.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise TaskFailed(f"headers must be an object of names and values, got {as_text(headers)}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not name or ":" in name or any(c.isspace() for c in name):
            raise TaskFailed(f"header name {name!r} is not valid: no colons, spaces or line breaks")
        text = as_text(value)
        if "\r" in text or "\n" in text:
            raise TaskFailed(f"header {name!r} has a line break in its value")
        checked[name] = text
    return checked or None


def _mqtt_topic(properties: Mapping[str, JSON]) -> str:
    """A topic name to publish to: no wildcards, no NUL, at most 65535 bytes."""
    topic = _text(properties, "topic")
    if not topic or "+" in topic or "#" in topic or "\0" in topic or len(topic.encode()) > 65535:
        raise TaskFailed(f"topic {topic!r} cannot be published to: it must be non-empty, without wildcards (+ and #)")
    return topic


def _mqtt_filter(properties: Mapping[str, JSON]) -> str:
    """A topic filter: `+` stands for one whole level, `#` for the rest and only at the end."""
    topic = _text(properties, "topic")
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
        return _text(properties, "client_id")
    return f"workflowdev-{secrets.token_hex(6)[:11]}"


# -- NATS -----------------------------------------------------------------------------------------


def _nats_refusal(url: BrokerUrl, exc: BaseException, connecting: Step, limit: Timeout) -> TaskFailed:
    nats_errors = import_client("nats.errors")
    if isinstance(exc, TimeoutError):
        return connecting.timed_out(limit)
    if isinstance(exc, nats_errors.AuthorizationError) or "authorization violation" in str(exc).lower():
        user = f" as user {url.username!r}" if url.username else ""
        return TaskFailed(f"authentication failed on {url.where}{user}: the server refused the credentials in the URL")
    if isinstance(exc, ConnectionRefusedError):
        return TaskFailed(f"could not connect to {url.where}: connection refused")
    if isinstance(exc, OSError):
        return TaskFailed(f"could not connect to {url.where}: {url.scrub(exc.strerror or str(exc))}")
    return TaskFailed(f"could not connect to {url.where}: {url.scrub(str(exc) or type(exc).__name__)}")


@asynccontextmanager
async def _nats(
    ctx: TaskContext, url: BrokerUrl, limit: Timeout, step: Step
) -> AsyncIterator[tuple[NatsClient, list[Exception]]]:
    """A connected client and the errors the server reports along the way; closed on the way out.

    nats-py tries a server twice before giving up (no setting gives one attempt), and reports
    the reason of each failed attempt only to `error_cb`, so that is where the reason is kept.
    """
    client_module = import_client("nats.aio.client")
    nats_errors = import_client("nats.errors")
    reported: list[Exception] = []

    async def remember(exc: Exception) -> None:
        reported.append(exc)

    client: NatsClient = client_module.Client()
    try:
        try:
            await client.connect(
                url.text,
                name=client_name(ctx),
                connect_timeout=limit.seconds,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                error_cb=remember,
            )
        except (OSError, nats_errors.Error) as exc:
            cause = reported[-1] if isinstance(exc, nats_errors.NoServersError) and reported else exc
            raise _nats_refusal(url, cause, step, limit) from None
        reported.clear()
        yield client, reported
    finally:
        await close_within(ctx.log, url.where, client.close)


def _nats_check_size(client: NatsClient, payload: bytes, url: BrokerUrl) -> None:
    if len(payload) > client.max_payload:
        raise TaskFailed(
            f"the message is {len(payload)} bytes, more than the {client.max_payload} bytes the "
            f"server at {url.where} accepts (its max_payload)"
        )


def _nats_reported(url: BrokerUrl, reported: list[Exception]) -> None:
    """Fail with what the server said, if it refused something (a permissions violation, say)."""
    if reported:
        raise TaskFailed(f"the server at {url.where} refused: {url.scrub(str(reported[0]))}")


class NatsPublish(Plugin):
    """Send one message to a NATS subject."""

    manifest: ClassVar[Manifest] = Manifest(
        id="nats.publish",
        name="Publish to NATS",
        category="messaging",
        description=(
            "Publishes a message to a NATS subject, with optional headers, and succeeds once the "
            "server has it (a PING after the message is answered). Core NATS does not tell "
            "whether anyone was listening. A message larger than the server's max_payload "
            "(1 MiB by default) fails the task."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "url": NATS_URL_SCHEMA,
                "subject": NATS_SUBJECT_SCHEMA,
                "message": MESSAGE_SCHEMA,
                "headers": NATS_HEADERS_SCHEMA,
                "timeout": PUBLISH_TIMEOUT_SCHEMA,
            },
            "required": ["url", "subject", "message"],
            "additionalProperties": False,
        },
        output_schema=PUBLISHED_SCHEMA,
        examples=(
            "- name: announce_order\n"
            "  type: nats.publish\n"
            "  properties:\n"
            "    url: ${NATS_URL}\n"
            "    subject: orders.created\n"
            "    message: {order_id: 1042, total: 99.5}\n"
            "    headers: {source: workflowdev}\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], NATS_PORTS, NATS_EXAMPLE)
        subject = _nats_subject(properties)
        headers = _nats_headers(properties)
        payload = encode_message(properties["message"])
        limit = timeout(properties, "timeout", DEFAULT_TIMEOUT)
        nats_errors = import_client("nats.errors")
        step = Step(f"connecting to {url.where}")
        try:
            async with asyncio.timeout(limit.seconds), _nats(ctx, url, limit, step) as (client, reported):
                _nats_check_size(client, payload, url)
                step.doing = f"publishing to {subject} on {url.where}"
                await client.publish(subject, payload, headers=headers)
                await client.flush(timeout=math.ceil(limit.seconds))
                _nats_reported(url, reported)
        except TimeoutError:
            raise step.timed_out(limit) from None
        except nats_errors.Error as exc:
            raise TaskFailed(f"{step.doing} failed: {url.scrub(str(exc) or type(exc).__name__)}") from None
        ctx.log.info(f"published {len(payload)} bytes to {subject} on {url.where}")
        return {"published": True}


class NatsRequest(Plugin):
    """Send a request to a NATS subject and wait for the first reply."""

    manifest: ClassVar[Manifest] = Manifest(
        id="nats.request",
        name="NATS request",
        category="messaging",
        description=(
            "Sends a message to a NATS subject and waits for the first reply (request-reply). "
            "Fails at once with `no responders` when nobody subscribes to the subject, and with "
            "a timeout when a responder stays silent."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "url": NATS_URL_SCHEMA,
                "subject": NATS_SUBJECT_SCHEMA,
                "message": {**MESSAGE_SCHEMA, "default": ""},
                "headers": NATS_HEADERS_SCHEMA,
                "timeout": _timeout_schema(
                    DEFAULT_TIMEOUT, "How long connecting and waiting for the reply may take together:"
                ),
            },
            "required": ["url", "subject"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "reply": {**PAYLOAD_SCHEMA, "description": "The reply's body: text when it is UTF-8, else base64."},
                "encoding": ENCODING_SCHEMA,
                "headers": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "The reply's headers (empty when it had none).",
                },
            },
            "required": ["reply", "encoding", "headers"],
            "additionalProperties": False,
        },
        examples=(
            "- name: jetstream_usage\n"
            "  type: nats.request\n"
            "  properties:\n"
            "    url: ${NATS_URL}\n"
            "    subject: $JS.API.INFO\n"
            "    timeout: 5s\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], NATS_PORTS, NATS_EXAMPLE)
        subject = _nats_subject(properties)
        headers = _nats_headers(properties)
        payload = encode_message(properties.get("message", ""))
        limit = timeout(properties, "timeout", DEFAULT_TIMEOUT)
        nats_errors = import_client("nats.errors")
        step = Step(f"connecting to {url.where}")
        try:
            async with asyncio.timeout(limit.seconds), _nats(ctx, url, limit, step) as (client, _):
                _nats_check_size(client, payload, url)
                step.doing = f"waiting for a reply on {subject} from {url.where}"
                reply = await client.request(subject, payload, timeout=limit.seconds, headers=headers)
        except TimeoutError:
            raise step.timed_out(limit) from None
        except nats_errors.NoRespondersError:
            raise TaskFailed(f"no responders: nobody on {url.where} answers requests on {subject}") from None
        except nats_errors.Error as exc:
            raise TaskFailed(f"{step.doing} failed: {url.scrub(str(exc) or type(exc).__name__)}") from None
        body, encoding = decode_payload(reply.data)
        ctx.log.info(f"got a {len(reply.data)}-byte reply on {subject} from {url.where}")
        return {"reply": body, "encoding": encoding, "headers": dict(reply.headers or {})}


# -- MQTT -----------------------------------------------------------------------------------------


def _mqtt_refusal(url: BrokerUrl, exc: Exception, step: Step, limit: Timeout) -> TaskFailed:
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
    ctx: TaskContext, url: BrokerUrl, client_id: str, limit: Timeout, step: Step
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
        input_schema={
            "type": "object",
            "properties": {
                "url": MQTT_URL_SCHEMA,
                "topic": {
                    "type": "string",
                    "minLength": 1,
                    "pattern": r"^[^+#]+$",
                    "description": "The topic, such as sensors/greenhouse/temperature; no wildcards (+ or #).",
                },
                "message": MESSAGE_SCHEMA,
                "qos": QOS_SCHEMA,
                "retain": {
                    "type": "boolean",
                    "default": False,
                    "description": "Ask the broker to keep the message as the topic's last known value.",
                },
                "client_id": CLIENT_ID_SCHEMA,
                "timeout": PUBLISH_TIMEOUT_SCHEMA,
            },
            "required": ["url", "topic", "message"],
            "additionalProperties": False,
        },
        output_schema=PUBLISHED_SCHEMA,
        examples=(
            "- name: report_temperature\n"
            "  type: mqtt.publish\n"
            "  properties:\n"
            "    url: ${MQTT_URL}\n"
            "    topic: sensors/greenhouse/temperature\n"
            "    message: {celsius: 21.5}\n"
            "    qos: 1\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], MQTT_PORTS, MQTT_EXAMPLE)
        topic = _mqtt_topic(properties)
        payload = encode_message(properties["message"])
        qos = _whole(properties, "qos", 1, range(3))
        retain = _flag(properties, "retain", False)
        client_id = _client_id(properties)
        limit = timeout(properties, "timeout", DEFAULT_TIMEOUT)
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
        input_schema={
            "type": "object",
            "properties": {
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
            "required": ["url", "topic"],
            "additionalProperties": False,
        },
        output_schema=_received_schema(
            {
                "type": "object",
                "properties": {
                    "topic": {"type": "string", "description": "The topic the message was published to."},
                    "payload": PAYLOAD_SCHEMA,
                    "encoding": ENCODING_SCHEMA,
                    "qos": {"type": "integer", "enum": [0, 1, 2], "description": "The QoS it was delivered with."},
                    "retain": {"type": "boolean", "description": "Whether it is the broker's retained message."},
                },
                "required": ["topic", "payload", "encoding", "qos", "retain"],
                "additionalProperties": False,
            }
        ),
        examples=(
            "- name: latest_temperatures\n"
            "  type: mqtt.receive\n"
            "  properties:\n"
            "    url: ${MQTT_URL}\n"
            "    topic: sensors/+/temperature\n"
            "    max_messages: 10\n"
            "    timeout: 1s\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], MQTT_PORTS, MQTT_EXAMPLE)
        topic = _mqtt_filter(properties)
        max_messages = _whole(properties, "max_messages", 1, range(1, MAX_MESSAGES + 1))
        qos = _whole(properties, "qos", 1, range(3))
        fail_on_empty = _flag(properties, "fail_on_empty", False)
        client_id = _client_id(properties)
        wait = timeout(properties, "timeout", DEFAULT_WAIT)
        connect = timeout(properties, "connect_timeout", DEFAULT_TIMEOUT)
        aiomqtt = import_client("aiomqtt")
        step = Step(f"connecting to {url.where}")
        received: list[dict[str, JSON]] = []
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
                ctx.log.info(f"subscribed to {topic} on {url.where}; waiting up to {wait.text} for messages")
                try:
                    async with asyncio.timeout(wait.seconds):
                        async for message in client.messages:
                            received.append(_mqtt_message(message))
                            if len(received) >= max_messages:
                                break
                except TimeoutError:
                    pass  # the wait is over: what arrived is the result
        except TimeoutError:
            raise step.timed_out(connect) from None
        except aiomqtt.MqttError as exc:
            raise TaskFailed(f"{step.doing} failed: {url.scrub(str(exc))}") from None
        return _received(ctx, received, fail_on_empty, f"{topic} on {url.where}", wait)


def _received(
    ctx: TaskContext, messages: list[dict[str, JSON]], fail_on_empty: bool, source: str, wait: Timeout
) -> dict[str, JSON]:
    if not messages and fail_on_empty:
        raise TaskFailed(f"no message arrived from {source} within {wait.text}")
    ctx.log.info(f"received {len(messages)} message{'' if len(messages) == 1 else 's'} from {source}")
    return {"messages": messages, "count": len(messages)}


# -- AMQP -----------------------------------------------------------------------------------------


def _vhost(url: BrokerUrl) -> str:
    return unquote(url.path[1:]) if len(url.path) > 1 else "/"


def _amqp_refusal(url: BrokerUrl, exc: Exception) -> TaskFailed:
    """Why connecting failed, without the password."""
    aiormq_errors = import_client("aiormq.exceptions")
    reason = url.scrub(str(exc) or type(exc).__name__)
    if isinstance(exc, aiormq_errors.ProbableAuthenticationError):
        user = f" as user {url.username!r}" if url.username else ""
        return TaskFailed(f"authentication failed on {url.where}{user}: {reason}")
    if getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return TaskFailed(f"could not connect to {url.where}: connection refused")
    if isinstance(exc, aiormq_errors.InvalidFrameError) and "Connection.Close" in str(exc):
        # aiormq keeps only the frame's repr: the broker's reason (a missing vhost, most often) is lost.
        return TaskFailed(
            f"the broker at {url.where} closed the connection while opening virtual host {_vhost(url)!r}: "
            "does it exist, and may this user use it?"
        )
    return TaskFailed(f"could not connect to {url.where}: {reason}")


@asynccontextmanager
async def _amqp(ctx: TaskContext, url: BrokerUrl, limit: Timeout) -> AsyncIterator[AbstractConnection]:
    """A plain (not robust: no reconnecting behind the task's back) connection, closed on the way out."""
    aio_pika = import_client("aio_pika")
    aiormq_errors = import_client("aiormq.exceptions")
    try:
        connection = await aio_pika.connect(
            url.text, timeout=limit.seconds, client_properties={"connection_name": client_name(ctx)}
        )
    except TimeoutError:
        raise
    except (aiormq_errors.AMQPError, OSError) as exc:
        raise _amqp_refusal(url, exc) from None
    try:
        yield connection
    finally:
        await close_within(ctx.log, url.where, connection.close)


def _amqp_headers(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    headers = properties.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise TaskFailed(f"headers must be an object of names and values, got {as_text(headers)}")
    return dict(headers)


def _exchange_name(name: str) -> str:
    return repr(name) if name else "the default exchange"


class AmqpPublish(Plugin):
    """Publish one message to an AMQP exchange, confirmed by the broker."""

    manifest: ClassVar[Manifest] = Manifest(
        id="amqp.publish",
        name="Publish to AMQP",
        category="messaging",
        description=(
            "Publishes a message to an AMQP 0-9-1 exchange (RabbitMQ) with a routing key, and "
            "succeeds once the broker confirms it (publisher confirms). The default exchange "
            '("") delivers to the queue named by the routing key. An exchange that does not '
            "exist, a message no queue takes (unless `mandatory: false`) or a message the "
            "broker refuses (a full queue, a message over its size limit) fails the task."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "url": AMQP_URL_SCHEMA,
                "exchange": {
                    "type": "string",
                    "default": "",
                    "description": 'The exchange; "" (the default) routes straight to the queue named by `routing_key`.',
                },
                "routing_key": {
                    "type": "string",
                    "default": "",
                    "description": "The routing key: a queue name for the default exchange, a pattern's input for topic exchanges.",
                },
                "message": MESSAGE_SCHEMA,
                "headers": {
                    "type": "object",
                    "description": "Message headers, name to any JSON value.",
                },
                "content_type": {
                    "type": "string",
                    "description": "The content type; by default application/json for JSON values and text/plain for text.",
                },
                "persistent": {
                    "type": "boolean",
                    "default": True,
                    "description": "Ask durable queues to keep the message on disk (delivery mode 2), so it survives a broker restart.",
                },
                "mandatory": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail when no queue takes the message; false lets the broker drop it silently.",
                },
                "timeout": PUBLISH_TIMEOUT_SCHEMA,
            },
            "required": ["url", "message"],
            "additionalProperties": False,
        },
        output_schema=PUBLISHED_SCHEMA,
        examples=(
            "- name: order_event\n"
            "  type: amqp.publish\n"
            "  properties:\n"
            "    url: ${AMQP_URL}\n"
            "    exchange: amq.topic\n"
            "    routing_key: orders.created\n"
            "    message: {order_id: 1042, total: 99.5}\n"
            "    headers: {source: workflowdev}\n"
            "    mandatory: false\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], AMQP_PORTS, AMQP_EXAMPLE)
        exchange_name = _text(properties, "exchange", "")
        routing_key = _text(properties, "routing_key", "")
        if not exchange_name and not routing_key:
            raise TaskFailed("routing_key must name the queue when publishing to the default exchange")
        value = properties["message"]
        content_type = _text(properties, "content_type", "text/plain" if isinstance(value, str) else "application/json")
        persistent = _flag(properties, "persistent", True)
        mandatory = _flag(properties, "mandatory", True)
        headers = _amqp_headers(properties)
        payload = encode_message(value)
        limit = timeout(properties, "timeout", DEFAULT_TIMEOUT)
        aio_pika = import_client("aio_pika")
        aiormq_errors = import_client("aiormq.exceptions")
        target = f"{_exchange_name(exchange_name)} with routing key {routing_key!r}"
        step = Step(f"connecting to {url.where}")
        try:
            async with asyncio.timeout(limit.seconds), _amqp(ctx, url, limit) as connection:
                step.doing = f"publishing to {target} on {url.where}"
                channel = await connection.channel(publisher_confirms=True, on_return_raises=mandatory)
                exchange = channel.default_exchange if not exchange_name else await channel.get_exchange(exchange_name)
                message = aio_pika.Message(
                    payload,
                    headers=headers,
                    content_type=content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    if persistent
                    else aio_pika.DeliveryMode.NOT_PERSISTENT,
                )
                await exchange.publish(message, routing_key=routing_key, mandatory=mandatory)
        except TimeoutError:
            raise step.timed_out(limit) from None
        except aiormq_errors.PublishError:
            raise TaskFailed(
                f"no queue took the message sent to {target} on {url.where} (the broker returned it); "
                "set mandatory: false to let it be dropped"
            ) from None
        except aiormq_errors.DeliveryError:
            raise TaskFailed(
                f"the broker at {url.where} refused the message sent to {target} (it answered nack: "
                "a full queue that rejects new messages, or the broker is short of resources)"
            ) from None
        except aiormq_errors.AMQPError as exc:
            raise TaskFailed(f"{step.doing} failed: {url.scrub(str(exc) or type(exc).__name__)}") from None
        ctx.log.info(f"published {len(payload)} bytes to {target} on {url.where}")
        return {"published": True}


def _plain(value: object) -> JSON:
    """An AMQP header value as JSON: byte strings as text (or base64), timestamps as ISO 8601."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray):
        text, encoding = decode_payload(bytes(value))
        return text if encoding == "utf-8" else {"base64": text}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def _amqp_message(message: AbstractIncomingMessage) -> dict[str, JSON]:
    body, encoding = decode_payload(message.body)
    return {
        "payload": body,
        "encoding": encoding,
        "exchange": message.exchange or "",
        "routing_key": message.routing_key or "",
        "headers": _plain(dict(message.headers or {})),
        "content_type": message.content_type,
        "redelivered": bool(message.redelivered),
    }


class AmqpReceive(Plugin):
    """Take messages from an AMQP queue for a while, acknowledging them once the task has them."""

    manifest: ClassVar[Manifest] = Manifest(
        id="amqp.receive",
        name="Receive from AMQP",
        category="messaging",
        description=(
            "Consumes messages from an AMQP queue (RabbitMQ) and returns those that arrive within "
            "`timeout`, as soon as `max_messages` have. With `ack: true` (the default) they are "
            "acknowledged, and so removed from the queue, only once the task has all of them: a "
            "task that fails or is cancelled leaves them in the queue. With `ack: false` they go "
            "back to the queue (marked redelivered), which is a way to peek. The queue must "
            "exist unless `declare_queue: true`."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "url": AMQP_URL_SCHEMA,
                "queue": {"type": "string", "minLength": 1, "description": "The queue to consume from."},
                "max_messages": MAX_MESSAGES_SCHEMA,
                "timeout": WAIT_SCHEMA,
                "connect_timeout": CONNECT_TIMEOUT_SCHEMA,
                "ack": {
                    "type": "boolean",
                    "default": True,
                    "description": "Acknowledge (remove) the messages once received; false returns them to the queue.",
                },
                "declare_queue": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        "Declare the queue (durable, not exclusive, not auto-deleted) when it is missing. "
                        "By default a missing queue fails the task, so a typo cannot create a queue nobody feeds."
                    ),
                },
                "fail_on_empty": FAIL_ON_EMPTY_SCHEMA,
            },
            "required": ["url", "queue"],
            "additionalProperties": False,
        },
        output_schema=_received_schema(
            {
                "type": "object",
                "properties": {
                    "payload": PAYLOAD_SCHEMA,
                    "encoding": ENCODING_SCHEMA,
                    "exchange": {
                        "type": "string",
                        "description": 'The exchange it was published to ("" for the default).',
                    },
                    "routing_key": {"type": "string", "description": "The routing key it was published with."},
                    "headers": {
                        "type": "object",
                        "description": "Its headers (byte strings as text, timestamps in ISO 8601).",
                    },
                    "content_type": {
                        "type": ["string", "null"],
                        "description": "Its content type, if the publisher set one.",
                    },
                    "redelivered": {
                        "type": "boolean",
                        "description": "Whether the broker delivered it before without an acknowledgement.",
                    },
                },
                "required": [
                    "payload",
                    "encoding",
                    "exchange",
                    "routing_key",
                    "headers",
                    "content_type",
                    "redelivered",
                ],
                "additionalProperties": False,
            }
        ),
        examples=(
            "- name: next_orders\n"
            "  type: amqp.receive\n"
            "  properties:\n"
            "    url: ${AMQP_URL}\n"
            "    queue: workflowdev.examples.orders\n"
            "    declare_queue: true\n"
            "    max_messages: 10\n"
            "    timeout: 1s\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], AMQP_PORTS, AMQP_EXAMPLE)
        queue_name = _text(properties, "queue")
        if not queue_name:
            raise TaskFailed("queue must name a queue")
        max_messages = _whole(properties, "max_messages", 1, range(1, MAX_MESSAGES + 1))
        ack = _flag(properties, "ack", True)
        declare = _flag(properties, "declare_queue", False)
        fail_on_empty = _flag(properties, "fail_on_empty", False)
        wait = timeout(properties, "timeout", DEFAULT_WAIT)
        connect = timeout(properties, "connect_timeout", DEFAULT_TIMEOUT)
        aiormq_errors = import_client("aiormq.exceptions")
        step = Step(f"connecting to {url.where}")
        received: list[AbstractIncomingMessage] = []
        try:
            async with asyncio.timeout(connect.seconds) as deadline, _amqp(ctx, url, connect) as connection:
                step.doing = f"opening queue {queue_name!r} on {url.where}"
                channel = await connection.channel(publisher_confirms=False)
                # The broker sends no more than the task takes; the rest stays ready for others.
                await channel.set_qos(prefetch_count=max_messages)
                queue = await (
                    channel.declare_queue(queue_name, durable=True) if declare else channel.get_queue(queue_name)
                )
                async with queue.iterator() as stream:
                    deadline.reschedule(None)
                    step.doing = f"receiving from queue {queue_name!r} on {url.where}"
                    ctx.log.info(
                        f"consuming from queue {queue_name!r} on {url.where}; waiting up to {wait.text} for messages"
                    )
                    try:
                        async with asyncio.timeout(wait.seconds):
                            async for message in stream:
                                received.append(message)
                                if len(received) >= max_messages:
                                    break
                    except TimeoutError:
                        pass  # the wait is over: what arrived is the result
                if received:
                    step.doing = f"settling {len(received)} messages from queue {queue_name!r} on {url.where}"
                    last = received[-1]
                    await (last.ack(multiple=True) if ack else last.nack(multiple=True, requeue=True))
        except TimeoutError:
            raise step.timed_out(connect) from None
        except aiormq_errors.AMQPError as exc:
            raise TaskFailed(f"{step.doing} failed: {url.scrub(str(exc) or type(exc).__name__)}") from None
        messages = [_amqp_message(message) for message in received]
        return _received(ctx, messages, fail_on_empty, f"queue {queue_name!r} on {url.where}", wait)


PLUGINS: Final[list[type[Plugin]]] = [NatsPublish, NatsRequest, MqttPublish, MqttReceive, AmqpPublish, AmqpReceive]
