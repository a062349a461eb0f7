"""Purging what the retention policy no longer keeps: the one path of the background loop and
of `workflowdev purge`.

Only ended executions go, and a subflow tree goes whole, with its root, under the root's
policy: a child is never purged on its own, nor while any execution of its tree has not
ended. Work is done in transactions of at most `batch` rows each, so the API's and the
runners' writes wait at most one small delete for their turn. Every transaction re-checks,
with the rows locked, that the executions it deletes from (and their roots) are still ended:
one retried meanwhile keeps its whole tree.

Order within a pass: log lines by age first, then executions with what is left of theirs,
then audit entries. A dry run walks the same batches and counts instead of deleting, so its
counts are what the real pass would purge (unless executions end or are retried in between).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.clock import Clock
from workflowdev.engine.services.retention_policy import Policy
from workflowdev.engine.services.retention_policy import RetentionPolicy
from workflowdev.store import retention as store
from workflowdev.store.database import Database
from workflowdev.store.retention import LogRule
from workflowdev.store.retention import Scope
from workflowdev.store.statuses import ENDED

KINDS = ("executions", "logs", "audit")
BACKGROUND_PACE = 1.0
"""The background pass rests as long as each transaction took: the API's requests and the
runners' writes find the database and the event loop free at least half of the time."""


@dataclass(slots=True)
class PurgeReport:
    """What one pass purged (or, dry, would purge). Executions count subflow children too."""

    dry_run: bool = False
    executions: int = 0
    logs: int = 0
    audit: int = 0
    transactions: int = 0
    """Write transactions the pass took (0 for a dry run)."""

    def counts(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in KINDS}


@dataclass(slots=True)
class _Trees:
    """Subflow trees chosen for purging: members deepest first, each with its root."""

    members: list[str]
    root_of: dict[str, str]


def scopes(policy: RetentionPolicy) -> list[tuple[Scope, Policy]]:
    """Each namespace with its own policy, then every other namespace under the default."""
    named = tuple(sorted(policy.namespaces))
    return [*((Scope((name,)), policy.namespaces[name]) for name in named), (Scope(named, others=True), policy.default)]


class Retention:
    """`pace`: after each write transaction, rest this many times as long as it took
    (`BACKGROUND_PACE` for the background pass); the command purges at full speed (0)."""

    def __init__(self, db: Database, clock: Clock, batch: int, pace: float = 0.0) -> None:
        self.db = db
        self.clock = clock
        self.batch = batch
        self.pace = pace

    @asynccontextmanager
    async def _turn(self, report: PurgeReport) -> AsyncIterator[AsyncConnection]:
        """One write transaction of a pass, then the rest its pace asks for."""
        started = time.monotonic()
        async with self.db.write() as conn:
            yield conn
        report.transactions += 1
        if self.pace:
            await asyncio.sleep((time.monotonic() - started) * self.pace)

    async def purge(
        self, policy: RetentionPolicy, *, kinds: Sequence[str] = KINDS, dry_run: bool = False
    ) -> PurgeReport:
        now = self.clock()
        report = PurgeReport(dry_run=dry_run)
        log_rules: list[LogRule] = [
            (scope, now - p.logs_age) for scope, p in scopes(policy) if p.logs_age is not None and "logs" in kinds
        ]
        if log_rules:
            await self._logs(log_rules, report)
        if "executions" in kinds:
            for scope, p in scopes(policy):
                if p.purges_executions:
                    await self._executions(scope, p, now, log_rules, report)
        if "audit" in kinds and policy.default.audit_age is not None:
            await self._audit(now - policy.default.audit_age, report)
        return report

    async def reclaim_space(self) -> int:
        """SQLite file pages freed after a pass (see `store.retention.reclaim_space`)."""
        return await store.reclaim_space(self.db, pages_per_turn=max(self.batch, 100))

    async def vacuum(self) -> None:
        await store.vacuum(self.db)

    async def _logs(self, rules: list[LogRule], report: PurgeReport) -> None:
        newest = max(before for _, before in rules)
        cursor: tuple[datetime, int] | None = None
        while True:
            if report.dry_run:
                async with self.db.read() as conn:
                    rows = await store.logged_before(conn, newest, after=cursor, limit=self.batch)
                    report.logs += len(await store.old_logs(conn, [row.id for row in rows], rules))
            else:
                async with self._turn(report) as conn:
                    rows = await store.logged_before(conn, newest, after=cursor, limit=self.batch)
                    chosen = await store.old_logs(conn, [row.id for row in rows], rules)
                    if chosen:
                        report.logs += await store.delete_logs(conn, chosen)
            if len(rows) < self.batch:
                return
            cursor = (rows[-1].ts, rows[-1].id)

    async def _audit(self, before: datetime, report: PurgeReport) -> None:
        cursor: tuple[datetime, int] | None = None
        while True:
            if report.dry_run:
                async with self.db.read() as conn:
                    rows = await store.old_audit(conn, before, after=cursor, limit=self.batch)
                report.audit += len(rows)
            else:
                async with self._turn(report) as conn:
                    rows = await store.old_audit(conn, before, after=cursor, limit=self.batch)
                    if rows:
                        report.audit += await store.delete_audit(conn, [row.seq for row in rows])
            if len(rows) < self.batch:
                return
            cursor = (rows[-1].at, rows[-1].seq)

    async def _executions(
        self, scope: Scope, policy: Policy, now: datetime, log_rules: list[LogRule], report: PurgeReport
    ) -> None:
        finished_before = now - policy.executions_age if policy.executions_age is not None else None
        boundaries: dict[str, tuple[datetime, str] | None] = {}
        cursor: tuple[datetime, str] | None = None
        while True:
            async with self.db.read() as conn:
                rows = await store.finished(conn, finished_before=finished_before, after=cursor, limit=self.batch)
                roots = []
                for row in await store.ended_roots(conn, [row.id for row in rows], scope):
                    if policy.executions_keep_last is not None and row.flow_id not in boundaries:
                        boundaries[row.flow_id] = await store.newest_kept(
                            conn, row.flow_id, policy.executions_keep_last
                        )
                    boundary = boundaries.get(row.flow_id)
                    if policy.executions_keep_last is None or (
                        boundary is not None and (row.finished_at, row.id) < boundary
                    ):
                        roots.append(row.id)
                trees = await self._trees(conn, roots)
            if trees.members:
                if report.dry_run:
                    await self._count(trees, log_rules, report)
                else:
                    await self._delete(trees, report)
            if len(rows) < self.batch:
                return
            cursor = (rows[-1].finished_at, rows[-1].id)

    async def _trees(self, conn: AsyncConnection, roots: list[str]) -> _Trees:
        """The roots' subflow trees, less every tree that has an execution not yet ended."""
        root_of = {root: root for root in roots}
        levels: list[list[str]] = [roots]
        blocked: set[str] = set()
        while levels[-1]:
            below: list[str] = []
            for chunk in _chunks(levels[-1], self.batch):
                for child in await store.children(conn, chunk):
                    root_of[child.id] = root_of[child.parent_execution_id]
                    below.append(child.id)
                    if child.status not in ENDED:
                        blocked.add(root_of[child.id])
            levels.append(below)
        members = [e for level in reversed(levels) for e in level if root_of[e] not in blocked]
        return _Trees(members, root_of)

    async def _count(self, trees: _Trees, log_rules: list[LogRule], report: PurgeReport) -> None:
        report.executions += len(trees.members)
        async with self.db.read() as conn:
            for chunk in _chunks(trees.members, self.batch):
                report.logs += await store.count_logs(conn, chunk, log_rules)

    async def _delete(self, trees: _Trees, report: PurgeReport) -> None:
        blocked: set[str] = set()
        for chunk in _chunks(trees.members, self.batch):
            for table in (*store.DEPENDANTS, store.executions):
                while True:
                    async with self._turn(report) as conn:
                        ids = await self._still_purgeable(conn, chunk, trees, blocked)
                        if not ids:
                            break
                        if table is store.executions:
                            deleted = await store.delete_executions(conn, ids)
                        else:
                            deleted = await store.delete_dependants(conn, table, ids, self.batch)
                    if table is store.executions:
                        report.executions += deleted
                        break
                    if table is store.logs:
                        report.logs += deleted
                    if deleted < self.batch:
                        break

    @staticmethod
    async def _still_purgeable(conn: AsyncConnection, chunk: list[str], trees: _Trees, blocked: set[str]) -> list[str]:
        """The chunk's executions whose whole tree may still go: each, and its root, still ended
        (locked so until this transaction ends). A tree found otherwise is dropped for good."""
        roots = {trees.root_of[e] for e in chunk} - blocked
        wanted = [e for e in chunk if trees.root_of[e] in roots]
        ended = await store.still_ended(conn, [*wanted, *roots])
        blocked.update(trees.root_of[e] for e in [*wanted, *roots] if e not in ended)
        return [e for e in wanted if trees.root_of[e] not in blocked]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
