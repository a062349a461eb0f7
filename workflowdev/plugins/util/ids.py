"""util.uuid: random (v4), name-based (v5) and time-ordered (v7) UUIDs."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import read_whole_number
from workflowdev.plugins._toolkit import task_example

UUID_VERSIONS: Final = (4, 5, 7)
MAX_UUIDS: Final = 1000
UUID_NAMESPACES: Final = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


class _Uuid7Source:
    """Version 7 UUIDs (RFC 9562 section 5.7), strictly increasing within this process.

    Python 3.11 has no uuid7(). The 48-bit Unix millisecond timestamp is followed, in the 12
    `rand_a` bits, by the fraction of that millisecond (section 6.2, method 3); a value not greater
    than the previous one is bumped by one, so ids made in a batch, or by tasks running one after
    the other on this server, sort in the order they were made. The other 62 bits come from
    `secrets`. Tasks run on one event loop thread, so the shared state needs no lock.
    """

    def __init__(self) -> None:
        self._last_stamp = 0

    def next(self) -> uuid.UUID:
        milliseconds, nanoseconds = divmod(time.time_ns(), 1_000_000)
        stamp = max((milliseconds << 12) | (nanoseconds * 4096 // 1_000_000), self._last_stamp + 1)
        self._last_stamp = stamp
        unix_ms, fraction = stamp >> 12, stamp & 0xFFF
        value = (unix_ms << 80) | (0x7 << 76) | (fraction << 64) | (0b10 << 62) | secrets.randbits(62)
        return uuid.UUID(int=value)


_UUID7: Final = _Uuid7Source()


class Uuid(Plugin):
    """Make unique ids: random (4), time-ordered (7), or derived from a name (5)."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.uuid",
        name="Make UUIDs",
        category="util",
        description=(
            "Makes UUIDs (RFC 9562). Version 4 is random; version 7 starts with the time, so ids "
            "sort in the order they were made (good database keys); version 5 is derived from "
            "`namespace` and `name`, the same every time (an idempotency key for a record). "
            "`uuid` is the first id and `uuids` all of them."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "version": {
                    "type": "integer",
                    "enum": list(UUID_VERSIONS),
                    "default": 4,
                    "description": "4 (random), 7 (time-ordered) or 5 (from namespace and name).",
                },
                "count": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_UUIDS,
                    "default": 1,
                    "description": f"How many ids to make, at most {MAX_UUIDS}; version 5 makes one.",
                },
                "namespace": {
                    "type": "string",
                    "description": "Version 5 only: dns, url, oid, x500, or a UUID of your own.",
                },
                "name": {"type": "string", "description": "Version 5 only: the name the id is derived from."},
            },
            "if": {"properties": {"version": {"const": 5}}, "required": ["version"]},
            "then": {"required": ["namespace", "name"]},
            "additionalProperties": False,
        },
        output_schema=object_schema(
            {
                "uuid": {"type": "string", "format": "uuid", "description": "The (first) id, lowercase."},
                "uuids": {
                    "type": "array",
                    "items": {"type": "string", "format": "uuid"},
                    "description": "All the ids made, in the order they were made.",
                },
            },
            ["uuid", "uuids"],
        ),
        examples=(
            task_example("request_id", "util.uuid"),
            task_example(
                "order_keys",
                "util.uuid",
                """
                version: 7
                count: 3
                """,
            ),
            task_example(
                "customer_key",
                "util.uuid",
                """
                version: 5
                namespace: url
                name: https://shop.example.test/customers/42
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        version = read_choice(properties, "version", UUID_VERSIONS, 4)
        count = read_whole_number(properties, "count", 1, 1, MAX_UUIDS)
        if version == 5:
            if count != 1:
                raise TaskFailed("version 5 ids are derived from namespace and name, so count must be 1")
            ids = [uuid.uuid5(self._namespace(properties), self._name(properties))]
        elif "namespace" in properties or "name" in properties:
            raise TaskFailed("namespace and name are only used by version 5")
        else:
            make = uuid.uuid4 if version == 4 else _UUID7.next
            ids = [make() for _ in range(count)]
        texts = [str(made) for made in ids]
        return {"uuid": texts[0], "uuids": texts}

    @staticmethod
    def _namespace(properties: Mapping[str, JSON]) -> uuid.UUID:
        namespace = read_optional_text(properties, "namespace")
        if namespace is None:
            raise TaskFailed("version 5 needs a namespace (dns, url, oid, x500 or a UUID) and a name")
        if namespace.lower() in UUID_NAMESPACES:
            return UUID_NAMESPACES[namespace.lower()]
        try:
            return uuid.UUID(namespace)
        except ValueError:
            raise TaskFailed(f"namespace must be dns, url, oid, x500 or a UUID; got {namespace!r}") from None

    @staticmethod
    def _name(properties: Mapping[str, JSON]) -> str:
        name = read_optional_text(properties, "name")
        if name is None:
            raise TaskFailed("version 5 needs a name to derive the id from")
        return name
