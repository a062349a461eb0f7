"""Alembic's entry point: migrations always run on a connection the caller hands over."""

from __future__ import annotations

from alembic import context

from workflowdev.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("workflowdev runs its migrations through workflowdev.store.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
