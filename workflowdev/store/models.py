"""The schema of the whole product, as SQLAlchemy 2 declarative models.

The store holds data and knows no rules: a status column holds the values of
`store/statuses.py`, and the engine owns which moves between them are allowed. Every list
filter of the HTTP API has an index below. IDs are UUID strings so that rows made on different
nodes never collide; the log and audit tables use an integer key as well because their order
of arrival is what readers page through.

Changing anything here needs a new migration in `store/migrations/versions/`; a test compares
the migrated schema with these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from workflowdev.store.types import JSONValue
from workflowdev.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(36)
BigId = BigInteger().with_variant(Integer(), "sqlite")
"""SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for big logs."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Flow(Base):
    """A flow's current state. Deleting sets `deleted_at`: executions and revisions stay readable."""

    __tablename__ = "flows"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    yaml_content: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer)
    tasks_total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "uq_flows_live_namespace_name",
            "namespace",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_flows_name", "name"),
    )


class FlowRevision(Base):
    """Append-only history of a flow's YAML; revision 1 is the creation."""

    __tablename__ = "flow_revisions"

    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    yaml_content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(128))


class Execution(Base):
    """One run of a flow revision. The lease columns say which node works on it, until when."""

    __tablename__ = "executions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id"))
    flow_name: Mapped[str] = mapped_column(String(128))
    namespace: Mapped[str] = mapped_column(String(128))
    flow_revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    tasks_total: Mapped[int] = mapped_column(Integer, default=0)
    tasks_executed: Mapped[int] = mapped_column(Integer, default=0)
    inputs: Mapped[Any] = mapped_column(JSONValue)
    """As shown: masked where a parent passed its secrets in (their real values are sealed)."""
    sealed_inputs: Mapped[str | None] = mapped_column(Text)
    """The real inputs, encrypted under the master key, when `inputs` had secrets masked."""
    labels: Mapped[Any] = mapped_column(JSONValue)
    trigger: Mapped[Any] = mapped_column(JSONValue)
    error: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[Any | None] = mapped_column(JSONValue)
    parent_execution_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"))
    parent_task_run_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    """New at every grant of the lease: the fence a stale holder's writes fail on."""
    alive_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The last moment a node was known to be working on it (its runner's start, each lease
    renewal, a clean hand-back): where a resume ends the attempts a stopped node left open, so
    the downtime is not counted in their durations."""
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[str | None] = mapped_column(ID)
    """The backfill this execution belongs to: a batch runs at most `batch_limit` at a time."""
    batch_limit: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_executions_created_at", "created_at"),
        Index("ix_executions_status_created_at", "status", "created_at"),
        Index("ix_executions_flow_id_created_at", "flow_id", "created_at"),
        Index("ix_executions_flow_id_finished_at", "flow_id", "finished_at"),
        Index("ix_executions_namespace_created_at", "namespace", "created_at"),
        Index("ix_executions_status_lease_expires_at", "status", "lease_expires_at"),
        Index("ix_executions_parent_execution_id", "parent_execution_id"),
        Index("ix_executions_batch_id_status", "batch_id", "status"),
        Index("ix_executions_finished_at_id", "finished_at", "id"),
    )


class TaskRun(Base):
    """One attempt of one task (or one foreach iteration of it) within an execution.

    `key` identifies the task's place in the flow (`each_order[3].save`) so a resumed execution
    finds what already ran without walking the whole history.
    """

    __tablename__ = "task_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("task_runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512))
    task_name: Mapped[str] = mapped_column(String(128))
    task_type: Mapped[str] = mapped_column(String(128))
    iteration: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    outputs: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    replayed_from: Mapped[str | None] = mapped_column(ID)
    """The execution this run was copied from by a replay (it did not run here); else None."""

    __table_args__ = (
        Index("ix_task_runs_execution_id_key", "execution_id", "key"),
        Index("ix_task_runs_parent_id", "parent_id"),
    )


class LogLine(Base):
    """A log line. `seq` numbers the lines of one execution, so a reader that takes the history
    and then the live stream can drop the lines it already has."""

    __tablename__ = "logs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    task_run_id: Mapped[str | None] = mapped_column(ID)
    task_name: Mapped[str | None] = mapped_column(String(128))
    attempt: Mapped[int | None] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("execution_id", "seq"), Index("ix_logs_ts_id", "ts", "id"))


class Trigger(Base):
    """What starts executions without a person. `webhook_key` is unique so a key finds one flow."""

    __tablename__ = "triggers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[Any] = mapped_column(JSONValue)
    webhook_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    upstream_flow_id: Mapped[str | None] = mapped_column(ID)
    from_yaml: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_triggers_flow_id", "flow_id"),
        Index("ix_triggers_type_enabled_next_fire_at", "type", "enabled", "next_fire_at"),
        Index("ix_triggers_upstream_flow_id", "upstream_flow_id"),
    )


class TriggerFiring(Base):
    """One firing. The unique (trigger, instant) row is what stops a schedule firing twice.

    For schedules it is also the slot ledger: one row per instant the trigger owned, with its
    `state` (see `store.statuses.SlotState`); an instant that was not run has no execution.
    """

    __tablename__ = "trigger_firings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    trigger_id: Mapped[str] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    execution_id: Mapped[str | None] = mapped_column(ID)
    state: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("trigger_id", "scheduled_at"),
        UniqueConstraint("trigger_id", "idempotency_key"),
        Index("ix_trigger_firings_fired_at", "fired_at"),
    )


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    task_run_id: Mapped[str] = mapped_column(ID)
    flow_id: Mapped[str] = mapped_column(ID)
    task_name: Mapped[str] = mapped_column(String(128))
    message: Mapped[str | None] = mapped_column(Text)
    context: Mapped[Any | None] = mapped_column(JSONValue)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_approvals_status_created_at", "status", "created_at"),
        Index("ix_approvals_status_expires_at", "status", "expires_at"),
        Index("ix_approvals_execution_id", "execution_id"),
    )


class Credential(Base):
    """A secret, only ever stored as AES-256-GCM ciphertext with its nonce."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KVEntry(Base):
    __tablename__ = "kv_entries"

    namespace: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    """JSON text: any JSON value, including null, round-trips exactly."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_kv_entries_expires_at", "expires_at"),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Written in the same transaction as the change it records; never updated, deleted only by
    the retention policy's `audit_days`."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[Any | None] = mapped_column(JSONValue)
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entries_actor_seq", "actor", "seq"),
        Index("ix_audit_entries_action_seq", "action", "seq"),
        Index("ix_audit_entries_at_seq", "at", "seq"),
    )


class Node(Base):
    """A running workflowdev process, for the nodes view and for handing over dead leases."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str | None] = mapped_column(String(255))
    roles: Mapped[Any] = mapped_column(JSONValue)
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_nodes_heartbeat_at", "heartbeat_at"),)
