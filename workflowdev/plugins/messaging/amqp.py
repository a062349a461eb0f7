"""amqp.publish and amqp.receive: RabbitMQ through aio-pika, with publisher confirms and explicit queues."""

from __future__ import annotations

import asyncio
import errno
import math
from collections.abc import AsyncIterator
from collections.abc import Mapping
from contextlib import asynccontextmanager
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import ClassVar
from urllib.parse import unquote

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._brokers import BrokerUrl
from workflowdev.plugins._brokers import Collection
from workflowdev.plugins._brokers import Step
from workflowdev.plugins._brokers import client_name
from workflowdev.plugins._brokers import close_within
from workflowdev.plugins._brokers import decode_payload
from workflowdev.plugins._brokers import encode_message
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import import_client
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_duration
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_text
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.messaging._schemas import AMQP_EXAMPLE
from workflowdev.plugins.messaging._schemas import AMQP_PORTS
from workflowdev.plugins.messaging._schemas import AMQP_URL_SCHEMA
from workflowdev.plugins.messaging._schemas import CONNECT_TIMEOUT_SCHEMA
from workflowdev.plugins.messaging._schemas import DEFAULT_TIMEOUT
from workflowdev.plugins.messaging._schemas import ENCODING_SCHEMA
from workflowdev.plugins.messaging._schemas import FAIL_ON_EMPTY_SCHEMA
from workflowdev.plugins.messaging._schemas import MAX_MESSAGES_SCHEMA
from workflowdev.plugins.messaging._schemas import MESSAGE_SCHEMA
from workflowdev.plugins.messaging._schemas import PAYLOAD_SCHEMA
from workflowdev.plugins.messaging._schemas import PUBLISH_TIMEOUT_SCHEMA
from workflowdev.plugins.messaging._schemas import PUBLISHED_SCHEMA
from workflowdev.plugins.messaging._schemas import WAIT_SCHEMA
from workflowdev.plugins.messaging._schemas import received_schema

if TYPE_CHECKING:
    from aio_pika.abc import AbstractConnection
    from aio_pika.abc import AbstractIncomingMessage

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
async def _amqp(ctx: TaskContext, url: BrokerUrl, limit: TaskTimeout) -> AsyncIterator[AbstractConnection]:
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
        input_schema=object_schema(
            {
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
                "persistent": flag_schema(
                    True,
                    "Ask durable queues to keep the message on disk (delivery mode 2), so it survives a broker restart.",
                ),
                "mandatory": flag_schema(
                    True, "Fail when no queue takes the message; false lets the broker drop it silently."
                ),
                "timeout": PUBLISH_TIMEOUT_SCHEMA,
            },
            ["url", "message"],
        ),
        output_schema=PUBLISHED_SCHEMA,
        examples=(
            task_example(
                "order_event",
                "amqp.publish",
                """
                url: ${AMQP_URL}
                exchange: amq.topic
                routing_key: orders.created
                message: {order_id: 1042, total: 99.5}
                headers: {source: workflowdev}
                mandatory: false
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], AMQP_PORTS, AMQP_EXAMPLE)
        exchange_name = read_text(properties, "exchange", "")
        routing_key = read_text(properties, "routing_key", "")
        if not exchange_name and not routing_key:
            raise TaskFailed("routing_key must name the queue when publishing to the default exchange")
        value = properties["message"]
        content_type = read_text(
            properties, "content_type", "text/plain" if isinstance(value, str) else "application/json"
        )
        persistent = read_flag(properties, "persistent", True)
        mandatory = read_flag(properties, "mandatory", True)
        headers = _amqp_headers(properties)
        payload = encode_message(value)
        limit = read_duration(properties, "timeout", DEFAULT_TIMEOUT)
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
        input_schema=object_schema(
            {
                "url": AMQP_URL_SCHEMA,
                "queue": {"type": "string", "minLength": 1, "description": "The queue to consume from."},
                "max_messages": MAX_MESSAGES_SCHEMA,
                "timeout": WAIT_SCHEMA,
                "connect_timeout": CONNECT_TIMEOUT_SCHEMA,
                "ack": flag_schema(
                    True, "Acknowledge (remove) the messages once received; false returns them to the queue."
                ),
                "declare_queue": flag_schema(
                    False,
                    "Declare the queue (durable, not exclusive, not auto-deleted) when it is missing. "
                    "By default a missing queue fails the task, so a typo cannot create a queue nobody feeds.",
                ),
                "fail_on_empty": FAIL_ON_EMPTY_SCHEMA,
            },
            ["url", "queue"],
        ),
        output_schema=received_schema(
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
            task_example(
                "next_orders",
                "amqp.receive",
                """
                url: ${AMQP_URL}
                queue: workflowdev.examples.orders
                declare_queue: true
                max_messages: 10
                timeout: 1s
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], AMQP_PORTS, AMQP_EXAMPLE)
        queue_name = read_text(properties, "queue")
        if not queue_name:
            raise TaskFailed("queue must name a queue")
        collection = Collection.read(properties)
        ack = read_flag(properties, "ack", True)
        declare = read_flag(properties, "declare_queue", False)
        connect = read_duration(properties, "connect_timeout", DEFAULT_TIMEOUT)
        aiormq_errors = import_client("aiormq.exceptions")
        step = Step(f"connecting to {url.where}")
        try:
            async with asyncio.timeout(connect.seconds) as deadline, _amqp(ctx, url, connect) as connection:
                step.doing = f"opening queue {queue_name!r} on {url.where}"
                channel = await connection.channel(publisher_confirms=False)
                # The broker sends no more than the task takes; the rest stays ready for others.
                await channel.set_qos(prefetch_count=collection.max_messages)
                queue = await (
                    channel.declare_queue(queue_name, durable=True) if declare else channel.get_queue(queue_name)
                )
                async with queue.iterator() as stream:
                    deadline.reschedule(None)
                    step.doing = f"receiving from queue {queue_name!r} on {url.where}"
                    listening = f"consuming from queue {queue_name!r} on {url.where}"
                    received: list[AbstractIncomingMessage] = await collection.gather(ctx.log, stream, listening)
                if received:
                    step.doing = f"settling {len(received)} messages from queue {queue_name!r} on {url.where}"
                    last = received[-1]
                    await (last.ack(multiple=True) if ack else last.nack(multiple=True, requeue=True))
        except TimeoutError:
            raise step.timed_out(connect) from None
        except aiormq_errors.AMQPError as exc:
            raise TaskFailed(f"{step.doing} failed: {url.scrub(str(exc) or type(exc).__name__)}") from None
        messages = [_amqp_message(message) for message in received]
        return collection.outputs(ctx.log, messages, f"queue {queue_name!r} on {url.where}")
