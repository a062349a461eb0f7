"""The rules of saving flows: validation first, revisions append-only, every change audited.

Each public method is one unit of work: the flow row, its revision and its audit entry are
written in one transaction, so a request that fails leaves the database as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.clock import utcnow
from workflowdev.engine.errors import Conflict
from workflowdev.engine.errors import Invalid
from workflowdev.engine.errors import NotFound
from workflowdev.engine.errors import must_exist
from workflowdev.engine.language.flow import Flow
from workflowdev.engine.language.flow import ValidationReport
from workflowdev.engine.language.flow import validate_flow
from workflowdev.engine.language.trigger_config import TRIGGER_TYPES
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.triggers import TriggerService
from workflowdev.engine.services.triggers import sync_yaml_triggers
from workflowdev.store import flows as store
from workflowdev.store import triggers as trigger_store
from workflowdev.store.database import Database

DEFAULT_NAMESPACE = "default"
EXPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class FlowSummary:
    """What a list of flows shows beside each one: how it last ran and what starts it."""

    last_execution: Row[Any] | None
    """`(id, status, created_at)` of the flow's newest execution; None if it never ran."""
    triggers_count: int


class FlowService:
    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        clock: Clock = utcnow,
        *,
        triggers: TriggerService | None = None,
        on_triggers_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.triggers = triggers
        self.on_triggers_changed = on_triggers_changed

    def validate(self, yaml_content: str | bytes) -> ValidationReport:
        return validate_flow(yaml_content, self.registry)

    def parse(self, yaml_content: str | bytes) -> Flow:
        """The flow, or Invalid carrying every error with its line and column."""
        report = self.validate(yaml_content)
        if not report.valid or report.flow is None:
            first = report.errors[0] if report.errors else None
            summary = f"{first.message} (line {first.line}, column {first.column})" if first else ""
            raise Invalid(f"invalid flow: {summary}", [e.to_json() for e in report.errors])
        return report.flow

    async def get(self, flow_id: str) -> Row[Any]:
        async with self.db.read() as conn:
            return await self._get(conn, flow_id)

    async def list(
        self, *, namespace: str | None, text: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Row[Any]], int]:
        async with self.db.read() as conn:
            return await store.list_flows(conn, namespace=namespace, text=text, limit=limit, offset=offset)

    async def summaries(self, flow_ids: Collection[str]) -> dict[str, FlowSummary]:
        """Every flow id given → its summary, in two queries however many flows are asked about."""
        async with self.db.read() as conn:
            latest = await store.latest_executions(conn, flow_ids)
            counts = await store.trigger_counts(conn, flow_ids)
        return {flow_id: FlowSummary(latest.get(flow_id), counts.get(flow_id, 0)) for flow_id in flow_ids}

    async def create(
        self,
        *,
        yaml_content: str,
        actor: Actor,
        name: str | None = None,
        namespace: str | None = None,
        description: str | None = None,
    ) -> Row[Any]:
        flow = self.parse(yaml_content)
        if name is not None and name != flow.name:
            raise Invalid(
                f"name {name!r} differs from the YAML's name {flow.name!r}",
                [{"path": "name", "message": "must equal the YAML's name"}],
            )
        namespace = namespace or flow.namespace or DEFAULT_NAMESPACE
        now = self.clock()
        flow_id = str(uuid.uuid4())
        async with _unique_name_write(self.db, namespace, flow.name) as conn:
            await store.insert_flow(
                conn,
                id=flow_id,
                namespace=namespace,
                name=flow.name,
                description=description if description is not None else flow.description,
                yaml_content=yaml_content,
                revision=1,
                tasks_total=flow.tasks_total,
                created_at=now,
                updated_at=now,
            )
            await store.insert_revision(conn, flow_id, 1, yaml_content, now, actor.name)
            await sync_yaml_triggers(conn, flow_id, flow.triggers, now)
            await self._audit(conn, actor, "flow.create", flow_id, {"namespace": namespace, "name": flow.name})
            created = await self._get(conn, flow_id)
        if flow.triggers:
            self.on_triggers_changed()
        return created

    async def update(
        self,
        flow_id: str,
        *,
        actor: Actor,
        yaml_content: str | None = None,
        namespace: str | None = None,
        description: str | None = None,
        action: str = "flow.update",
        audit_details: Mapping[str, Any] | None = None,
    ) -> Row[Any]:
        parsed = self.parse(yaml_content) if yaml_content is not None else None
        async with self.db.read() as conn:
            current = await self._get(conn, flow_id)
        name = parsed.name if parsed else current.name
        new_namespace = namespace or current.namespace
        async with _unique_name_write(self.db, new_namespace, name) as conn:
            current = await self._get(conn, flow_id)
            values: dict[str, Any] = {"updated_at": self.clock(), "name": name, "namespace": new_namespace}
            changed = ["namespace"] if new_namespace != current.namespace else []
            if description is not None and description != current.description:
                values["description"] = description
                changed.append("description")
            if parsed is not None and yaml_content != current.yaml_content:
                revision = current.revision + 1
                values.update(yaml_content=yaml_content, revision=revision, tasks_total=parsed.tasks_total)
                if description is None and parsed.description is not None:
                    values["description"] = parsed.description
                await store.insert_revision(conn, flow_id, revision, yaml_content, values["updated_at"], actor.name)
                await sync_yaml_triggers(conn, flow_id, parsed.triggers, values["updated_at"])
                changed.append("yamlContent")
            if not changed:
                return current
            await store.update_flow(conn, flow_id, **values)
            await self._audit(
                conn,
                actor,
                action,
                flow_id,
                {"changed": changed, "revision": values.get("revision", current.revision), **(audit_details or {})},
            )
            updated = await self._get(conn, flow_id)
        if "yamlContent" in changed:
            self.on_triggers_changed()
        return updated

    async def delete(self, flow_id: str, *, actor: Actor) -> None:
        async with self.db.write() as conn:
            current = await self._get(conn, flow_id)
            await store.mark_deleted(conn, flow_id, self.clock())
            await trigger_store.delete_for_flow(conn, flow_id)
            await self._audit(
                conn, actor, "flow.delete", flow_id, {"namespace": current.namespace, "name": current.name}
            )

    async def revisions(self, flow_id: str) -> Sequence[Row[Any]]:
        async with self.db.read() as conn:
            await self._get(conn, flow_id)
            return await store.list_revisions(conn, flow_id)

    async def restore(self, flow_id: str, revision: int, *, actor: Actor) -> Row[Any]:
        """Make an old revision current again, as a NEW revision: history only grows."""
        async with self.db.read() as conn:
            await self._get(conn, flow_id)
            old = await store.get_revision(conn, flow_id, revision)
        if old is None:
            raise NotFound(f"flow {flow_id} has no revision {revision}")
        return await self.update(
            flow_id,
            actor=actor,
            yaml_content=old.yaml_content,
            action="flow.restore",
            audit_details={"restoredFrom": revision},
        )

    async def export(self, flow_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            flow = await self._get(conn, flow_id)
            triggers = await trigger_store.list_for_flow(conn, flow_id, from_yaml=False)
        return {
            "formatVersion": EXPORT_FORMAT_VERSION,
            "name": flow.name,
            "namespace": flow.namespace,
            "description": flow.description,
            "yamlContent": flow.yaml_content,
            "triggers": [
                {"type": t.type, "name": t.name, "enabled": t.enabled, "config": _exportable(t.config)}
                for t in triggers
            ],
            "exportedAt": rfc3339(self.clock()),
        }

    async def import_(self, document: Mapping[str, Any], *, overwrite: bool, actor: Actor) -> tuple[Row[Any], bool]:
        """Create the flow of an export document, or with `overwrite` save it as a new revision.

        Returns the flow and whether it was created.
        """
        yaml_content, name, namespace, description = _read_export(document)
        triggers = _read_export_triggers(document)
        flow = self.parse(yaml_content)
        name = name or flow.name
        if name != flow.name:
            raise Invalid(f"name {name!r} differs from the YAML's name {flow.name!r}")
        namespace = namespace or flow.namespace or DEFAULT_NAMESPACE
        async with self.db.read() as conn:
            existing = await store.get_flow_by_name(conn, namespace, name)
        if existing is not None and not overwrite:
            raise Conflict(f"flow {namespace}/{name} already exists; import with ?overwrite=true to replace it")
        if existing is None:
            row = await self.create(
                yaml_content=yaml_content, actor=actor, namespace=namespace, description=description
            )
        else:
            row = await self.update(
                existing.id, actor=actor, yaml_content=yaml_content, description=description, action="flow.import"
            )
        await self._import_triggers(row.id, triggers, actor)
        return row, existing is None

    async def _import_triggers(self, flow_id: str, triggers: list[dict[str, Any]], actor: Actor) -> None:
        """Recreate exported API triggers that the flow does not have yet (by name and type)."""
        if not triggers or self.triggers is None:
            return
        async with self.db.read() as conn:
            have = {(t.name, t.type) for t in await trigger_store.list_for_flow(conn, flow_id)}
        for spec in triggers:
            if (spec.get("name"), spec["type"]) in have:
                continue
            await self.triggers.create(
                flow_id=flow_id,
                kind=spec["type"],
                name=spec.get("name"),
                enabled=bool(spec.get("enabled", True)),
                config=spec.get("config") or {},
                actor=actor,
            )

    async def _get(self, conn: AsyncConnection, flow_id: str) -> Row[Any]:
        flow = await store.get_flow(conn, flow_id)
        return must_exist(flow, "flow", flow_id)

    async def _audit(
        self, conn: AsyncConnection, actor: Actor, action: str, flow_id: str, details: Mapping[str, Any]
    ) -> None:
        await audit_trail.record(conn, actor, action, "flow", flow_id, details, self.clock())


@asynccontextmanager
async def _unique_name_write(db: Database, namespace: str, name: str) -> AsyncIterator[AsyncConnection]:
    """A write transaction in which a violated (namespace, name) unique index becomes a 409."""
    try:
        async with db.write() as conn:
            yield conn
    except IntegrityError:
        raise Conflict(f"a flow named {namespace}/{name} already exists") from None


def _exportable(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A trigger's config as it may leave the server: a webhook secret never does."""
    return {k: v for k, v in (config or {}).items() if k != "secret"}


def _read_export_triggers(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    triggers = document.get("triggers") or []
    if not isinstance(triggers, list) or not all(
        isinstance(t, dict) and t.get("type") in TRIGGER_TYPES and isinstance(t.get("config", {}), dict)
        for t in triggers
    ):
        raise Invalid(
            "triggers must be a list of {type, name, enabled, config} objects",
            [{"path": "triggers", "message": f"each needs a type among {', '.join(TRIGGER_TYPES)}"}],
        )
    return triggers


def _read_export(document: Mapping[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    if not isinstance(document, Mapping):
        raise Invalid("an import must be the JSON object that export produces")
    version = document.get("formatVersion", EXPORT_FORMAT_VERSION)
    if version != EXPORT_FORMAT_VERSION:
        raise Invalid(f"unsupported formatVersion {version!r}; this server reads {EXPORT_FORMAT_VERSION}")
    fields = {"yamlContent": str, "name": str, "namespace": str, "description": str}
    details = [
        {"path": key, "message": "must be a string"}
        for key, kind in fields.items()
        if document.get(key) is not None and not isinstance(document.get(key), kind)
    ]
    if not isinstance(document.get("yamlContent"), str):
        details.append({"path": "yamlContent", "message": "is required"})
    if details:
        raise Invalid("invalid import document", details)
    return (
        document["yamlContent"],
        document.get("name"),
        document.get("namespace"),
        document.get("description"),
    )
