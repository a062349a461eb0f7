"""What the messaging task types share: broker URLs that never show their password, payloads as
text, timeouts that name what they were waiting for, and a goodbye that cannot hang a task.

A broker URL usually comes from a credential (`${AMQP_URL}`); the engine masks the credential
itself, but a message built from the URL's parts (host, port, user) is new text the engine has
never seen. So messages name the server as `scheme://host:port[/vhost]`, without user or
password, and anything a client library says is scrubbed of the password before it is shown.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Final
from typing import TypeVar
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskLogger
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._toolkit import read_duration
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_whole_number

__all__ = [
    "CLOSE_SECONDS",
    "DEFAULT_WAIT",
    "MAX_MESSAGES",
    "BrokerUrl",
    "Collection",
    "Step",
    "client_name",
    "close_within",
    "decode_payload",
    "encode_message",
]

CLOSE_SECONDS: Final = 5.0
"""How long a task waits for a broker to acknowledge its goodbye before dropping the socket."""
MASK: Final = "***"
DEFAULT_WAIT: Final = "10s"
"""How long a receive waits for messages."""
MAX_MESSAGES: Final = 10_000
"""Received messages are task outputs, kept in memory and stored: a receive takes at most this many."""

Message = TypeVar("Message")


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """A broker URL taken apart. `text` and `password` are secrets: kept out of repr and messages."""

    text: str = field(repr=False)
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    path: str
    """The URL's path as written (`/` or `/vhost` for AMQP; empty for NATS and MQTT)."""

    @classmethod
    def parse(cls, value: JSON, default_ports: Mapping[str, int], example: str) -> BrokerUrl:
        """Check a URL without ever echoing it: a refusal names the expected form, not the text."""
        if not isinstance(value, str) or not value.strip():
            raise TaskFailed(f"url must be a URL such as {example}")
        text = value.strip()
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise TaskFailed(
                f"url is not a valid URL (a port that is not a number?); expected something like {example}"
            ) from None
        schemes = ", ".join(f"{scheme}://" for scheme in default_ports)
        if parts.scheme not in default_ports:
            raise TaskFailed(f"url must start with {schemes} like {example}")
        if not parts.hostname:
            raise TaskFailed(f"url names no host; expected something like {example}")
        return cls(
            text=text,
            scheme=parts.scheme,
            host=parts.hostname,
            port=port or default_ports[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            path=parts.path,
        )

    @property
    def where(self) -> str:
        """How messages name the server: no user, no password, no query."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    def scrub(self, text: str) -> str:
        """`text` (say, a client library's error) with the URL and its password replaced by ***."""
        secrets = {self.text}
        if self.password:
            secrets |= {self.password, quote(self.password, safe=""), quote(self.password)}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


def client_name(ctx: TaskContext) -> str:
    """How the broker's own tools (connection lists, client ids) show this task's connection."""
    return f"workflowdev {ctx.namespace}/{ctx.flow_name}:{ctx.task_name} ({ctx.execution_id})"


def encode_message(value: JSON) -> bytes:
    """Text as it is, anything else as compact JSON, in UTF-8."""
    return as_text(value).encode()


def decode_payload(data: bytes) -> tuple[str, str]:
    """(payload, encoding): UTF-8 text as text, any other bytes as base64, so nothing is lost."""
    try:
        return data.decode(), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


class Step:
    """What a task is waiting for right now, so that a timeout can say where it got stuck."""

    def __init__(self, doing: str) -> None:
        self.doing = doing

    def timed_out(self, limit: TaskTimeout) -> TaskFailed:
        return TaskFailed(f"timed out after {limit.text} {self.doing}")


async def close_within(log: TaskLogger, what: str, close: Callable[[], Awaitable[object]]) -> None:
    """Say goodbye to a broker, also while the task is being cancelled.

    The task's outcome is decided by then, so a goodbye that fails or is not acknowledged within
    CLOSE_SECONDS is only logged; the client drops its socket either way.
    """
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await close()
    except Exception as exc:  # noqa: BLE001 - the outcome is decided; a failed goodbye must not replace it
        log.debug(f"closing the connection to {what} did not finish cleanly: {type(exc).__name__}")


@dataclass(frozen=True, slots=True)
class Collection:
    """What a receive task collects: at most `max_messages`, for at most `wait`.

    Every broker's receive works the same way once subscribed, so that a flow can swap NATS for
    MQTT or AMQP without learning new rules: what arrived within the wait is the result, and no
    message at all is a result too unless `fail_on_empty` says otherwise.
    """

    max_messages: int
    wait: TaskTimeout
    fail_on_empty: bool

    @classmethod
    def read(cls, properties: Mapping[str, JSON]) -> Collection:
        return cls(
            max_messages=read_whole_number(properties, "max_messages", 1, 1, MAX_MESSAGES),
            wait=read_duration(properties, "timeout", DEFAULT_WAIT),
            fail_on_empty=read_flag(properties, "fail_on_empty", False),
        )

    async def gather(self, log: TaskLogger, stream: AsyncIterator[Message], listening: str) -> list[Message]:
        """Messages from `stream` until there are enough or the wait is over (not an error)."""
        log.info(f"{listening}; waiting up to {self.wait.text} for messages")
        received: list[Message] = []
        try:
            async with asyncio.timeout(self.wait.seconds):
                async for message in stream:
                    received.append(message)
                    if len(received) >= self.max_messages:
                        break
        except TimeoutError:
            pass  # the wait is over: what arrived is the result
        return received

    def outputs(self, log: TaskLogger, messages: list[dict[str, JSON]], source: str) -> dict[str, JSON]:
        if not messages and self.fail_on_empty:
            raise TaskFailed(f"no message arrived from {source} within {self.wait.text}")
        log.info(f"received {len(messages)} message{'' if len(messages) == 1 else 's'} from {source}")
        return {"messages": messages, "count": len(messages)}
