"""Path confinement for task types that touch the filesystem (file.*, archive.*, downloads).

A flow names files with relative paths; whatever it names must stay inside one root: the
configured `files_root`, or else the execution's working directory. Three ways out are closed:
absolute paths, `..` climbing above the root, and symlinks (anywhere along the path, the last
component too) whose real location is outside. The check works on real paths, so callers get
back a path with no symlink left in it; they should still open the final component with
`O_NOFOLLOW` (see `open_flags`) so a symlink planted between the check and the open is refused
rather than followed.

This is a guard against hostile *names* (inputs, archive members, templated paths), not a
sandbox: a script task runs as the server's user and can reach anything that user can.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from pathlib import PurePosixPath

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed

__all__ = ["Confined", "confinement", "normalize_relative", "open_flags", "path_schema"]

ROOT_NOTE = "relative to the execution's working directory (or files_root); it may not lead outside"


def open_flags(flags: int) -> int:
    """`flags` plus O_NOFOLLOW (and O_CLOEXEC): the last component must not be a symlink."""
    return flags | os.O_NOFOLLOW | os.O_CLOEXEC


def normalize_relative(raw: str, what: str = "path") -> str:
    """A relative POSIX path without `.`/`..` parts, or "." for the root itself.

    Refuses what cannot be meant relatively: an empty name, NUL bytes, absolute paths, and `..`
    that climbs above the start. Backslashes are refused too, because an archive made on Windows
    uses them as separators and `..\\x` must not slip through as an odd-looking file name.
    """
    if not isinstance(raw, str) or raw == "":
        raise TaskFailed(f"{what} must be a non-empty relative path")
    if "\x00" in raw:
        raise TaskFailed(f"{what} {raw!r} contains a NUL byte")
    if "\\" in raw:
        raise TaskFailed(f"{what} {raw!r} contains a backslash; use / to separate directories")
    if PurePosixPath(raw).is_absolute():
        raise TaskFailed(f"{what} {raw!r} is absolute; paths are relative to the root")
    normalized = posixpath.normpath(raw)
    if normalized == ".." or normalized.startswith("../"):
        raise TaskFailed(f"{what} {raw!r} climbs out of the root with '..'")
    return normalized


@dataclass(frozen=True, slots=True)
class Confined:
    """A root directory (already a real path) and the rules for naming things under it."""

    root: Path
    label: str
    """How messages name the root: "files_root" or "the execution's working directory"."""

    def inside(self, real: Path) -> bool:
        return real == self.root or real.is_relative_to(self.root)

    def resolve(self, raw: str, *, what: str = "path", follow: bool = True) -> Path:
        """The real path `raw` names under the root, or TaskFailed if it leads outside.

        With `follow` (reading, writing through a link) a symlink in the last component is
        followed and its target checked. Without it (delete, move, stat: acting on the entry
        itself) only the parent directories are resolved and the last component is kept as is.
        Parts that do not exist yet are allowed; the existing part of the path decides.
        """
        relative = normalize_relative(raw, what)
        if relative == ".":
            return self.root
        joined = self.root / relative
        if follow:
            real = Path(os.path.realpath(joined))
        else:
            real = Path(os.path.realpath(joined.parent)) / joined.name
        if not self.inside(real):
            raise TaskFailed(f"{what} {raw!r} leads outside {self.label} (through a symlink)")
        return real

    def relative(self, real: Path) -> str:
        """How outputs name a path: relative to the root, "/"-separated, "." for the root."""
        return real.relative_to(self.root).as_posix() or "."


def confinement(ctx: TaskContext) -> Confined:
    """The root this task may work in: `files_root` when the operator set one, else the workdir.

    A configured root that is missing is an operator's mistake (a typo would otherwise scatter
    files in a new directory), so it fails the task instead of being created.
    """
    configured = ctx.settings.files_root
    if configured is None:
        return Confined(Path(os.path.realpath(ctx.workdir)), "the execution's working directory")
    root = Path(os.path.realpath(configured))
    if not root.is_dir():
        raise TaskFailed(f"files_root {str(configured)!r} is not an existing directory")
    return Confined(root, "files_root")


def path_schema(description: str) -> dict[str, JSON]:
    """A path property, its description saying where it is taken from (the confinement root)."""
    return {"type": "string", "minLength": 1, "description": f"{description}, {ROOT_NOTE}."}
