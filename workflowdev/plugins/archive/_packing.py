"""Packing: the sources collected inside the confinement root and written to a zip or tar archive."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO
from typing import Literal

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._paths import Confined
from workflowdev.plugins._paths import confinement
from workflowdev.plugins._paths import open_flags
from workflowdev.plugins.archive._common import CHUNK
from workflowdev.plugins.archive._common import TAR_MODES
from workflowdev.plugins.archive._common import ZIP_EPOCH
from workflowdev.plugins.archive._common import Stopped
from workflowdev.plugins.archive._common import in_stoppable_thread
from workflowdev.plugins.archive._common import reported_as


@dataclass
class _Sources:
    """What goes into a new archive: (real path, member name, is a directory), and what was left out."""

    items: list[tuple[Path, str, bool]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _collect(confined: Confined, source: Path, raw: str, exclude: Path) -> _Sources:
    """Regular files and directories under `source`, named as `zip -r` would name them.

    A directory's members are prefixed with its own name (`reports/a.csv`), except for the root
    itself, whose contents are archived without a prefix. Symlinks are never followed.
    """
    found = _Sources()
    if not source.exists():
        raise TaskFailed(f"source {raw!r}: No such file or directory")
    if source.is_file():
        found.items.append((source, source.name, False))
        return found
    prefix = "" if source == confined.root else source.name
    if prefix:
        found.items.append((source, prefix, True))
    pending = [(source, prefix)]
    while pending:
        directory, name = pending.pop()
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            member = posixpath.join(name, entry.name) if name else entry.name
            path = Path(entry.path)
            if path == exclude:
                continue
            if entry.is_dir(follow_symlinks=False):
                found.items.append((path, member, True))
                pending.append((path, member))
            elif entry.is_file(follow_symlinks=False):
                found.items.append((path, member, False))
            else:
                found.skipped.append(confined.relative(path))
    return found


def _open_source(path: Path) -> IO[bytes]:
    """A file to pack, refusing one that became a symlink since it was listed."""
    return os.fdopen(os.open(path, open_flags(os.O_RDONLY | os.O_NONBLOCK)), "rb")


def _archive_destination(confined: Confined, raw: str, overwrite: bool) -> Path:
    destination = confined.resolve(raw, what="destination", follow=False)
    if destination == confined.root or destination.is_dir():
        raise TaskFailed(f"destination {raw!r} is a directory; name the archive file")
    if os.path.lexists(destination) and not overwrite:
        raise TaskFailed(f"destination {raw!r} already exists (set overwrite: true to replace it)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not confined.inside(Path(os.path.realpath(destination.parent))):
        raise TaskFailed(f"destination {raw!r} leads outside {confined.label} (through a symlink)")
    return destination


Writer = Callable[[Path, _Sources, threading.Event], None]
"""Writes the collected sources to the part file in one archive format (`write_zip`, `tar_writer`)."""


async def pack_for_task(ctx: TaskContext, properties: Mapping[str, JSON], write: Writer) -> dict[str, JSON]:
    """archive.zip and archive.tar: pack in a stoppable worker thread inside the task's root,
    then say in the task's log what was left out."""
    confined = confinement(ctx)
    outputs, skipped = await in_stoppable_thread(lambda stop: pack(confined, properties, stop, write))
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        ctx.log.warning(f"skipped {len(skipped)} symlinks or special files: {shown}")
    return outputs


def pack(
    confined: Confined,
    properties: Mapping[str, JSON],
    stop: threading.Event,
    write: Writer,
) -> tuple[dict[str, JSON], list[str]]:
    """Collect, write to a hidden part file beside the destination, then move it into place.

    A failed or cancelled run therefore never leaves a half-written archive under the real name.
    """
    raw_source = properties["source"]
    source = confined.resolve(raw_source, what="source")
    with reported_as(f"packing {raw_source!r}"):
        destination = _archive_destination(confined, properties["destination"], properties.get("overwrite", False))
        sources = _collect(confined, source, raw_source, destination)
        handle, part_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
        os.close(handle)
        part = Path(part_name)
        try:
            write(part, sources, stop)
            os.replace(part, destination)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    files = sum(1 for _, _, is_dir in sources.items if not is_dir)
    outputs = {"path": confined.relative(destination), "files": files, "size": destination.stat().st_size}
    return outputs, sources.skipped


def write_zip(part: Path, sources: _Sources, stop: threading.Event) -> None:
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, strict_timestamps=False) as archive:
        for path, member, is_dir in sources.items:
            if stop.is_set():
                raise Stopped
            if is_dir:
                archive.write(path, member + "/")
                continue
            with _open_source(path) as source:
                info_stat = os.fstat(source.fileno())
                info = zipfile.ZipInfo(member, max(ZIP_EPOCH, time.localtime(info_stat.st_mtime)[:6]))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | stat.S_IMODE(info_stat.st_mode)) << 16
                info.file_size = info_stat.st_size
                with archive.open(info, "w", force_zip64=info_stat.st_size > 2**31) as target:
                    _copy(source, target, stop)


def tar_writer(compression: str) -> Writer:
    def write(part: Path, sources: _Sources, stop: threading.Event) -> None:
        with tarfile.open(part, TAR_MODES[compression], format=tarfile.PAX_FORMAT) as archive:
            for path, member, is_dir in sources.items:
                if stop.is_set():
                    raise Stopped
                if is_dir:
                    archive.add(path, member, recursive=False)
                    continue
                with _open_source(path) as source:
                    archive.addfile(archive.gettarinfo(arcname=member, fileobj=source), source)

    return write


def _copy(source: IO[bytes], target: IO[bytes], stop: threading.Event) -> int:
    copied = 0
    while chunk := source.read(CHUNK):
        if stop.is_set():
            raise Stopped
        target.write(chunk)
        copied += len(chunk)
    return copied


# Unpacking ---------------------------------------------------------------------------------

Kind = Literal["file", "dir", "symlink", "hardlink"]
