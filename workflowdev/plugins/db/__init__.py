"""db: SQL against PostgreSQL, MySQL/MariaDB and SQLite — queries, statements, bulk inserts, transactions.

Every task opens its own engine (no pool: one connection), runs inside one transaction that
commits only when everything succeeded, and disposes of the engine on the way out, whatever
happened. Four rules run through the module:
- values only ever travel as bound parameters (`sqlalchemy.text` with `:name`, or a Core insert
  for `db.insert_rows`); nothing a flow supplies is spliced into SQL text;
- the `url` usually comes from a credential, so no message is ever built from it: errors name
  the host, port, database and user, never the password;
- `timeout` bounds the whole task. When it runs out (or the execution is cancelled) the running
  statement is stopped on the server before the connection is dropped: asyncpg sends
  PostgreSQL a cancel request itself, MySQL gets `KILL QUERY` from a second connection, SQLite
  is interrupted. Dropping the socket alone would leave MySQL computing and would make SQLite's
  worker thread, and so the task, wait for the statement to finish;
- SQLite files are confined like file.* paths (relative, inside the working directory or
  files_root), and ATTACH / VACUUM INTO, which could write anywhere, are refused.
"""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.db.insert_rows import InsertRows
from workflowdev.plugins.db.statements import Execute
from workflowdev.plugins.db.statements import Query
from workflowdev.plugins.db.statements import Transaction

__all__ = ["PLUGINS", "Execute", "InsertRows", "Query", "Transaction"]

PLUGINS: Final[list[type[Plugin]]] = [Query, Execute, InsertRows, Transaction]
