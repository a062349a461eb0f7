"""Triggers: what starts executions without a person — webhooks, schedules, other flows.

Every firing is a row in `trigger_firings`, committed together with the execution it starts.
Its unique keys are what make firing exactly-once: (trigger, scheduled instant) for schedules
(fired by `schedules.py`), (trigger, idempotency key) for webhooks that send `Idempotency-Key`
and for flow triggers (the upstream execution's id). A second node, a restart or a repeated
event that tries the same firing fails on the key and starts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine import failpoints
from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.errors import Conflict
from workflowdev.engine.errors import DomainError
from workflowdev.engine.errors import Invalid
from workflowdev.engine.errors import NotFound
from workflowdev.engine.errors import Unauthorized
from workflowdev.engine.errors import must_exist
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import Event
from workflowdev.engine.events import EventBus
from workflowdev.engine.language import webhook_signature
from workflowdev.engine.language.flow import InputsInvalid
from workflowdev.engine.language.flow import TriggerSpec
from workflowdev.engine.language.flow import check_inputs
from workflowdev.engine.language.trigger_config import TRIGGER_TYPES
from workflowdev.engine.language.trigger_config import check_config
from workflowdev.engine.language.trigger_config import new_webhook_key
from workflowdev.engine.language.trigger_config import next_instant
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.executions import CompiledFlows
from workflowdev.engine.services.executions import ExecutionService
from workflowdev.engine.services.followed_flows import FollowedFlows
from workflowdev.store import flows as flows_store
from workflowdev.store import triggers as store
from workflowdev.store.database import Database

log = logging.getLogger(__name__)

IDEMPOTENCY_WINDOW = timedelta(hours=24)
FLOW_SWEEP_INTERVAL = timedelta(seconds=10)
"""Between a node's looks for unfired ends: each look reads every end of the window."""
FLOW_SWEEP_GRACE = timedelta(seconds=5)
"""Ends younger than this are left to the event that is firing them (after a node's first look)."""
FLOW_SWEEP_OVERLAP = timedelta(seconds=30)
"""How far before its last look a node looks again: more than any delay between an end's
`finished_at` and its commit, so no end is between two looks unseen."""
MAX_FLOW_SWEEP = 500
"""Ends one look fires per trigger; the rest wait for the next look."""
MAX_START_ATTEMPTS = 3
"""Inserts one idempotent call tries: a key past its window fails the first, is freed (by this
call or a concurrent one) and is then won or lost; a third failure is not about the key."""
SECRET_MASK = "***"
HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-workflowdev-signature"})
"""Request headers never stored with an execution: they carry credentials."""


def trigger_json(row: Any) -> dict[str, Any]:
    config = dict(row.config or {})
    if config.get("secret"):
        config["secret"] = SECRET_MASK
    return {
        "id": row.id,
        "flowId": row.flow_id,
        "type": row.type,
        "name": row.name,
        "enabled": row.enabled,
        "config": config,
        "fromYaml": row.from_yaml,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
        "lastFiredAt": rfc3339(row.last_fired_at),
        "nextFireAt": rfc3339(row.next_fire_at),
    }


@dataclass(frozen=True)
class WebhookCall:
    key: str
    body: Any
    raw_body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, Any]
    signature: str | None
    idempotency_key: str | None


def _problems_to_invalid(problems: Sequence[tuple[str, str]], message: str) -> Invalid:
    return Invalid(message, [{"path": f"config.{path}", "message": text} for path, text in problems])


def trigger_values(kind: str, config: Mapping[str, Any], enabled: bool, now: datetime) -> dict[str, Any]:
    """The columns derived from a trigger's config (a webhook key is made when missing)."""
    config = dict(config)
    values: dict[str, Any] = {"webhook_key": None, "upstream_flow_id": None, "next_fire_at": None}
    if kind == "webhook":
        config["key"] = config.get("key") or new_webhook_key()
        values["webhook_key"] = config["key"]
    elif kind == "schedule":
        config = {"timezone": "UTC", "inputs": {}, "catchUp": False, **config}
        if enabled:
            values["next_fire_at"] = next_instant(config["cron"], config["timezone"], now)
    else:
        config = {"statuses": [ExecutionStatus.SUCCESS.value], **config}
        values["upstream_flow_id"] = config["upstreamFlowId"]
    values["config"] = config
    return values


class TriggerService:
    def __init__(
        self, db: Database, executions: ExecutionService, flows: CompiledFlows, bus: EventBus, clock: Clock
    ) -> None:
        self.db = db
        self.executions = executions
        self.flows = flows
        self.bus = bus
        self.clock = clock
        self._pending: set[asyncio.Task[None]] = set()
        self._followed = FollowedFlows(db)
        self._swept_until: datetime | None = None
        self._last_look: datetime | None = None
        self._unstartable: set[tuple[str, str]] = set()
        """(trigger, upstream execution) pairs already reported as unable to start: the sweep
        meets them again for a few minutes and should not say so every time."""
        bus.listen(self._on_event)

    # -- CRUD ------------------------------------------------------------------------------

    async def get(self, trigger_id: str) -> Row[Any]:
        async with self.db.read() as conn:
            row = await store.get(conn, trigger_id)
        return must_exist(row, "trigger", trigger_id)

    async def list(self, *, flow_id: str | None, kind: str | None, limit: int, offset: int) -> tuple[Sequence[Row[Any]], int]:
        async with self.db.read() as conn:
            return await store.list_triggers(conn, flow_id=flow_id, kind=kind, limit=limit, offset=offset)

    async def create(
        self,
        *,
        flow_id: str,
        kind: str,
        name: str | None,
        enabled: bool,
        config: Mapping[str, Any],
        actor: Actor,
    ) -> Row[Any]:
        if kind not in TRIGGER_TYPES:
            raise Invalid(f"type must be one of {', '.join(TRIGGER_TYPES)}", [{"path": "type", "message": "unknown type"}])
        await self._check(flow_id, kind, config)
        now = self.clock()
        trigger_id = str(uuid.uuid4())
        values = trigger_values(kind, config, enabled, now)
        try:
            async with self.db.write() as conn:
                await store.insert_trigger(
                    conn,
                    id=trigger_id,
                    flow_id=flow_id,
                    type=kind,
                    name=name or kind,
                    enabled=enabled,
                    from_yaml=False,
                    created_at=now,
                    updated_at=now,
                    last_fired_at=None,
                    **values,
                )
                await self._audit(conn, actor, "trigger.create", trigger_id, {"flowId": flow_id, "type": kind})
        except IntegrityError:
            raise Conflict("that webhook key is already in use") from None
        self.changed()
        return await self.get(trigger_id)

    async def update(
        self,
        trigger_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        enabled: bool | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Row[Any]:
        current = await self.get(trigger_id)
        if current.from_yaml and (name is not None or config is not None):
            raise Conflict(f"trigger {current.name} is declared in its flow's YAML: change it there (only `enabled` can be set here)")
        new_config = dict(config) if config is not None else dict(current.config or {})
        if config is not None and current.type == "webhook" and "secret" not in config and current.config.get("secret"):
            new_config["secret"] = current.config["secret"]  # a secret is never sent back, so keep it
        if config is not None:
            await self._check(current.flow_id, current.type, new_config)
        now_enabled = current.enabled if enabled is None else enabled
        values: dict[str, Any] = {"updated_at": self.clock(), "enabled": now_enabled}
        if name is not None:
            values["name"] = name
        if config is not None or now_enabled != current.enabled:
            derived = trigger_values(current.type, new_config, now_enabled, self.clock())
            if config is None and current.type == "schedule" and now_enabled:
                derived["config"] = current.config  # re-enabled: next future instant, never a backlog
            values.update(derived)
        try:
            async with self.db.write() as conn:
                await store.update_trigger(conn, trigger_id, **values)
                await self._audit(conn, actor, "trigger.update", trigger_id, {"changed": sorted(k for k in values if k != "updated_at")})
        except IntegrityError:
            raise Conflict("that webhook key is already in use") from None
        self.changed()
        return await self.get(trigger_id)

    async def delete(self, trigger_id: str, *, actor: Actor) -> None:
        current = await self.get(trigger_id)
        if current.from_yaml:
            raise Conflict(f"trigger {current.name} is declared in its flow's YAML: remove it there")
        async with self.db.write() as conn:
            await store.delete_trigger(conn, trigger_id)
            await self._audit(conn, actor, "trigger.delete", trigger_id, {"flowId": current.flow_id})
        self.changed()

    def changed(self) -> None:
        """Triggers were written (here, through a flow's YAML, or on another node that said so):
        which flows are followed must be read again before the next execution's end."""
        self._followed.forget()

    async def _check(self, flow_id: str, kind: str, config: Mapping[str, Any]) -> None:
        problems = check_config(kind, config)
        if problems:
            raise _problems_to_invalid(problems, f"invalid {kind} trigger: {problems[0][0]}: {problems[0][1]}")
        async with self.db.read() as conn:
            flow = await flows_store.get_flow(conn, flow_id)
            upstream = await flows_store.get_flow(conn, config["upstreamFlowId"]) if kind == "flow" else True
        if flow is None:
            raise Invalid(f"flow {flow_id} not found", [{"path": "flowId", "message": "unknown flow"}])
        if upstream is None:
            raise Invalid(f"upstream flow {config['upstreamFlowId']} not found", [{"path": "config.upstreamFlowId", "message": "unknown flow"}])
        if kind == "schedule":
            parsed = self.flows.get(flow.id, flow.revision, flow.yaml_content)
            try:
                check_inputs(parsed, config.get("inputs") or {})
            except InputsInvalid as exc:
                raise Invalid("the schedule's inputs do not match the flow's inputs", [
                    {"path": f"config.{e['path']}", "message": e["message"]} for e in exc.errors
                ]) from None

    async def _audit(self, conn: AsyncConnection, actor: Actor, action: str, trigger_id: str, details: dict[str, Any]) -> None:
        await audit_trail.record(conn, actor, action, "trigger", trigger_id, details, self.clock())

    # -- firing ----------------------------------------------------------------------------

    async def fire_webhook(self, call: WebhookCall) -> tuple[dict[str, Any], bool]:
        """Start the webhook's flow; returns (started, created). A repeat within the
        idempotency window (the same Idempotency-Key, or a timestamped signature sent again)
        returns the first call's execution and created=False."""
        async with self.db.read() as conn:
            trigger = await store.by_webhook_key(conn, call.key)
        if trigger is None or not trigger.enabled:
            raise NotFound("no enabled webhook with that key")
        try:
            verified = webhook_signature.verify(trigger.config or {}, call.raw_body, call.signature, self.clock().timestamp())
        except webhook_signature.SignatureRefused as exc:
            raise Unauthorized(str(exc)) from None
        payload = {
            "type": "webhook",
            "id": trigger.id,
            "body": call.body,
            "headers": {k: v for k, v in call.headers.items() if k.lower() not in HIDDEN_HEADERS},
            "query": dict(call.query),
        }
        once = call.idempotency_key or verified.replay_key
        if once is None:
            return await self._start(trigger, payload, None), True
        return await self._start_once(trigger, payload, once)

    async def _start_once(self, trigger: Any, payload: dict[str, Any], key: str) -> tuple[dict[str, Any], bool]:
        """Start the flow unless this key fired within the window. The firing's insert against
        its unique key (trigger, key) is the one step that decides: of concurrent calls exactly
        one commits, the others fail on the key and answer the winner's execution. A key whose
        firing is past the window is freed (never deleted within it) and the insert tried again."""
        seen = await self._fired_within_window(trigger.id, key)
        attempts = 0
        while seen is None:
            try:
                return await self._start(trigger, payload, key), True
            except IntegrityError:
                attempts += 1
                seen = await self._fired_within_window(trigger.id, key)
                if seen is None:
                    if attempts == MAX_START_ATTEMPTS:
                        raise
                    async with self.db.write() as conn:
                        await store.retire_idempotency_key(conn, trigger.id, key, self.clock() - IDEMPOTENCY_WINDOW)
        status = (await self.executions.get_row(seen.execution_id)).status
        return {"executionId": seen.execution_id, "status": status}, False

    async def _fired_within_window(self, trigger_id: str, key: str) -> Row[Any] | None:
        async with self.db.read() as conn:
            return await store.firing_by_idempotency(conn, trigger_id, key, self.clock() - IDEMPOTENCY_WINDOW)

    async def _start(self, trigger: Any, payload: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        execution_id = str(uuid.uuid4())
        now = self.clock()
        firing = store.firing_row(trigger.id, execution_id, now, idempotency_key=idempotency_key)
        return await self.executions.start(
            trigger.flow_id,
            actor=Actor(f"trigger:{trigger.name}"),
            trigger=payload,
            execution_id=execution_id,
            also=[(store.INSERT_FIRING, firing), (store.MARK_FIRED, {"trigger_id": trigger.id, "at": now})],
        )

    def _on_event(self, event: Event) -> None:
        if event.type != EXECUTION_UPDATED or event.data.get("status") not in ENDED or "flowId" not in event.data:
            return
        task = asyncio.get_running_loop().create_task(self._fire_flow_triggers(event.execution_id, event.data))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _fire_flow_triggers(self, execution_id: str, data: Mapping[str, Any]) -> None:
        try:
            if not await self._followed.includes(data["flowId"]):
                return
            async with self.db.read() as conn:
                downstream = await store.flow_triggers_of(conn, data["flowId"])
            for trigger in downstream:
                if data["status"] in _statuses_of(trigger):
                    failpoints.reached("flow-trigger.before-fire")
                    await self._fire_flow_trigger(trigger, execution_id, data["flowId"], data["status"], data.get("flowName"))
        except Exception:  # noqa: BLE001 - a failed downstream start must not break the bus
            log.exception("flow triggers after execution %s failed", execution_id)

    async def fire_missed_flow_triggers(self) -> int:
        """Fire the flow triggers whose upstream end was committed but never fired them.

        The terminal status is committed before its event, and the event fires the triggers; a
        node that dies in between would lose the firing. So the ended execution itself is the
        outbox: its status is the intent, and a firing row keyed by the upstream execution's id
        is the proof it was done. This reads back the ends with no such row (since the last
        look, less an overlap; a day back on a node's first look) and fires them. Each fires
        once across nodes and restarts: the firing's unique key refuses a second.
        """
        now = self.clock()
        if self._last_look is not None and now - self._last_look < FLOW_SWEEP_INTERVAL:
            return 0
        self._last_look = now
        if self._swept_until is None:  # this node's first look: a day back, up to now
            since, until = now - IDEMPOTENCY_WINDOW, now
        else:
            since, until = self._swept_until - FLOW_SWEEP_OVERLAP, now - FLOW_SWEEP_GRACE
        async with self.db.read() as conn:
            pending = [
                (trigger, await store.unfired_ends(conn, trigger, _statuses_of(trigger), since, until, MAX_FLOW_SWEEP))
                for trigger in await store.enabled_flow_triggers(conn)
            ]
        fired = 0
        for trigger, ends in pending:
            for end in ends:
                fired += await self._fire_flow_trigger(trigger, end.id, end.flow_id, end.status, end.flow_name)
        if all(len(ends) < MAX_FLOW_SWEEP for _, ends in pending):
            self._swept_until = until  # else the next look starts from the same place
        return fired

    async def _fire_flow_trigger(
        self, trigger: Any, execution_id: str, flow_id: str, status: str, flow_name: str | None
    ) -> bool:
        """Start the trigger's flow for one upstream end; False when that end already fired it."""
        upstream = {"id": execution_id, "flowId": flow_id, "status": str(status), "flowName": flow_name}
        payload = {"type": "flow", "id": trigger.id, "execution": upstream}
        try:
            await self._start(trigger, payload, execution_id)
        except IntegrityError:
            return False
        except DomainError as exc:  # the downstream flow is gone, or its inputs do not match
            if (trigger.id, execution_id) not in self._unstartable:
                if len(self._unstartable) >= MAX_FLOW_SWEEP * 20:
                    self._unstartable.clear()  # bounded; at worst one pair is reported twice
                self._unstartable.add((trigger.id, execution_id))
                log.warning("flow trigger %s after execution %s could not start: %s", trigger.name, execution_id, exc.message)
            return False
        return True

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)


def _statuses_of(trigger: Any) -> list[str]:
    return (trigger.config or {}).get("statuses", [ExecutionStatus.SUCCESS])


async def sync_yaml_triggers(
    conn: AsyncConnection, flow_id: str, specs: Sequence[TriggerSpec], now: datetime
) -> None:
    """Make the flow's YAML-declared triggers match `specs`, keeping ids, keys and history of
    those that stay (matched by name and type)."""
    existing = {(row.name, row.type): row for row in await store.list_for_flow(conn, flow_id, from_yaml=True)}
    wanted = {(spec.name, spec.type): spec for spec in specs}
    for key, row in existing.items():
        if key not in wanted:
            await store.delete_trigger(conn, row.id)
    for key, spec in wanted.items():
        config = dict(spec.config)
        row = existing.get(key)
        if row is not None and spec.type == "webhook" and not config.get("key"):
            config["key"] = row.webhook_key
        values = trigger_values(spec.type, config, spec.enabled, now)
        if row is None:
            await store.insert_trigger(
                conn,
                id=str(uuid.uuid4()),
                flow_id=flow_id,
                type=spec.type,
                name=spec.name,
                enabled=spec.enabled,
                from_yaml=True,
                created_at=now,
                updated_at=now,
                last_fired_at=None,
                **values,
            )
        else:
            same_schedule = row.config == values["config"] and row.enabled == spec.enabled
            if same_schedule:
                values.pop("next_fire_at")
            await store.update_trigger(conn, row.id, enabled=spec.enabled, updated_at=now, **values)

