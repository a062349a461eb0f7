"""`workflowdev user create|list|set-role|delete`: managing users from the box itself.

These act on the database directly (the operator on the machine is trusted as an admin) and
are audited like API changes, with the actor `cli:<login name>`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from workflowdev.engine.errors import DomainError
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.user_roles import ROLES

if TYPE_CHECKING:
    from workflowdev.config import Settings
    from workflowdev.engine.services.users import UserService


def add_parsers(commands: Any) -> None:
    user = commands.add_parser("user", help="manage users (for --auth)")
    actions = user.add_subparsers(dest="user_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="add a user")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, default="viewer")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    actions.add_parser("list", help="list users and their roles")
    set_role = actions.add_parser("set-role", help="change a user's role (takes effect at once)")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=ROLES)
    delete = actions.add_parser("delete", help="delete a user (their tokens stop working at once)")
    delete.add_argument("username")
    for action in actions.choices.values():
        action.add_argument("--db", dest="database_url", metavar="URL", help="database URL")
        action.add_argument("--data-dir", type=Path, help="where the SQLite file lives")
        action.add_argument("--config", type=Path, help="TOML config file")
        action.set_defaults(handler=run)


def _actor() -> Actor:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = str(os.getuid())
    return Actor(f"cli:{login}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise DomainError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from workflowdev.config import load_settings

    settings = load_settings({"database_url": args.database_url, "data_dir": args.data_dir}, config_file=args.config)
    _prepare_embedded_database(settings, create=args.user_action == "create")
    password = _password(args.password_stdin) if args.user_action == "create" else ""
    return asyncio.run(_with_service(settings.effective_database_url, lambda users: _act(users, args, password)))


def _prepare_embedded_database(settings: Settings, *, create: bool) -> None:
    """The first user is often made before the server ever ran: `create` makes the data
    directory, as the server would. The other actions change nothing that is not there."""
    from workflowdev.config import DATABASE_FILE

    if settings.database_url:
        return
    if create:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    elif not (settings.data_dir / DATABASE_FILE).exists():
        raise DomainError(f"no users yet: {settings.data_dir / DATABASE_FILE} does not exist (workflowdev user create NAME)")


async def _with_service(url: str, action: Callable[[UserService], Awaitable[int]]) -> int:
    from workflowdev.engine.clock import utcnow
    from workflowdev.engine.services.users import UserService
    from workflowdev.store.database import Database

    db = Database(url)
    try:
        await db.migrate()
        return await action(UserService(db, utcnow, b""))
    finally:
        await db.close()


async def _act(users: UserService, args: argparse.Namespace, password: str) -> int:
    actor = _actor()
    if args.user_action == "create":
        created = await users.create(args.username, password, args.role, actor=actor)
        print(f"created {created.username} ({created.role})")
    elif args.user_action == "list":
        for user in await users.list():
            print(f"{user.username}\t{user.role}")
    elif args.user_action == "set-role":
        changed = await users.set_role(args.username, args.role, actor=actor)
        print(f"{changed.username} is now {changed.role}")
    else:
        await users.delete(args.username, actor=actor)
        print(f"deleted {args.username}")
    return 0
