"""file.delete, file.copy, file.move and file.stat."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._paths import Confined
from workflowdev.plugins._paths import path_schema
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.file._common import MAKE_DIRS_SCHEMA
from workflowdev.plugins.file._common import OVERWRITE_SCHEMA
from workflowdev.plugins.file._common import TYPE_SCHEMA
from workflowdev.plugins.file._common import entry_kind
from workflowdev.plugins.file._common import in_root
from workflowdev.plugins.file._common import make_parent
from workflowdev.plugins.file._common import modified_at
from workflowdev.plugins.file._common import reported_as


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
    with reported_as(raw):
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
        input_schema=object_schema(
            {
                "path": path_schema("What to delete"),
                "recursive": flag_schema(False, "Delete a directory with everything in it."),
                "missing_ok": flag_schema(False, "Succeed (deleted: false) when there is nothing at `path`."),
            },
            ["path"],
        ),
        output_schema=single_value(
            "deleted", {"type": "boolean", "description": "False only when missing_ok spared a missing path."}
        ),
        examples=(
            task_example(
                "clean_up",
                "file.delete",
                """
                path: tmp/previous-run
                recursive: true
                missing_ok: true
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_root(
            ctx,
            lambda confined: _delete(
                confined, properties["path"], properties.get("recursive", False), properties.get("missing_ok", False)
            ),
        )


def _prepare_destination(confined: Confined, source: Path, raw: str, overwrite: bool, make_dirs: bool) -> Path:
    """The destination entry, cleared when `overwrite` allows it; never inside the source."""
    destination = _entry(confined, raw, "destination")
    if destination == source or destination.is_relative_to(source):
        raise TaskFailed(f"destination {raw!r} is inside the source")
    if os.path.lexists(destination):
        if not overwrite:
            raise TaskFailed(f"destination {raw!r} already exists (set overwrite: true to replace it)")
        with reported_as(raw):
            _remove(destination)
    make_parent(confined, destination, raw, make_dirs)
    return destination


def _copy(confined: Confined, properties: Mapping[str, JSON]) -> dict[str, JSON]:
    raw = properties["source"]
    source = confined.resolve(raw, what="source")
    if not source.exists():
        raise TaskFailed(f"source {raw!r}: No such file or directory")
    destination = _prepare_destination(
        confined,
        source,
        properties["destination"],
        properties.get("overwrite", False),
        properties.get("make_dirs", True),
    )
    with reported_as(raw):
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
        confined,
        source,
        properties["destination"],
        properties.get("overwrite", False),
        properties.get("make_dirs", True),
    )
    with reported_as(raw):
        shutil.move(source, destination)
    return {"path": confined.relative(destination)}


def _transfer_input(source: str) -> dict[str, JSON]:
    """file.copy and file.move take the same properties; only what `source` may be differs."""
    return object_schema(
        {
            "source": path_schema(source),
            "destination": path_schema("The new path (the full path of the copy, not a directory to put it in)"),
            "overwrite": OVERWRITE_SCHEMA,
            "make_dirs": MAKE_DIRS_SCHEMA,
        },
        ["source", "destination"],
    )


_TRANSFER_OUTPUT: Final[dict[str, JSON]] = single_value(
    "path", {"type": "string", "description": "The destination, relative to the root."}
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
        input_schema=_transfer_input("The file or directory to copy"),
        output_schema=_TRANSFER_OUTPUT,
        examples=(
            task_example(
                "keep_a_copy",
                "file.copy",
                """
                source: example.txt
                destination: backup/example.txt
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_root(ctx, lambda confined: _copy(confined, properties))


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
        input_schema=_transfer_input("The file, link or directory to move"),
        output_schema=_TRANSFER_OUTPUT,
        examples=(
            task_example(
                "archive_input",
                "file.move",
                """
                source: example.txt
                destination: done/example.txt
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_root(ctx, lambda confined: _move(confined, properties))


def _stat(confined: Confined, raw: str) -> dict[str, JSON]:
    path = confined.resolve(raw, follow=False)
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False, "type": None, "size": None, "modified": None, "mode": None}
    kind = entry_kind(info.st_mode)
    return {
        "exists": True,
        "type": kind,
        "size": info.st_size if kind == "file" else 0,
        "modified": modified_at(info),
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
        input_schema=single_value("path", path_schema("The path to inspect")),
        output_schema=object_schema(
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
        examples=(task_example("is_there_a_lock", "file.stat", "path: import.lock"),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_root(ctx, lambda confined: _stat(confined, properties["path"]))
