"""What an operator reads when a command cannot do what it was asked: one line on stderr.

Every command passes through `cli.main`, which hands any exception here, so bad input and missing
state (a data directory not made yet, a database that does not answer, a file that is not
there) read the same from every command, and a new command gets this for free. A traceback is
for the people who write workflowdev, not for those who run it: `WORKFLOWDEV_DEBUG=1` shows it.
"""

from __future__ import annotations

import os
import sys

DEBUG_ENV = "WORKFLOWDEV_DEBUG"
USAGE = 2
"""Exit status for what the operator can fix in the command or its settings (as argparse does)."""
FAILED = 1
"""Exit status for what failed around the command: the database, the file system, a bug."""


def one_line(text: str) -> str:
    """`text` as one printable line: control characters and line breaks an operator passed in
    (or a value echoed back) are shown escaped, never acted on by the terminal."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def explain(exc: BaseException) -> tuple[str, int]:
    """The line to print (without the `workflowdev:` prefix) and the exit status.

    The database's exception classes are looked up among the modules already imported, not
    imported here: a command that never touched the database cannot have raised them, and
    `workflowdev --version` should not pay for SQLAlchemy."""
    if _is_instance(exc, "workflowdev.store.database", "DatabaseUnavailable"):
        return str(exc), FAILED
    if type(exc).__module__.startswith("workflowdev."):
        # Our own exceptions are written for the operator (DomainError keeps it in .message).
        return getattr(exc, "message", None) or str(exc) or type(exc).__name__, USAGE
    if _is_instance(exc, "sqlalchemy.exc", "SQLAlchemyError"):
        return f"the database failed: {_first_line(getattr(exc, 'orig', None) or exc)}", FAILED
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or _first_line(exc)}", FAILED
    return f"unexpected {type(exc).__name__}: {_first_line(exc)} (set {DEBUG_ENV}=1 for the traceback)", FAILED


def _first_line(exc: BaseException | object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_instance(exc: BaseException, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))
