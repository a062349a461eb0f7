"""What the file task types share: the pieces of their manifests, text encodings, and writes
that never follow a link out of the confinement root.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import json
import os
import stat
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Final
from typing import TypeVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._paths import Confined
from workflowdev.plugins._paths import confinement
from workflowdev.plugins._paths import open_flags
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema

DEFAULT_MAX_READ_BYTES: Final = 10 * 1024 * 1024
MAX_READ_BYTES: Final = 64 * 1024 * 1024
"""A file read becomes a task output stored with the execution, so it stays modest."""
DEFAULT_MAX_ENTRIES: Final = 10_000
MAX_ENTRIES: Final = 100_000
BASE64: Final = "base64"
_T = TypeVar("_T")


ENCODING_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "default": "utf-8",
    "description": "A text encoding (utf-8, latin-1, …), or base64 for binary content carried as base64 text.",
}
MAKE_DIRS_SCHEMA: Final[dict[str, JSON]] = flag_schema(True, "Create missing parent directories.")
OVERWRITE_SCHEMA: Final[dict[str, JSON]] = flag_schema(
    False, "Replace an existing destination (a file, link or whole directory). False: fail instead."
)
WRITTEN_SCHEMA: Final[dict[str, JSON]] = object_schema(
    {
        "path": {"type": "string", "description": "The file's path relative to the root."},
        "size": {"type": "integer", "minimum": 0, "description": "The file's size in bytes afterwards."},
    },
    ["path", "size"],
)
TYPE_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "enum": ["file", "directory", "symlink", "other"],
    "description": "What the entry is; a symlink is reported as such, not followed.",
}


async def in_root(ctx: TaskContext, work: Callable[[Confined], _T]) -> _T:
    """Every file task's shape: find the task's root, then do the blocking filesystem work
    confined to it in a worker thread, so a large file or directory does not hold up the loop."""
    confined = confinement(ctx)
    return await asyncio.to_thread(work, confined)


@contextmanager
def reported_as(raw: str) -> Iterator[None]:
    """Filesystem errors as task failures an operator can read: the path and the reason."""
    try:
        yield
    except OSError as exc:
        reason = "is a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise TaskFailed(f"{raw!r}: {reason}") from None


def entry_kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def modified_at(st: os.stat_result) -> str:
    return datetime.fromtimestamp(st.st_mtime, tz=UTC).isoformat()


def make_parent(confined: Confined, path: Path, raw: str, make_dirs: bool) -> None:
    parent = path.parent
    if not make_dirs:
        if not parent.is_dir():
            raise TaskFailed(f"{raw!r}: the parent directory does not exist (set make_dirs: true to create it)")
        return
    with reported_as(raw):
        parent.mkdir(parents=True, exist_ok=True)
    if not confined.inside(Path(os.path.realpath(parent))):
        raise TaskFailed(f"{raw!r} leads outside {confined.label} (through a symlink)")


def encode_content(content: JSON, encoding: str) -> bytes:
    """Text in the given encoding, base64 decoded to bytes, or any other value as JSON text."""
    if encoding == BASE64:
        if not isinstance(content, str):
            raise TaskFailed("with encoding base64, content must be base64 text")
        try:
            return base64.b64decode(content, validate=True)
        except binascii.Error as exc:
            raise TaskFailed(f"content is not valid base64: {exc}") from None
    text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    with _known_encoding(encoding):
        try:
            return text.encode(encoding)
        except UnicodeEncodeError as exc:
            raise TaskFailed(f"content cannot be written as {encoding}: {exc.reason}") from None


def decode_content(data: bytes, encoding: str, raw: str) -> str:
    if encoding == BASE64:
        return base64.b64encode(data).decode("ascii")
    with _known_encoding(encoding):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise TaskFailed(f"{raw!r} is not valid {encoding} ({exc.reason}); read it with encoding: base64") from None


@contextmanager
def _known_encoding(encoding: str) -> Iterator[None]:
    """An encoding Python does not know (a typo, a text-to-text codec) fails reads and writes alike."""
    try:
        yield
    except LookupError:
        raise TaskFailed(f"unknown encoding {encoding!r}") from None


def open_regular(path: Path, flags: int, raw: str) -> int:
    """A descriptor on a regular file (never a symlink, FIFO or directory), or TaskFailed."""
    with reported_as(raw):
        fd = os.open(path, open_flags(flags | os.O_NONBLOCK), 0o666)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise TaskFailed(f"{raw!r} is not a regular file (it is a {entry_kind(mode)})")
    return fd


def write_file(confined: Confined, raw: str, data: bytes, *, flags: int, make_dirs: bool) -> dict[str, JSON]:
    path = confined.resolve(raw)
    if path == confined.root:
        raise TaskFailed(f"{raw!r} is a directory")
    make_parent(confined, path, raw, make_dirs)
    try:
        fd = open_regular(path, os.O_WRONLY | os.O_CREAT | flags, raw)
    except TaskFailed:
        if flags & os.O_EXCL and os.path.lexists(path):
            raise TaskFailed(f"{raw!r} already exists (mode: create)") from None
        raise
    with reported_as(raw), os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        size = os.fstat(fd).st_size
    return {"path": confined.relative(path), "size": size}
