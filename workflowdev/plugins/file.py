"""file: read, write, list and rearrange files inside the execution's working directory.

Every path is relative to one root — `files_root` when the operator set one, otherwise the
execution's working directory — and may not lead outside it: absolute paths, `..` above the
root and symlinks whose target is outside are refused (see `_paths`). Files are opened with
O_NOFOLLOW once checked, so a symlink planted after the check is refused too. Paths in outputs
are relative to the root, "/"-separated.

Symlinks inside the root are honoured where that is what the operation means: reading or writing
through a link reads or writes its target (when inside), while delete, move and stat act on the
link itself, and copies keep links as links (a copy never turns an outside link into content).

Blocking filesystem work runs in a worker thread so a large file cannot stall the engine.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import fnmatch
import json
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Final

from workflowdev.engine.plugin import JSON, Manifest, Plugin, TaskContext, TaskFailed
from workflowdev.plugins._paths import Confined, confinement, open_flags

__all__ = ["PLUGINS", "Append", "Copy", "Delete", "List", "Move", "Read", "Stat", "Write"]

DEFAULT_MAX_READ_BYTES: Final = 10 * 1024 * 1024
MAX_READ_BYTES: Final = 64 * 1024 * 1024
"""A file read becomes a task output stored with the execution, so it stays modest."""
DEFAULT_MAX_ENTRIES: Final = 10_000
MAX_ENTRIES: Final = 100_000
BASE64: Final = "base64"

_ROOT_NOTE = "relative to the execution's working directory (or files_root); it may not lead outside"


def _path(description: str) -> dict[str, JSON]:
    return {"type": "string", "minLength": 1, "description": f"{description}, {_ROOT_NOTE}."}


def _object(properties: dict[str, JSON], required: list[str]) -> dict[str, JSON]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


ENCODING_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "default": "utf-8",
    "description": "A text encoding (utf-8, latin-1, …), or base64 for binary content carried as base64 text.",
}
MAKE_DIRS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "boolean",
    "default": True,
    "description": "Create missing parent directories.",
}
OVERWRITE_SCHEMA: Final[dict[str, JSON]] = {
    "type": "boolean",
    "default": False,
    "description": "Replace an existing destination (a file, link or whole directory). False: fail instead.",
}
WRITTEN_SCHEMA: Final[dict[str, JSON]] = _object(
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


@contextmanager
def _reported(raw: str) -> Iterator[None]:
    """Filesystem errors as task failures an operator can read: the path and the reason."""
    try:
        yield
    except OSError as exc:
        reason = "is a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise TaskFailed(f"{raw!r}: {reason}") from None


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def _modified(st: os.stat_result) -> str:
    return datetime.fromtimestamp(st.st_mtime, tz=UTC).isoformat()


def _make_parent(confined: Confined, path: Path, raw: str, make_dirs: bool) -> None:
    parent = path.parent
    if not make_dirs:
        if not parent.is_dir():
            raise TaskFailed(f"{raw!r}: the parent directory does not exist (set make_dirs: true to create it)")
        return
    with _reported(raw):
        parent.mkdir(parents=True, exist_ok=True)
    if not confined.inside(Path(os.path.realpath(parent))):
        raise TaskFailed(f"{raw!r} leads outside {confined.label} (through a symlink)")


def _encode(content: JSON, encoding: str) -> bytes:
    """Text in the given encoding, base64 decoded to bytes, or any other value as JSON text."""
    if encoding == BASE64:
        if not isinstance(content, str):
            raise TaskFailed("with encoding base64, content must be base64 text")
        try:
            return base64.b64decode(content, validate=True)
        except binascii.Error as exc:
            raise TaskFailed(f"content is not valid base64: {exc}") from None
    text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    try:
        return text.encode(encoding)
    except LookupError:
        raise TaskFailed(f"unknown encoding {encoding!r}") from None
    except UnicodeEncodeError as exc:
        raise TaskFailed(f"content cannot be written as {encoding}: {exc.reason}") from None


def _decode(data: bytes, encoding: str, raw: str) -> str:
    if encoding == BASE64:
        return base64.b64encode(data).decode("ascii")
    try:
        return data.decode(encoding)
    except LookupError:
        raise TaskFailed(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        raise TaskFailed(f"{raw!r} is not valid {encoding} ({exc.reason}); read it with encoding: base64") from None


def _open_regular(path: Path, flags: int, raw: str) -> int:
    """A descriptor on a regular file (never a symlink, FIFO or directory), or TaskFailed."""
    with _reported(raw):
        fd = os.open(path, open_flags(flags | os.O_NONBLOCK), 0o666)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise TaskFailed(f"{raw!r} is not a regular file (it is a {_kind(mode)})")
    return fd


def _write_file(confined: Confined, raw: str, data: bytes, *, flags: int, make_dirs: bool) -> dict[str, JSON]:
    path = confined.resolve(raw)
    if path == confined.root:
        raise TaskFailed(f"{raw!r} is a directory")
    _make_parent(confined, path, raw, make_dirs)
    try:
        fd = _open_regular(path, os.O_WRONLY | os.O_CREAT | flags, raw)
    except TaskFailed:
        if flags & os.O_EXCL and os.path.lexists(path):
            raise TaskFailed(f"{raw!r} already exists (mode: create)") from None
        raise
    with _reported(raw), os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        size = os.fstat(fd).st_size
    return {"path": confined.relative(path), "size": size}


class Write(Plugin):
    """Create or replace a file with text (or base64-decoded bytes)."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.write",
        name="Write a file",
        category="file",
        description=(
            "Writes `content` to `path`, replacing the file (mode overwrite) or only when it does "
            "not exist yet (mode create). Text is encoded with `encoding`; base64 content is "
            "decoded to bytes; any other value (an object, a list) is written as indented JSON. "
            "Missing parent directories are created."
        ),
        input_schema=_object(
            {
                "path": _path("The file to write"),
                "content": {"description": "What to write: text, base64 text, or any JSON value (written as JSON)."},
                "encoding": ENCODING_SCHEMA,
                "mode": {
                    "type": "string",
                    "enum": ["overwrite", "create"],
                    "default": "overwrite",
                    "description": "overwrite: replace an existing file; create: fail if the file exists.",
                },
                "make_dirs": MAKE_DIRS_SCHEMA,
            },
            ["path", "content"],
        ),
        output_schema=WRITTEN_SCHEMA,
        examples=(
            "- name: save_report\n"
            "  type: file.write\n"
            "  properties:\n"
            "    path: reports/summary.txt\n"
            "    content: |\n"
            "      orders: 42\n"
            "      failed: 0\n",
            "- name: save_settings\n"
            "  type: file.write\n"
            "  properties:\n"
            "    path: settings.json\n"
            "    content: {region: eu-west, batch_size: 50}\n"
            "    mode: create\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        data = _encode(properties["content"], properties.get("encoding", "utf-8"))
        flags = os.O_EXCL if properties.get("mode", "overwrite") == "create" else os.O_TRUNC
        make_dirs = properties.get("make_dirs", True)
        return await asyncio.to_thread(
            lambda: _write_file(confined, properties["path"], data, flags=flags, make_dirs=make_dirs)
        )


class Append(Plugin):
    """Add to the end of a file, creating it if needed: logs, CSV rows, reports built up in steps."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.append",
        name="Append to a file",
        category="file",
        description=(
            "Appends `content` to the end of `path`, creating the file (and its parent "
            "directories) when missing. Nothing is added between appends: end lines with a "
            "newline yourself. Non-string content is appended as indented JSON."
        ),
        input_schema=_object(
            {
                "path": _path("The file to append to"),
                "content": {"description": "What to append: text, base64 text, or any JSON value (as JSON)."},
                "encoding": ENCODING_SCHEMA,
                "make_dirs": MAKE_DIRS_SCHEMA,
            },
            ["path", "content"],
        ),
        output_schema=WRITTEN_SCHEMA,
        examples=(
            "- name: note_progress\n"
            "  type: file.append\n"
            "  properties:\n"
            "    path: logs/progress.log\n"
            "    content: \"batch 1 imported\\n\"\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        data = _encode(properties["content"], properties.get("encoding", "utf-8"))
        make_dirs = properties.get("make_dirs", True)
        return await asyncio.to_thread(
            lambda: _write_file(confined, properties["path"], data, flags=os.O_APPEND, make_dirs=make_dirs)
        )


def _read_file(confined: Confined, raw: str, max_bytes: int) -> bytes:
    fd = _open_regular(confined.resolve(raw), os.O_RDONLY, raw)
    with _reported(raw), os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TaskFailed(f"{raw!r} is larger than max_bytes ({max_bytes} bytes)")
    return data


class Read(Plugin):
    """Read a whole file into the task's outputs, as text or as base64."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.read",
        name="Read a file",
        category="file",
        description=(
            "Reads the file at `path` and returns its content as text in `encoding`, or as base64 "
            "for binary files (encoding: base64). A file larger than `max_bytes` fails the task "
            "rather than being cut, and so does text that is not valid in the encoding."
        ),
        input_schema=_object(
            {
                "path": _path("The file to read"),
                "encoding": ENCODING_SCHEMA,
                "max_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_READ_BYTES,
                    "default": DEFAULT_MAX_READ_BYTES,
                    "description": f"Largest file accepted, in bytes (at most {MAX_READ_BYTES}).",
                },
            },
            ["path"],
        ),
        output_schema=_object(
            {
                "content": {"type": "string", "description": "The file's text, or its bytes as base64."},
                "size": {"type": "integer", "minimum": 0, "description": "The file's size in bytes."},
            },
            ["content", "size"],
        ),
        examples=("- name: load_greeting\n  type: file.read\n  properties:\n    path: example.txt\n",),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        raw = properties["path"]
        data = await asyncio.to_thread(lambda: _read_file(confined, raw, properties.get("max_bytes", DEFAULT_MAX_READ_BYTES)))
        return {"content": _decode(data, properties.get("encoding", "utf-8"), raw), "size": len(data)}


def _list_dir(confined: Confined, raw: str, pattern: str, recursive: bool, limit: int) -> dict[str, JSON]:
    base = confined.resolve(raw)
    if not base.is_dir():
        raise TaskFailed(f"{raw!r} is not a directory" if base.exists() else f"{raw!r}: No such directory")
    entries: list[dict[str, JSON]] = []
    truncated = False
    pending = [base]
    with _reported(raw):
        while pending and not truncated:
            directory = pending.pop()
            with os.scandir(directory) as scan:
                found = sorted(scan, key=lambda entry: entry.name)
            for entry in found:
                info = entry.stat(follow_symlinks=False)
                kind = _kind(info.st_mode)
                if kind == "directory" and recursive:
                    pending.append(Path(entry.path))
                if not fnmatch.fnmatchcase(entry.name, pattern):
                    continue
                if len(entries) == limit:
                    truncated = True
                    break
                entries.append(
                    {
                        "path": confined.relative(Path(entry.path)),
                        "type": kind,
                        "size": info.st_size if kind == "file" else 0,
                        "modified": _modified(info),
                    }
                )
    entries.sort(key=lambda entry: entry["path"])
    return {"entries": entries, "truncated": truncated}


class List(Plugin):
    """The entries of a directory, optionally filtered by a glob and walked recursively."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.list",
        name="List a directory",
        category="file",
        description=(
            "Lists the entries of the directory at `path` (hidden ones included), sorted by path. "
            "`pattern` is a glob matched against each entry's name (*.csv); `recursive` walks "
            "subdirectories too, without following symlinks. At most `max_entries` are returned; "
            "`truncated` says when more matched."
        ),
        input_schema=_object(
            {
                "path": {**_path("The directory to list"), "default": "."},
                "pattern": {
                    "type": "string",
                    "minLength": 1,
                    "default": "*",
                    "description": "Glob for entry names: *, ?, [abc]. Case-sensitive.",
                },
                "recursive": {"type": "boolean", "default": False, "description": "Walk subdirectories too."},
                "max_entries": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_ENTRIES,
                    "default": DEFAULT_MAX_ENTRIES,
                    "description": "Most entries to return.",
                },
            },
            [],
        ),
        output_schema=_object(
            {
                "entries": {
                    "type": "array",
                    "description": "The matching entries, sorted by path.",
                    "items": _object(
                        {
                            "path": {"type": "string", "description": "Path relative to the root."},
                            "type": TYPE_SCHEMA,
                            "size": {"type": "integer", "minimum": 0, "description": "Bytes for files, 0 otherwise."},
                            "modified": {
                                "type": "string",
                                "format": "date-time",
                                "description": "Last modification, UTC.",
                            },
                        },
                        ["path", "type", "size", "modified"],
                    ),
                },
                "truncated": {"type": "boolean", "description": "True when max_entries cut the list short."},
            },
            ["entries", "truncated"],
        ),
        examples=(
            "- name: everything_here\n  type: file.list\n  properties:\n    path: .\n",
            "- name: text_files\n"
            "  type: file.list\n"
            "  properties:\n"
            "    path: .\n"
            "    pattern: \"*.txt\"\n"
            "    recursive: true\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await asyncio.to_thread(
            lambda: _list_dir(
                confined,
                properties.get("path", "."),
                properties.get("pattern", "*"),
                properties.get("recursive", False),
                properties.get("max_entries", DEFAULT_MAX_ENTRIES),
            )
        )


def _entry(confined: Confined, raw: str, what: str) -> Path:
    """The entry itself (a link stays a link), never the root."""
    path = confined.resolve(raw, what=what, follow=False)
    if path == confined.root:
        raise TaskFailed(f"{what} {raw!r} is the root directory itself")
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _delete(confined: Confined, raw: str, recursive: bool, missing_ok: bool) -> dict[str, JSON]:
    path = _entry(confined, raw, "path")
    if not os.path.lexists(path):
        if missing_ok:
            return {"deleted": False}
        raise TaskFailed(f"{raw!r}: No such file or directory")
    with _reported(raw):
        if path.is_dir() and not path.is_symlink():
            if recursive:
                shutil.rmtree(path)
            elif any(path.iterdir()):
                raise TaskFailed(f"{raw!r} is a directory that is not empty (set recursive: true)")
            else:
                path.rmdir()
        else:
            path.unlink()
    return {"deleted": True}


class Delete(Plugin):
    """Remove a file, a symlink or (with `recursive`) a directory tree."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.delete",
        name="Delete a file or directory",
        category="file",
        description=(
            "Deletes the file, symlink (the link, not its target) or empty directory at `path`; "
            "a directory with content needs `recursive: true`. A missing path fails the task "
            "unless `missing_ok` is true. The root itself cannot be deleted."
        ),
        input_schema=_object(
            {
                "path": _path("What to delete"),
                "recursive": {
                    "type": "boolean",
                    "default": False,
                    "description": "Delete a directory with everything in it.",
                },
                "missing_ok": {
                    "type": "boolean",
                    "default": False,
                    "description": "Succeed (deleted: false) when there is nothing at `path`.",
                },
            },
            ["path"],
        ),
        output_schema=_object(
            {"deleted": {"type": "boolean", "description": "False only when missing_ok spared a missing path."}},
            ["deleted"],
        ),
        examples=(
            "- name: clean_up\n"
            "  type: file.delete\n"
            "  properties:\n"
            "    path: tmp/previous-run\n"
            "    recursive: true\n"
            "    missing_ok: true\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await asyncio.to_thread(
            lambda: _delete(
                confined, properties["path"], properties.get("recursive", False), properties.get("missing_ok", False)
            )
        )


def _prepare_destination(
    confined: Confined, source: Path, raw: str, overwrite: bool, make_dirs: bool
) -> Path:
    """The destination entry, cleared when `overwrite` allows it; never inside the source."""
    destination = _entry(confined, raw, "destination")
    if destination == source or destination.is_relative_to(source):
        raise TaskFailed(f"destination {raw!r} is inside the source")
    if os.path.lexists(destination):
        if not overwrite:
            raise TaskFailed(f"destination {raw!r} already exists (set overwrite: true to replace it)")
        with _reported(raw):
            _remove(destination)
    _make_parent(confined, destination, raw, make_dirs)
    return destination


def _copy(confined: Confined, properties: Mapping[str, JSON]) -> dict[str, JSON]:
    raw = properties["source"]
    source = confined.resolve(raw, what="source")
    if not source.exists():
        raise TaskFailed(f"source {raw!r}: No such file or directory")
    destination = _prepare_destination(
        confined, source, properties["destination"], properties.get("overwrite", False), properties.get("make_dirs", True)
    )
    with _reported(raw):
        if source.is_dir():
            shutil.copytree(source, destination, symlinks=True)
        else:
            shutil.copy2(source, destination)
    return {"path": confined.relative(destination)}


def _move(confined: Confined, properties: Mapping[str, JSON]) -> dict[str, JSON]:
    raw = properties["source"]
    source = _entry(confined, raw, "source")
    if not os.path.lexists(source):
        raise TaskFailed(f"source {raw!r}: No such file or directory")
    destination = _prepare_destination(
        confined, source, properties["destination"], properties.get("overwrite", False), properties.get("make_dirs", True)
    )
    with _reported(raw):
        shutil.move(source, destination)
    return {"path": confined.relative(destination)}


_TRANSFER_PROPERTIES: Final[dict[str, JSON]] = {
    "destination": _path("The new path (the full path of the copy, not a directory to put it in)"),
    "overwrite": OVERWRITE_SCHEMA,
    "make_dirs": MAKE_DIRS_SCHEMA,
}
_TRANSFER_OUTPUT: Final[dict[str, JSON]] = _object(
    {"path": {"type": "string", "description": "The destination, relative to the root."}}, ["path"]
)


class Copy(Plugin):
    """Copy a file or a directory tree; symlinks inside are copied as links, never followed."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.copy",
        name="Copy a file or directory",
        category="file",
        description=(
            "Copies the file or directory at `source` to `destination` (the full new path), "
            "keeping modification times. Symlinks inside a copied directory stay symlinks. An "
            "existing destination fails the task unless `overwrite` is true."
        ),
        input_schema=_object(
            {"source": _path("The file or directory to copy"), **_TRANSFER_PROPERTIES},
            ["source", "destination"],
        ),
        output_schema=_TRANSFER_OUTPUT,
        examples=(
            "- name: keep_a_copy\n"
            "  type: file.copy\n"
            "  properties:\n"
            "    source: example.txt\n"
            "    destination: backup/example.txt\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await asyncio.to_thread(lambda: _copy(confined, properties))


class Move(Plugin):
    """Rename or move a file, link or directory within the root."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.move",
        name="Move or rename",
        category="file",
        description=(
            "Moves the file, symlink or directory at `source` to `destination` (the full new "
            "path). An existing destination fails the task unless `overwrite` is true."
        ),
        input_schema=_object(
            {"source": _path("The file, link or directory to move"), **_TRANSFER_PROPERTIES},
            ["source", "destination"],
        ),
        output_schema=_TRANSFER_OUTPUT,
        examples=(
            "- name: archive_input\n"
            "  type: file.move\n"
            "  properties:\n"
            "    source: example.txt\n"
            "    destination: done/example.txt\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await asyncio.to_thread(lambda: _move(confined, properties))


def _stat(confined: Confined, raw: str) -> dict[str, JSON]:
    path = confined.resolve(raw, follow=False)
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False, "type": None, "size": None, "modified": None, "mode": None}
    kind = _kind(info.st_mode)
    return {
        "exists": True,
        "type": kind,
        "size": info.st_size if kind == "file" else 0,
        "modified": _modified(info),
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
    }


class Stat(Plugin):
    """Whether something exists at a path, and what: the way a flow checks before it acts."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.stat",
        name="Inspect a path",
        category="file",
        description=(
            "Reports whether `path` exists and, if so, its type, size, modification time and "
            "permission bits. A missing path is an answer (exists: false), not a failure. A "
            "symlink is described itself, not its target."
        ),
        input_schema=_object({"path": _path("The path to inspect")}, ["path"]),
        output_schema=_object(
            {
                "exists": {"type": "boolean", "description": "Whether anything is at `path`."},
                "type": {**TYPE_SCHEMA, "type": ["string", "null"], "enum": [*TYPE_SCHEMA["enum"], None]},
                "size": {
                    "type": ["integer", "null"],
                    "minimum": 0,
                    "description": "Bytes for files, 0 for other entries, null when missing.",
                },
                "modified": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "Last modification (UTC), null when missing.",
                },
                "mode": {
                    "type": ["string", "null"],
                    "pattern": "^[0-7]{4}$",
                    "description": "Permission bits in octal (0644), null when missing.",
                },
            },
            ["exists", "type", "size", "modified", "mode"],
        ),
        examples=(
            "- name: is_there_a_lock\n  type: file.stat\n  properties:\n    path: import.lock\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await asyncio.to_thread(lambda: _stat(confined, properties["path"]))


PLUGINS: Final[list[type[Plugin]]] = [Read, Write, Append, List, Delete, Copy, Move, Stat]
