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

The three brokers share `_brokers` (URLs, payloads, timeouts, the receive loop) and `_schemas`
(the manifests' pieces); each has its own module.
"""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.messaging.amqp import AmqpPublish
from workflowdev.plugins.messaging.amqp import AmqpReceive
from workflowdev.plugins.messaging.mqtt import MqttPublish
from workflowdev.plugins.messaging.mqtt import MqttReceive
from workflowdev.plugins.messaging.nats import NatsPublish
from workflowdev.plugins.messaging.nats import NatsRequest

__all__ = ["PLUGINS", "AmqpPublish", "AmqpReceive", "MqttPublish", "MqttReceive", "NatsPublish", "NatsRequest"]

PLUGINS: Final[list[type[Plugin]]] = [NatsPublish, NatsRequest, MqttPublish, MqttReceive, AmqpPublish, AmqpReceive]
