"""nats.publish and nats.request: core NATS, a publish confirmed by a PING and a request awaiting its reply."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._brokers import BrokerUrl
from workflowdev.plugins._brokers import Step
from workflowdev.plugins._brokers import client_name
from workflowdev.plugins._brokers import close_within
from workflowdev.plugins._brokers import decode_payload
from workflowdev.plugins._brokers import encode_message
from workflowdev.plugins._toolkit import duration_schema
from workflowdev.plugins._toolkit import import_client
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_duration
from workflowdev.plugins._toolkit import read_text
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.messaging._schemas import DEFAULT_TIMEOUT
from workflowdev.plugins.messaging._schemas import ENCODING_SCHEMA
from workflowdev.plugins.messaging._schemas import MESSAGE_SCHEMA
from workflowdev.plugins.messaging._schemas import NATS_EXAMPLE
from workflowdev.plugins.messaging._schemas import NATS_HEADERS_SCHEMA
from workflowdev.plugins.messaging._schemas import NATS_PORTS
from workflowdev.plugins.messaging._schemas import NATS_SUBJECT_SCHEMA
from workflowdev.plugins.messaging._schemas import NATS_URL_SCHEMA
from workflowdev.plugins.messaging._schemas import PAYLOAD_SCHEMA
from workflowdev.plugins.messaging._schemas import PUBLISH_TIMEOUT_SCHEMA
from workflowdev.plugins.messaging._schemas import PUBLISHED_SCHEMA

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient


def _nats_subject(properties: Mapping[str, JSON]) -> str:
    subject = read_text(properties, "subject")
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


# -- NATS -----------------------------------------------------------------------------------------


def _nats_refusal(url: BrokerUrl, exc: BaseException, connecting: Step, limit: TaskTimeout) -> TaskFailed:
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
    ctx: TaskContext, url: BrokerUrl, limit: TaskTimeout, step: Step
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
        input_schema=object_schema(
            {
                "url": NATS_URL_SCHEMA,
                "subject": NATS_SUBJECT_SCHEMA,
                "message": MESSAGE_SCHEMA,
                "headers": NATS_HEADERS_SCHEMA,
                "timeout": PUBLISH_TIMEOUT_SCHEMA,
            },
            ["url", "subject", "message"],
        ),
        output_schema=PUBLISHED_SCHEMA,
        examples=(
            task_example(
                "announce_order",
                "nats.publish",
                """
                url: ${NATS_URL}
                subject: orders.created
                message: {order_id: 1042, total: 99.5}
                headers: {source: workflowdev}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], NATS_PORTS, NATS_EXAMPLE)
        subject = _nats_subject(properties)
        headers = _nats_headers(properties)
        payload = encode_message(properties["message"])
        limit = read_duration(properties, "timeout", DEFAULT_TIMEOUT)
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
        input_schema=object_schema(
            {
                "url": NATS_URL_SCHEMA,
                "subject": NATS_SUBJECT_SCHEMA,
                "message": {**MESSAGE_SCHEMA, "default": ""},
                "headers": NATS_HEADERS_SCHEMA,
                "timeout": duration_schema(
                    DEFAULT_TIMEOUT, "How long connecting and waiting for the reply may take together:"
                ),
            },
            ["url", "subject"],
        ),
        output_schema=object_schema(
            {
                "reply": {**PAYLOAD_SCHEMA, "description": "The reply's body: text when it is UTF-8, else base64."},
                "encoding": ENCODING_SCHEMA,
                "headers": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "The reply's headers (empty when it had none).",
                },
            },
            ["reply", "encoding", "headers"],
        ),
        examples=(
            task_example(
                "jetstream_usage",
                "nats.request",
                """
                url: ${NATS_URL}
                subject: $JS.API.INFO
                timeout: 5s
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = BrokerUrl.parse(properties["url"], NATS_PORTS, NATS_EXAMPLE)
        subject = _nats_subject(properties)
        headers = _nats_headers(properties)
        payload = encode_message(properties.get("message", ""))
        limit = read_duration(properties, "timeout", DEFAULT_TIMEOUT)
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
