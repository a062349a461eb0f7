"""Unpacking: an archive's members planned against the limits and the root, then extracted."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import threading
import zipfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._paths import Confined
from workflowdev.plugins._paths import confinement
from workflowdev.plugins._paths import normalize_relative
from workflowdev.plugins._paths import open_flags
from workflowdev.plugins.archive._common import CHUNK
from workflowdev.plugins.archive._common import DEFAULT_MAX_FILES
from workflowdev.plugins.archive._common import DEFAULT_MAX_SIZE
from workflowdev.plugins.archive._common import MAX_LINK_TARGET
from workflowdev.plugins.archive._common import Stopped
from workflowdev.plugins.archive._common import in_stoppable_thread
from workflowdev.plugins.archive._common import read_limit
from workflowdev.plugins.archive._common import reported_as
from workflowdev.plugins.archive._packing import Kind


@dataclass(frozen=True, slots=True)
class _Member:
    """One archive entry, format-neutral, with its name already normalized and checked."""

    name: str
    kind: Kind
    size: int = 0
    executable: bool = False
    target: str = ""
    """The link text of a symlink, or the member name a hard link points to."""
    open: Callable[[], IO[bytes]] | None = None


@dataclass(frozen=True, slots=True)
class _Limits:
    max_files: int
    max_size: int
    overwrite: bool


class _Plan:
    """The members to extract, built one at a time and refused at the first bad one."""

    def __init__(self, destination: Path, limits: _Limits) -> None:
        self.destination = destination
        self.limits = limits
        self.members: list[_Member] = []
        self._names: set[str] = set()
        self._files: set[str] = set()
        self._declared = 0
        self._seen = 0

    def refuse(self, why: str) -> TaskFailed:
        return TaskFailed(f"refusing the archive, nothing was extracted: {why}")

    def name(self, raw: str) -> str | None:
        """The member's normalized name; None for the archive's own root ("./")."""
        self._seen += 1
        if self._seen > self.limits.max_files:
            raise self.refuse(f"it has more than max_files ({self.limits.max_files}) members")
        try:
            name = normalize_relative(raw.rstrip("/") or raw, "member")
        except TaskFailed as exc:
            raise self.refuse(str(exc)) from None
        return None if name == "." else name

    def add(self, member: _Member) -> None:
        if member.name in self._names:
            raise self.refuse(f"member {member.name!r} appears twice")
        if member.kind == "symlink":
            self._check_symlink(member)
        elif member.kind == "hardlink" and member.target not in self._files:
            raise self.refuse(f"hard link {member.name!r} points to {member.target!r}, not a file before it")
        if member.kind == "file":
            self._declared += member.size
            if self._declared > self.limits.max_size:
                raise self.refuse(f"its files add up to more than max_size ({self.limits.max_size} bytes)")
            self._files.add(member.name)
        if member.kind != "dir" and not self.limits.overwrite and os.path.lexists(self.destination / member.name):
            raise self.refuse(f"{member.name!r} already exists in the destination (set overwrite: true)")
        self._names.add(member.name)
        self.members.append(member)

    def _check_symlink(self, member: _Member) -> None:
        target = member.target
        if not target or "\x00" in target or posixpath.isabs(target):
            raise self.refuse(f"symlink {member.name!r} points to {target!r}, outside the destination")
        landing = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), target))
        if landing == ".." or landing.startswith("../"):
            raise self.refuse(f"symlink {member.name!r} points to {target!r}, outside the destination")


@dataclass
class _Extraction:
    """Writes a checked plan; remembers what it created so a failure can take it back."""

    destination: Path
    max_size: int
    stop: threading.Event
    created: list[Path] = field(default_factory=list)
    files: int = 0
    size: int = 0

    def run(self, members: Iterable[_Member]) -> None:
        try:
            self._make_destination()
            for member in members:
                if self.stop.is_set():
                    raise Stopped
                self._extract(member)
        except BaseException:
            self._undo()
            raise

    def _make_destination(self) -> None:
        missing: list[Path] = []
        path = self.destination
        while not os.path.lexists(path):
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            directory.mkdir()
            self.created.append(directory)

    def _parent(self, name: str) -> Path:
        """The member's directory, created as needed, checked to be inside at every step."""
        parent = self.destination
        real = parent
        for part in Path(name).parent.parts:
            parent = parent / part
            if not os.path.lexists(parent):
                parent.mkdir()
                self.created.append(parent)
            real = Path(os.path.realpath(parent))
            if not real.is_relative_to(self.destination):
                raise TaskFailed(f"refusing member {name!r}: its directory leads outside the destination")
            if not real.is_dir():
                raise TaskFailed(f"cannot extract {name!r}: {posixpath.dirname(name)!r} is not a directory")
        return real

    def _extract(self, member: _Member) -> None:
        path = self._parent(member.name) / Path(member.name).name
        if member.kind == "dir":
            if not os.path.lexists(path):
                path.mkdir()
                self.created.append(path)
            elif path.is_symlink() or not path.is_dir():
                raise TaskFailed(f"cannot extract directory {member.name!r}: a file is in the way")
            return
        if os.path.lexists(path):
            if path.is_dir() and not path.is_symlink():
                raise TaskFailed(f"cannot extract {member.name!r}: a directory is in the way")
            path.unlink()
        if member.kind == "symlink":
            os.symlink(member.target, path)
            self.created.append(path)
            if not Path(os.path.realpath(path)).is_relative_to(self.destination):
                # Lexically inside, physically out: `up -> .` then `x -> up/..` climbs through a link.
                raise TaskFailed(f"refusing symlink {member.name!r}: it resolves outside the destination")
        elif member.kind == "hardlink":
            linked = Path(os.path.realpath(self.destination / member.target))
            if not linked.is_relative_to(self.destination):
                raise TaskFailed(f"refusing hard link {member.name!r}: its target leads outside the destination")
            os.link(linked, path, follow_symlinks=False)
            self.created.append(path)
        else:
            self._write(member, path)
        self.files += 1

    def _write(self, member: _Member, path: Path) -> None:
        assert member.open is not None
        mode = 0o755 if member.executable else 0o644
        fd = os.open(path, open_flags(os.O_WRONLY | os.O_CREAT | os.O_EXCL), mode)
        self.created.append(path)
        with os.fdopen(fd, "wb") as target, member.open() as source:
            while chunk := source.read(CHUNK):
                if self.stop.is_set():
                    raise Stopped
                self.size += len(chunk)
                if self.size > self.max_size:
                    raise TaskFailed(
                        f"refusing the archive: it expands to more than max_size ({self.max_size} bytes); "
                        "what was extracted has been removed"
                    )
                target.write(chunk)

    def _undo(self) -> None:
        for path in reversed(self.created):
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
            except OSError:
                pass  # a directory that something else also filled stays


def _extract_destination(confined: Confined, raw: str) -> Path:
    """The directory to extract into; created only once the archive has passed its checks."""
    destination = confined.resolve(raw, what="destination")
    if os.path.lexists(destination) and not destination.is_dir():
        raise TaskFailed(f"destination {raw!r} is not a directory")
    return destination


def _limits(properties: Mapping[str, JSON]) -> _Limits:
    return _Limits(
        max_files=read_limit(properties, "max_files", DEFAULT_MAX_FILES),
        max_size=read_limit(properties, "max_size", DEFAULT_MAX_SIZE),
        overwrite=bool(properties.get("overwrite", False)),
    )


def _zip_members(archive: zipfile.ZipFile, plan: _Plan) -> None:
    for info in archive.infolist():
        name = plan.name(info.filename)
        if name is None:
            continue
        mode = info.external_attr >> 16
        if info.flag_bits & 0x1:
            raise plan.refuse(f"member {name!r} is encrypted")
        if info.is_dir() or stat.S_ISDIR(mode):
            plan.add(_Member(name, "dir"))
        elif stat.S_ISLNK(mode):
            if info.file_size > MAX_LINK_TARGET:
                raise plan.refuse(f"symlink {name!r} has an implausibly long target")
            target = archive.read(info).decode("utf-8", errors="replace")
            plan.add(_Member(name, "symlink", target=target))
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # no type bits: a plain file from a non-Unix zip
            raise plan.refuse(f"member {name!r} is a device file, FIFO or socket")
        else:
            plan.add(
                _Member(name, "file", info.file_size, bool(mode & 0o111), open=lambda info=info: archive.open(info))
            )


def _tar_members(archive: tarfile.TarFile, plan: _Plan) -> None:
    for info in archive:
        name = plan.name(info.name)
        if name is None:
            continue
        try:
            tarfile.data_filter(info, str(plan.destination))
        except tarfile.FilterError as exc:
            raise plan.refuse(str(exc)) from None
        if info.isdir():
            plan.add(_Member(name, "dir"))
        elif info.issym():
            plan.add(_Member(name, "symlink", target=info.linkname))
        elif info.islnk():
            try:
                target = normalize_relative(info.linkname, "hard link target")
            except TaskFailed as exc:
                raise plan.refuse(str(exc)) from None
            plan.add(_Member(name, "hardlink", target=target))
        elif info.isreg():
            plan.add(
                _Member(
                    name, "file", info.size, bool(info.mode & 0o111), open=lambda info=info: _tar_file(archive, info)
                )
            )
        else:
            raise plan.refuse(f"member {name!r} is a device file or FIFO")


def _tar_file(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    handle = archive.extractfile(info)
    assert handle is not None, "a regular member has content"
    return handle


def _open_archive(confined: Confined, raw: str) -> IO[bytes]:
    path = confined.resolve(raw)
    with reported_as(f"opening {raw!r}"):
        fd = os.open(path, open_flags(os.O_RDONLY | os.O_NONBLOCK))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise TaskFailed(f"{raw!r} is not a regular file")
    return os.fdopen(fd, "rb")


Reader = Callable[[IO[bytes], _Plan, Callable[[Iterable[_Member]], None]], None]
"""Plans an archive's members and extracts them, in one archive format (`read_zip`, `read_tar`)."""


async def unpack_for_task(ctx: TaskContext, properties: Mapping[str, JSON], read: Reader) -> dict[str, JSON]:
    """archive.unzip and archive.untar: extract in a stoppable worker thread inside the task's root."""
    confined = confinement(ctx)
    return await in_stoppable_thread(lambda stop: unpack(confined, properties, stop, read))


def unpack(
    confined: Confined,
    properties: Mapping[str, JSON],
    stop: threading.Event,
    read: Reader,
) -> dict[str, JSON]:
    limits = _limits(properties)
    raw = properties["path"]
    destination = _extract_destination(confined, properties.get("destination", "."))
    with _open_archive(confined, raw) as handle:
        plan = _Plan(destination, limits)
        extraction = _Extraction(destination, limits.max_size, stop)
        with reported_as(f"extracting {raw!r}"):
            read(handle, plan, extraction.run)
    return {"path": confined.relative(destination), "files": extraction.files, "size": extraction.size}


def read_zip(handle: IO[bytes], plan: _Plan, extract: Callable[[Iterable[_Member]], None]) -> None:
    try:
        with zipfile.ZipFile(handle) as archive:
            _zip_members(archive, plan)
            extract(plan.members)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise TaskFailed(f"not a readable zip archive: {exc}") from None


def read_tar(handle: IO[bytes], plan: _Plan, extract: Callable[[Iterable[_Member]], None]) -> None:
    try:
        with tarfile.open(fileobj=handle, mode="r:*") as archive:
            _tar_members(archive, plan)
            extract(plan.members)
    except (tarfile.ReadError, tarfile.CompressionError, EOFError) as exc:
        raise TaskFailed(f"not a readable tar archive: {exc}") from None


# Manifests ---------------------------------------------------------------------------------
