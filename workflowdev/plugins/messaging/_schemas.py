"""What the messaging task types describe alike: broker URLs, timeouts, payloads and received messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from workflowdev.engine.plugin import JSON
from workflowdev.plugins._brokers import DEFAULT_WAIT
from workflowdev.plugins._brokers import MAX_MESSAGES
from workflowdev.plugins._toolkit import duration_schema
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema

DEFAULT_TIMEOUT: Final = "10s"
"""For a publish or a request, the whole exchange; for a receive, reaching the broker."""

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


PUBLISH_TIMEOUT_SCHEMA: Final = duration_schema(
    DEFAULT_TIMEOUT, "How long the whole publish may take, from connecting to the broker's acknowledgement:"
)
CONNECT_TIMEOUT_SCHEMA: Final = duration_schema(
    DEFAULT_TIMEOUT, "How long reaching the broker and subscribing may take before the task fails:"
)
WAIT_SCHEMA: Final = duration_schema(
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
FAIL_ON_EMPTY_SCHEMA: Final[dict[str, JSON]] = flag_schema(
    False, "Fail the task when no message arrived within `timeout` (by default, count 0 is a result)."
)
PUBLISHED_SCHEMA: Final[dict[str, JSON]] = object_schema(
    {
        "published": {"const": True, "description": "Always true: a publish the broker did not take fails the task."},
    },
    ["published"],
)
PAYLOAD_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "description": "The message body: the text when it is UTF-8, else its base64 form.",
}
ENCODING_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "enum": ["utf-8", "base64"],
    "description": "How `payload` holds the body: utf-8 (the text itself) or base64 (binary bodies).",
}


def received_schema(message: Mapping[str, JSON]) -> dict[str, JSON]:
    return object_schema(
        {
            "messages": {
                "type": "array",
                "items": dict(message),
                "description": "The messages, in the order they arrived.",
            },
            "count": {"type": "integer", "minimum": 0, "description": "How many messages arrived (0 when none did)."},
        },
        ["messages", "count"],
    )


# -- reading properties ---------------------------------------------------------------------------
