"""redis: read, write, delete and publish Redis keys, and run other commands with a guard on the dangerous ones.

Each task opens one client with `async with` (so its connection closes however the task ends,
cancellation included; redis-py drops a connection whose reply never came), with connect and
socket timeouts plus an overall `timeout`. The `url` usually comes from a credential, so
messages name the host, port and user, never the URL.

Values travel as text. What a task stores: strings as they are, anything else as compact JSON
(`json: true` makes every value JSON, strings included). What a task returns: UTF-8 replies as
strings and any other bytes as `{"base64": "…"}`, an object that no text reply can be mistaken for.

This module is `workflowdev.plugins.redis`; inside it, `import redis` is the absolute import of
the redis-py package (no implicit relative imports in Python 3), done lazily in each task.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from urllib.parse import unquote
from urllib.parse import urlsplit

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_timeout
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import import_client
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_duration
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DANGEROUS_COMMANDS", "PLUGINS", "Command", "Delete", "Get", "Publish", "Set", "UNSUPPORTED_COMMANDS"]

DEFAULT_TIMEOUT: Final = "10s"
DEFAULT_PORT: Final = 6379
MAX_KEYS: Final = 1000

_DATA_LOSS: Final = "wipe or swap whole databases"
_SERVER: Final = "change or stop the server itself"
_CODE: Final = "run scripts on the server, which can do anything a command can"
DANGEROUS_COMMANDS: Final[Mapping[str, str]] = {
    "FLUSHALL": _DATA_LOSS,
    "FLUSHDB": _DATA_LOSS,
    "SWAPDB": _DATA_LOSS,
    "CONFIG": _SERVER,
    "SHUTDOWN": _SERVER,
    "DEBUG": _SERVER,
    "MODULE": _SERVER,
    "ACL": _SERVER,
    "CLIENT": _SERVER,
    "CLUSTER": _SERVER,
    "FAILOVER": _SERVER,
    "REPLICAOF": _SERVER,
    "SLAVEOF": _SERVER,
    "SAVE": _SERVER,
    "BGSAVE": _SERVER,
    "BGREWRITEAOF": _SERVER,
    "MIGRATE": "move keys to another server",
    "EVAL": _CODE,
    "EVALSHA": _CODE,
    "EVAL_RO": _CODE,
    "EVALSHA_RO": _CODE,
    "SCRIPT": _CODE,
    "FCALL": _CODE,
    "FCALL_RO": _CODE,
    "FUNCTION": _CODE,
    "KEYS": "block the server while it walks every key (SCAN does the same in steps)",
}
"""Refused unless the task sets `allow_dangerous: true`, with the reason in the error."""

UNSUPPORTED_COMMANDS: Final = frozenset(
    {
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
        "MONITOR", "SYNC", "PSYNC", "HELLO", "RESET", "QUIT",
    }
)  # fmt: skip
"""Commands that turn the connection into a stream or change its protocol: one request and one
reply cannot carry them, whatever `allow_dangerous` says."""

T = TypeVar("T")


# -- reading properties ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    where: str
    """"127.0.0.1:6379" or the socket path: how messages name the server."""
    user: str | None


def _target(value: JSON) -> _Target:
    """The server a URL names, checked without ever echoing the URL (it may hold a password)."""
    example = "redis://[user:password@]host:6379/0, rediss://… or unix:///path/to/redis.sock"
    if not isinstance(value, str) or not value.strip():
        raise TaskFailed(f"url must be a Redis URL such as {example}")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise TaskFailed(f"url is not a Redis URL; expected something like {example}") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise TaskFailed(f"url must start with redis://, rediss:// or unix://, like {example}")
    if parts.scheme == "unix":
        where = parts.path or "(no socket path)"
    else:
        where = f"{parts.hostname or 'localhost'}:{port or DEFAULT_PORT}"
    return _Target(value.strip(), where, unquote(parts.username) if parts.username else None)


def _key(properties: Mapping[str, JSON], name: str = "key") -> str:
    value = properties.get(name)
    if not isinstance(value, str) or value == "":
        raise TaskFailed(f"{name} must be a non-empty string")
    return value


def _encode(value: JSON, as_json: bool) -> str:
    """What is stored or sent: strings as they are, other values (or all, with json) as JSON."""
    if isinstance(value, str) and not as_json:
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise TaskFailed("the value holds NaN or an infinity, which JSON cannot carry") from None


# -- replies --------------------------------------------------------------------------------------


def _bytes_out(raw: bytes) -> JSON:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}


def _reply(value: Any) -> JSON:
    """A redis-py reply as JSON: text for UTF-8 bytes, {"base64": …} for other bytes."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_out(bytes(value))
    if isinstance(value, Mapping):
        return {_key_text(key): _reply(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_reply(item) for item in value]
    return str(value)


def _key_text(key: Any) -> str:
    """An object key must be text: bytes that are not UTF-8 become their base64 form."""
    if isinstance(key, (bytes, bytearray)):
        decoded = _bytes_out(bytes(key))
        return decoded if isinstance(decoded, str) else f"base64:{decoded['base64']}"
    return str(key)


# -- the connection -------------------------------------------------------------------------------


def _os_reason(error: BaseException | None) -> str | None:
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    return None


def _failure(exc: Exception, target: _Target, timeout: TaskTimeout) -> TaskFailed | None:
    """An operator-facing verdict for a redis-py error, or None for anything else."""
    from redis import exceptions

    if isinstance(exc, exceptions.AuthenticationError):
        user = f"user {target.user!r}" if target.user else "the default user"
        return TaskFailed(f"authentication failed for {user} at {target.where}: {exc}")
    if isinstance(exc, exceptions.TimeoutError):
        return TaskFailed(f"timed out after {timeout.text} waiting for Redis at {target.where}")
    if isinstance(exc, exceptions.ConnectionError):
        reason = _os_reason(exc.__context__) or _os_reason(exc.__cause__) or str(exc)
        return TaskFailed(f"could not connect to {target.where}: {reason}")
    if isinstance(exc, exceptions.ResponseError):
        return TaskFailed(f"Redis at {target.where} answered with an error: {exc}")
    if isinstance(exc, exceptions.RedisError):
        return TaskFailed(f"Redis at {target.where}: {exc}")
    return None


async def _with_client(properties: Mapping[str, JSON], use: Callable[[Redis], Awaitable[T]]) -> T:
    """Open a client for `url`, hand it to `use`, and close it whatever happens, within `timeout`."""
    target = _target(properties["url"])
    timeout = read_duration(properties, "timeout", DEFAULT_TIMEOUT)
    redis_asyncio = import_client("redis.asyncio")
    try:
        client = redis_asyncio.Redis.from_url(
            target.url,
            socket_connect_timeout=timeout.seconds,
            socket_timeout=timeout.seconds,
            decode_responses=False,
        )
    except ValueError:  # redis-py's URL parsing; its message may quote the URL
        raise TaskFailed(f"url is not a usable Redis URL for {target.where}") from None
    try:
        async with asyncio.timeout(timeout.seconds):
            async with client:
                return await use(client)
    except TimeoutError:
        raise TaskFailed(f"timed out after {timeout.text} waiting for Redis at {target.where}") from None
    except Exception as exc:
        failure = _failure(exc, target, timeout)
        if failure is None:
            raise
        raise failure from None


# -- schemas --------------------------------------------------------------------------------------


URL_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "description": (
        "The Redis server, as a URL that usually comes from a credential (`${REDIS_URL}`): "
        "redis://[user:password@]host:6379/0, rediss://… for TLS, or unix:///path/to/redis.sock."
    ),
}
KEY_SCHEMA: Final[dict[str, JSON]] = {"type": "string", "minLength": 1, "description": "The key."}
TIMEOUT_SCHEMA: Final[dict[str, JSON]] = {
    **DURATION_SCHEMA,
    "default": DEFAULT_TIMEOUT,
    "description": (
        "How long the whole task may take, connecting included: 500ms, 10s, ISO 8601 or a number "
        "of seconds. A server that accepts the connection but never answers fails the task then."
    ),
}
REPLY_TEXT: Final = 'UTF-8 text comes back as a string; other bytes as {"base64": "…"}.'


# -- the task types -------------------------------------------------------------------------------


class Get(Plugin):
    """Read one string key; a missing key is an answer (`found: false`), not a failure."""

    manifest: ClassVar[Manifest] = Manifest(
        id="redis.get",
        name="Read a Redis key",
        category="redis",
        description=(
            "Reads the string value of `key`. A missing key gives `found: false` and `value: null`; "
            "a key holding a hash, list or other type fails the task with Redis's WRONGTYPE error. "
            "With `json: true` the value is decoded as JSON."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "key": KEY_SCHEMA,
                "json": flag_schema(False, "Decode the stored text as JSON (a value that is not JSON fails the task)."),
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "key"],
        ),
        output_schema=object_schema(
            {
                "value": {"description": f"The value, or null when the key is missing. {REPLY_TEXT}"},
                "found": {"type": "boolean", "description": "Whether the key exists."},
            },
            ["value", "found"],
        ),
        examples=(
            task_example(
                "last_run",
                "redis.get",
                """
                url: ${REDIS_URL}
                key: workflowdev:example:last_run
                json: true
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        key = _key(properties)
        as_json = read_flag(properties, "json", False)

        async def use(client: Redis) -> bytes | None:
            raw: bytes | None = await client.get(key)
            return raw

        raw = await _with_client(properties, use)
        if raw is None:
            return {"value": None, "found": False}
        if not as_json:
            return {"value": _bytes_out(raw), "found": True}
        try:
            return {"value": json.loads(raw.decode("utf-8")), "found": True}
        except (UnicodeDecodeError, ValueError):
            raise TaskFailed(f"the value of {key} is not JSON; read it without json: true") from None


class Set(Plugin):
    """Write one string key, optionally with an expiry and only-if-absent/present conditions."""

    manifest: ClassVar[Manifest] = Manifest(
        id="redis.set",
        name="Write a Redis key",
        category="redis",
        description=(
            "Stores `value` under `key`: a string as it is, any other value as compact JSON (with "
            "`json: true`, strings too, so redis.get with json: true gives back exactly the value). "
            "`ttl` makes the key expire; `nx` writes only when the key does not exist (a lock or "
            "a once-only marker), `xx` only when it does. `set` tells whether it was written."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "key": KEY_SCHEMA,
                "value": {"description": "What to store: a string as it is, other JSON values as JSON text."},
                "json": flag_schema(False, "Store every value as JSON text, strings included."),
                "ttl": {
                    **DURATION_SCHEMA,
                    "description": "Expire the key after this long (500ms, 30s, 1h, 1d …); kept forever when absent.",
                },
                "nx": flag_schema(False, "Write only if the key does not exist yet."),
                "xx": flag_schema(False, "Write only if the key already exists."),
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "key", "value"],
        ),
        output_schema=single_value(
            "set", {"type": "boolean", "description": "True when written; false when nx or xx stopped it."}
        ),
        examples=(
            task_example(
                "remember_run",
                "redis.set",
                """
                url: ${REDIS_URL}
                key: workflowdev:example:last_run
                value: {status: ok, rows: 42}
                ttl: 1d
                """,
            ),
            task_example(
                "take_lock",
                "redis.set",
                """
                url: ${REDIS_URL}
                key: workflowdev:example:lock
                value: locked
                nx: true
                ttl: 30s
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        key = _key(properties)
        data = _encode(properties["value"], read_flag(properties, "json", False))
        nx, xx = read_flag(properties, "nx", False), read_flag(properties, "xx", False)
        if nx and xx:
            raise TaskFailed("nx and xx exclude each other: a key cannot both exist and not exist")
        ttl = properties.get("ttl")
        milliseconds = None if ttl is None else math.ceil(parse_timeout(ttl, "ttl").seconds * 1000)

        async def use(client: Redis) -> bool:
            return bool(await client.set(key, data, px=milliseconds, nx=nx, xx=xx))

        written = await _with_client(properties, use)
        ctx.log.info(f"{key} {'written' if written else 'left as it was'}")
        return {"set": written}


class Delete(Plugin):
    """Remove keys; keys that were not there are not an error."""

    manifest: ClassVar[Manifest] = Manifest(
        id="redis.delete",
        name="Delete Redis keys",
        category="redis",
        description=(
            "Deletes `keys` (one key or a list) of any type and returns how many existed. Missing "
            "keys are skipped, so deleting twice is safe."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "keys": {
                    "anyOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_KEYS,
                            "items": {"type": "string", "minLength": 1},
                        },
                    ],
                    "description": f"The key, or a list of at most {MAX_KEYS} keys, to delete.",
                },
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "keys"],
        ),
        output_schema=single_value(
            "deleted", {"type": "integer", "minimum": 0, "description": "How many of the keys existed."}
        ),
        examples=(
            task_example(
                "release_lock",
                "redis.delete",
                """
                url: ${REDIS_URL}
                keys: [workflowdev:example:lock, workflowdev:example:last_run]
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        raw = properties["keys"]
        keys = [raw] if isinstance(raw, str) else raw
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise TaskFailed("keys must be a key or a non-empty list of keys")
        if len(keys) > MAX_KEYS:
            raise TaskFailed(f"keys holds {len(keys)} keys; at most {MAX_KEYS} are deleted in one task")

        async def use(client: Redis) -> int:
            return int(await client.delete(*keys))

        deleted = await _with_client(properties, use)
        ctx.log.info(f"deleted {deleted} of {len(keys)} key(s)")
        return {"deleted": deleted}


class Publish(Plugin):
    """Send a message to a pub/sub channel; Redis keeps nothing for absent subscribers."""

    manifest: ClassVar[Manifest] = Manifest(
        id="redis.publish",
        name="Publish to a Redis channel",
        category="redis",
        description=(
            "Publishes `message` on `channel`: a string as it is, any other value as compact JSON "
            "(all values with `json: true`). Returns how many subscribers received it; pub/sub "
            "keeps nothing, so a message nobody listens to is gone (receivers: 0, still a success)."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "channel": {"type": "string", "minLength": 1, "description": "The channel."},
                "message": {"description": "The message: a string as it is, other JSON values as JSON text."},
                "json": flag_schema(False, "Send every message as JSON text, strings included."),
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "channel", "message"],
        ),
        output_schema=single_value(
            "receivers",
            {
                "type": "integer",
                "minimum": 0,
                "description": "How many subscribers received the message.",
            },
        ),
        examples=(
            task_example(
                "announce",
                "redis.publish",
                """
                url: ${REDIS_URL}
                channel: workflowdev:example:events
                message: {event: import_finished, rows: 42}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        channel = _key(properties, "channel")
        data = _encode(properties["message"], read_flag(properties, "json", False))

        async def use(client: Redis) -> int:
            return int(await client.publish(channel, data))

        receivers = await _with_client(properties, use)
        ctx.log.info(f"published on {channel} to {receivers} receiver(s)")
        return {"receivers": receivers}


class Command(Plugin):
    """Any other command, as an argument list; the ones that can hurt the server need consent."""

    manifest: ClassVar[Manifest] = Manifest(
        id="redis.command",
        name="Run a Redis command",
        category="redis",
        description=(
            "Sends one command, written as its argument list (`[HSET, user:1, name, Ada]`), and "
            "returns the reply. Commands that wipe data, reconfigure or stop the server, run "
            f"scripts, or block it ({', '.join(sorted(DANGEROUS_COMMANDS))}) are refused unless "
            "`allow_dangerous: true`. Subscribing, MONITOR and protocol changes are never run: a "
            "task sends one request and reads one reply."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "command": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": ["string", "number", "boolean"]},
                    "description": (
                        "The command and its arguments. Numbers and booleans are sent as their text (true, false)."
                    ),
                },
                "allow_dangerous": flag_schema(False, "Allow the commands refused by default (see the description)."),
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "command"],
        ),
        output_schema=single_value(
            "result",
            {
                "description": (
                    "The reply: numbers, text, lists, null, true for OK, and objects for "
                    f"replies redis-py reads as such (HGETALL, INFO). {REPLY_TEXT}"
                ),
            },
        ),
        examples=(
            task_example(
                "count_visit",
                "redis.command",
                """
                url: ${REDIS_URL}
                command: [INCRBY, workflowdev:example:visits, 5]
                """,
            ),
            task_example(
                "profile",
                "redis.command",
                """
                url: ${REDIS_URL}
                command: [HGETALL, workflowdev:example:profile]
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        argv = properties["command"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, (str, int, float)) for a in argv):
            raise TaskFailed("command must be a non-empty list of strings and numbers, like [GET, some:key]")
        words = [as_text(arg) for arg in argv]
        name = words[0].upper()
        if name in UNSUPPORTED_COMMANDS:
            raise TaskFailed(
                f"{name} cannot run as a task: it turns the connection into a stream or changes its "
                "protocol, and a task sends one request and reads one reply"
            )
        if name in DANGEROUS_COMMANDS and not read_flag(properties, "allow_dangerous", False):
            raise TaskFailed(
                f"{name} is refused by default because it can {DANGEROUS_COMMANDS[name]}; set "
                "allow_dangerous: true if this flow really needs it"
            )

        async def use(client: Redis) -> Any:
            return await client.execute_command(*words)

        result = _reply(await _with_client(properties, use))
        ctx.log.info(f"{name} done")
        return {"result": result}


PLUGINS: Final[list[type[Plugin]]] = [Get, Set, Delete, Publish, Command]
