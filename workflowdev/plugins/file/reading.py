"""file.read and file.list: a file's content within a size limit, a directory's entries within a count."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._paths import Confined
from workflowdev.plugins._paths import path_schema
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.file._common import DEFAULT_MAX_ENTRIES
from workflowdev.plugins.file._common import DEFAULT_MAX_READ_BYTES
from workflowdev.plugins.file._common import ENCODING_SCHEMA
from workflowdev.plugins.file._common import MAX_ENTRIES
from workflowdev.plugins.file._common import MAX_READ_BYTES
from workflowdev.plugins.file._common import TYPE_SCHEMA
from workflowdev.plugins.file._common import decode_content
from workflowdev.plugins.file._common import entry_kind
from workflowdev.plugins.file._common import in_root
from workflowdev.plugins.file._common import modified_at
from workflowdev.plugins.file._common import open_regular
from workflowdev.plugins.file._common import reported_as


def _read_file(confined: Confined, raw: str, max_bytes: int) -> bytes:
    fd = open_regular(confined.resolve(raw), os.O_RDONLY, raw)
    with reported_as(raw), os.fdopen(fd, "rb") as handle:
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
        input_schema=object_schema(
            {
                "path": path_schema("The file to read"),
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
        output_schema=object_schema(
            {
                "content": {"type": "string", "description": "The file's text, or its bytes as base64."},
                "size": {"type": "integer", "minimum": 0, "description": "The file's size in bytes."},
            },
            ["content", "size"],
        ),
        examples=(task_example("load_greeting", "file.read", "path: example.txt"),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        raw = properties["path"]
        data = await in_root(
            ctx, lambda confined: _read_file(confined, raw, properties.get("max_bytes", DEFAULT_MAX_READ_BYTES))
        )
        return {"content": decode_content(data, properties.get("encoding", "utf-8"), raw), "size": len(data)}


def _list_dir(confined: Confined, raw: str, pattern: str, recursive: bool, limit: int) -> dict[str, JSON]:
    base = confined.resolve(raw)
    if not base.is_dir():
        raise TaskFailed(f"{raw!r} is not a directory" if base.exists() else f"{raw!r}: No such directory")
    entries: list[dict[str, JSON]] = []
    truncated = False
    pending = [base]
    with reported_as(raw):
        while pending and not truncated:
            directory = pending.pop()
            with os.scandir(directory) as scan:
                found = sorted(scan, key=lambda entry: entry.name)
            for entry in found:
                info = entry.stat(follow_symlinks=False)
                kind = entry_kind(info.st_mode)
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
                        "modified": modified_at(info),
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
        input_schema=object_schema(
            {
                "path": {**path_schema("The directory to list"), "default": "."},
                "pattern": {
                    "type": "string",
                    "minLength": 1,
                    "default": "*",
                    "description": "Glob for entry names: *, ?, [abc]. Case-sensitive.",
                },
                "recursive": flag_schema(False, "Walk subdirectories too."),
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
        output_schema=object_schema(
            {
                "entries": {
                    "type": "array",
                    "description": "The matching entries, sorted by path.",
                    "items": object_schema(
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
            task_example("everything_here", "file.list", "path: ."),
            task_example(
                "text_files",
                "file.list",
                """
                path: .
                pattern: "*.txt"
                recursive: true
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_root(
            ctx,
            lambda confined: _list_dir(
                confined,
                properties.get("path", "."),
                properties.get("pattern", "*"),
                properties.get("recursive", False),
                properties.get("max_entries", DEFAULT_MAX_ENTRIES),
            ),
        )
