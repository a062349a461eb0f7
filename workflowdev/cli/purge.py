"""`workflowdev purge --older-than 30d`: purge ended executions, log lines and audit entries now.

It works on the database of the settings (`--db`, `--data-dir`, `--config`, as a server would
find it), through the same batches as the server's background purge, so it is safe beside a
running server. Its rules are the command's own, not the configured policy's: the operator
says what goes. `--vacuum` then rewrites an SQLite file whole, giving back its free space and
turning incremental vacuum on for a file made before that was the default.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from workflowdev.engine.errors import DomainError

if TYPE_CHECKING:
    from workflowdev.config import Settings
    from workflowdev.engine.services.retention import PurgeReport
    from workflowdev.engine.services.retention_policy import RetentionPolicy

KIND_NAMES = {"executions": "executions", "logs": "log lines", "audit": "audit entries"}


def add_parsers(commands: Any) -> None:
    purge = commands.add_parser("purge", help="delete ended executions, log lines and audit entries past an age")
    purge.add_argument("--older-than", metavar="AGE", help="what ended (or was logged) longer ago than this: 30d, 12h")
    purge.add_argument("--keep-last", type=int, metavar="N", help="keep the newest N ended executions of every flow")
    purge.add_argument("--namespace", metavar="NS", help="only executions and logs of this namespace (no audit)")
    purge.add_argument("--only", action="append", choices=tuple(KIND_NAMES), help="only this kind (repeatable)")
    purge.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    purge.add_argument("--vacuum", action="store_true", help="then rewrite the SQLite file to give its space back")
    purge.add_argument("--db", dest="database_url", metavar="URL", help="database URL")
    purge.add_argument("--data-dir", type=Path, help="where the SQLite file lives")
    purge.add_argument("--config", type=Path, help="TOML config file")
    purge.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workflowdev.config import DATABASE_FILE
    from workflowdev.config import load_settings

    kinds = tuple(args.only or KIND_NAMES)
    policy = _policy(args, kinds)
    settings = load_settings({"database_url": args.database_url, "data_dir": args.data_dir}, config_file=args.config)
    if not settings.database_url and not (settings.data_dir / DATABASE_FILE).exists():
        raise DomainError(f"nothing to purge: {settings.data_dir / DATABASE_FILE} does not exist")
    return asyncio.run(_purge(settings, policy, kinds, dry_run=args.dry_run, vacuum=args.vacuum))


def _policy(args: argparse.Namespace, kinds: tuple[str, ...]) -> RetentionPolicy | None:
    """The rules the flags give, checked before anything is opened; None: only --vacuum."""
    from workflowdev.engine.durations import parse_duration
    from workflowdev.engine.services.retention_policy import MAX_KEEP_LAST
    from workflowdev.engine.services.retention_policy import Policy
    from workflowdev.engine.services.retention_policy import RetentionPolicy

    if args.older_than is None and args.keep_last is None:
        if args.vacuum and not args.dry_run:
            return None
        raise DomainError("say what to purge: --older-than AGE and/or --keep-last N (or only --vacuum)")
    age: timedelta | None = None
    if args.older_than is not None:
        try:
            seconds = parse_duration(args.older_than)
            age = timedelta(seconds=seconds)
        except (ValueError, OverflowError) as exc:
            raise DomainError(f"--older-than: {exc}") from None
        if seconds <= 0:
            raise DomainError(f"--older-than must be more than 0, got {args.older_than!r}")
    if args.keep_last is not None and not 1 <= args.keep_last <= MAX_KEEP_LAST:
        raise DomainError(f"--keep-last must be between 1 and {MAX_KEEP_LAST:,}, got {args.keep_last}")
    if args.namespace is not None and kinds == ("audit",):
        raise DomainError("audit entries have no namespace: drop --namespace to purge them")
    rules = Policy(
        executions_age=age if "executions" in kinds else None,
        executions_keep_last=args.keep_last if "executions" in kinds else None,
        logs_age=age if "logs" in kinds else None,
        audit_age=age if "audit" in kinds and args.namespace is None else None,
    )
    if args.namespace is not None:
        return RetentionPolicy(namespaces={args.namespace: rules})
    return RetentionPolicy(default=rules)


async def _purge(
    settings: Settings, policy: RetentionPolicy | None, kinds: tuple[str, ...], *, dry_run: bool, vacuum: bool
) -> int:
    from workflowdev.engine.clock import utcnow
    from workflowdev.engine.services.retention import Retention
    from workflowdev.store.database import Database

    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        retention = Retention(db, utcnow, settings.retention_batch)
        if policy is not None:
            report = await retention.purge(policy, kinds=kinds, dry_run=dry_run)
            print(_summary(report, kinds))
            if not dry_run and not vacuum:
                await retention.reclaim_space()
        if vacuum and not dry_run:
            if db.is_sqlite:
                before = _size(settings)
                await retention.vacuum()
                print(f"vacuumed the database file: {before / 1e6:,.1f} MB -> {_size(settings) / 1e6:,.1f} MB")
            else:
                print("PostgreSQL: nothing to vacuum here, its autovacuum reuses the space of deleted rows")
    finally:
        await db.close()
    return 0


def _summary(report: PurgeReport, kinds: tuple[str, ...]) -> str:
    counts = ", ".join(f"{getattr(report, kind):,} {KIND_NAMES[kind]}" for kind in KIND_NAMES if kind in kinds)
    return f"{'would purge' if report.dry_run else 'purged'} {counts}"


def _size(settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    path = Path(make_url(settings.effective_database_url).database or "")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
