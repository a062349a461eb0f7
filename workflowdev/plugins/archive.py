"""archive: pack and unpack zip and tar files inside the execution's working directory.

Paths follow the rules of file.* (one root, nothing outside it; see `_paths`). Extraction is
where archives attack, so an archive is checked as a whole *before* anything is written:
a member named absolutely or climbing out with `..` (zip-slip), a symlink or hard link
pointing outside the destination, a device file or FIFO, an encrypted member, a duplicate name
or more members or declared bytes than the limits allow refuses the archive and nothing is
extracted. While writing, every file is created with O_EXCL|O_NOFOLLOW under a parent whose
real path is checked again, and bytes are counted as they are decompressed, so an archive that
lies about its sizes (a zip bomb) is stopped at the limit; a failed extraction removes what it
had created. Tar members also pass through Python's own `tarfile.data_filter`.

When packing, symlinks and special files are skipped (and reported in the log): an archive made
here holds regular files and directories only, so it can never carry a link to outside the root.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import stat
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar, Final, Literal, TypeVar

from workflowdev.engine.plugin import JSON, Manifest, Plugin, TaskContext, TaskFailed
from workflowdev.plugins._paths import Confined, confinement, normalize_relative, open_flags

__all__ = ["PLUGINS", "Tar", "Untar", "Unzip", "Zip"]

DEFAULT_MAX_SIZE: Final = 1024**3
MAX_SIZE: Final = 16 * 1024**3
DEFAULT_MAX_FILES: Final = 10_000
MAX_FILES: Final = 100_000
_MAX_LINK_TARGET: Final = 4096
_CHUNK: Final = 1024 * 1024
_ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
TAR_MODES: Final = {"none": "w", "gz": "w:gz", "bz2": "w:bz2", "xz": "w:xz"}
_T = TypeVar("_T")

_ROOT_NOTE = "relative to the execution's working directory (or files_root); it may not lead outside"


class _Stopped(Exception):
    """The task was cancelled while a worker thread was packing or unpacking."""


async def _blocking(call: Callable[[threading.Event], _T]) -> _T:
    """Run `call` in a worker thread; on cancellation ask it to stop (it cleans up after itself)."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(call, stop)
    except asyncio.CancelledError:
        stop.set()
        raise


def _object(properties: dict[str, JSON], required: list[str]) -> dict[str, JSON]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _path(description: str) -> dict[str, JSON]:
    return {"type": "string", "minLength": 1, "description": f"{description}, {_ROOT_NOTE}."}


def _count(properties: Mapping[str, JSON], name: str, default: int) -> int:
    return int(properties.get(name, default))


@contextmanager
def _reported(action: str) -> Iterator[None]:
    """Filesystem errors (a full disk, a permission) as a task failure naming the file."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise TaskFailed(f"{action} failed: {exc.strerror or exc}{where}") from None


# Packing -----------------------------------------------------------------------------------


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


def _pack(
    confined: Confined,
    properties: Mapping[str, JSON],
    stop: threading.Event,
    write: Callable[[Path, _Sources, threading.Event], None],
) -> tuple[dict[str, JSON], list[str]]:
    """Collect, write to a hidden part file beside the destination, then move it into place.

    A failed or cancelled run therefore never leaves a half-written archive under the real name.
    """
    raw_source = properties["source"]
    source = confined.resolve(raw_source, what="source")
    with _reported(f"packing {raw_source!r}"):
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


def _write_zip(part: Path, sources: _Sources, stop: threading.Event) -> None:
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, strict_timestamps=False) as archive:
        for path, member, is_dir in sources.items:
            if stop.is_set():
                raise _Stopped
            if is_dir:
                archive.write(path, member + "/")
                continue
            with _open_source(path) as source:
                info_stat = os.fstat(source.fileno())
                info = zipfile.ZipInfo(member, max(_ZIP_EPOCH, time.localtime(info_stat.st_mtime)[:6]))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | stat.S_IMODE(info_stat.st_mode)) << 16
                info.file_size = info_stat.st_size
                with archive.open(info, "w", force_zip64=info_stat.st_size > 2**31) as target:
                    _copy(source, target, stop)


def _tar_writer(compression: str) -> Callable[[Path, _Sources, threading.Event], None]:
    def write(part: Path, sources: _Sources, stop: threading.Event) -> None:
        with tarfile.open(part, TAR_MODES[compression], format=tarfile.PAX_FORMAT) as archive:
            for path, member, is_dir in sources.items:
                if stop.is_set():
                    raise _Stopped
                if is_dir:
                    archive.add(path, member, recursive=False)
                    continue
                with _open_source(path) as source:
                    archive.addfile(archive.gettarinfo(arcname=member, fileobj=source), source)

    return write


def _copy(source: IO[bytes], target: IO[bytes], stop: threading.Event) -> int:
    copied = 0
    while chunk := source.read(_CHUNK):
        if stop.is_set():
            raise _Stopped
        target.write(chunk)
        copied += len(chunk)
    return copied


# Unpacking ---------------------------------------------------------------------------------

Kind = Literal["file", "dir", "symlink", "hardlink"]


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
                    raise _Stopped
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
            while chunk := source.read(_CHUNK):
                if self.stop.is_set():
                    raise _Stopped
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
        max_files=_count(properties, "max_files", DEFAULT_MAX_FILES),
        max_size=_count(properties, "max_size", DEFAULT_MAX_SIZE),
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
            if info.file_size > _MAX_LINK_TARGET:
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
                _Member(name, "file", info.size, bool(info.mode & 0o111), open=lambda info=info: _tar_file(archive, info))
            )
        else:
            raise plan.refuse(f"member {name!r} is a device file or FIFO")


def _tar_file(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    handle = archive.extractfile(info)
    assert handle is not None, "a regular member has content"
    return handle


def _open_archive(confined: Confined, raw: str) -> IO[bytes]:
    path = confined.resolve(raw)
    with _reported(f"opening {raw!r}"):
        fd = os.open(path, open_flags(os.O_RDONLY | os.O_NONBLOCK))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise TaskFailed(f"{raw!r} is not a regular file")
    return os.fdopen(fd, "rb")


def _unpack(
    confined: Confined,
    properties: Mapping[str, JSON],
    stop: threading.Event,
    read: Callable[[IO[bytes], _Plan, Callable[[Iterable[_Member]], None]], None],
) -> dict[str, JSON]:
    limits = _limits(properties)
    raw = properties["path"]
    destination = _extract_destination(confined, properties.get("destination", "."))
    with _open_archive(confined, raw) as handle:
        plan = _Plan(destination, limits)
        extraction = _Extraction(destination, limits.max_size, stop)
        with _reported(f"extracting {raw!r}"):
            read(handle, plan, extraction.run)
    return {"path": confined.relative(destination), "files": extraction.files, "size": extraction.size}


def _read_zip(handle: IO[bytes], plan: _Plan, extract: Callable[[Iterable[_Member]], None]) -> None:
    try:
        with zipfile.ZipFile(handle) as archive:
            _zip_members(archive, plan)
            extract(plan.members)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise TaskFailed(f"not a readable zip archive: {exc}") from None


def _read_tar(handle: IO[bytes], plan: _Plan, extract: Callable[[Iterable[_Member]], None]) -> None:
    try:
        with tarfile.open(fileobj=handle, mode="r:*") as archive:
            _tar_members(archive, plan)
            extract(plan.members)
    except (tarfile.ReadError, tarfile.CompressionError, EOFError) as exc:
        raise TaskFailed(f"not a readable tar archive: {exc}") from None


# Manifests ---------------------------------------------------------------------------------

_PACK_OUTPUT: Final = _object(
    {
        "path": {"type": "string", "description": "The archive, relative to the root."},
        "files": {"type": "integer", "minimum": 0, "description": "Regular files packed."},
        "size": {"type": "integer", "minimum": 0, "description": "The archive's size in bytes."},
    },
    ["path", "files", "size"],
)
_UNPACK_OUTPUT: Final = _object(
    {
        "path": {"type": "string", "description": "The destination directory, relative to the root."},
        "files": {"type": "integer", "minimum": 0, "description": "Files and links extracted (directories not counted)."},
        "size": {"type": "integer", "minimum": 0, "description": "Bytes written, after decompression."},
    },
    ["path", "files", "size"],
)
_PACK_PROPERTIES: Final[dict[str, JSON]] = {
    "source": _path("The file or directory to pack"),
    "destination": _path("The archive file to create"),
    "overwrite": {
        "type": "boolean",
        "default": False,
        "description": "Replace an existing archive at `destination`. False: fail instead.",
    },
}
_UNPACK_PROPERTIES: Final[dict[str, JSON]] = {
    "path": _path("The archive to extract"),
    "destination": {**_path("The directory to extract into (created if missing)"), "default": "."},
    "overwrite": {
        "type": "boolean",
        "default": False,
        "description": "Replace files that already exist in the destination. False: refuse the archive instead.",
    },
    "max_size": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_SIZE,
        "default": DEFAULT_MAX_SIZE,
        "description": f"Most bytes the archive may expand to (default 1 GiB, at most {MAX_SIZE}).",
    },
    "max_files": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_FILES,
        "default": DEFAULT_MAX_FILES,
        "description": f"Most members the archive may have (at most {MAX_FILES}).",
    },
}
_REFUSALS = (
    "Archives with members named absolutely or with '..', links pointing outside the destination, "
    "device files, or more members or declared bytes than max_files/max_size are refused before "
    "anything is written; one that expands beyond max_size anyway is stopped there and what it "
    "wrote is removed."
)


def _log_skipped(ctx: TaskContext, skipped: list[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        ctx.log.warning(f"skipped {len(skipped)} symlinks or special files: {shown}")


class Zip(Plugin):
    """Pack a file or directory into a zip archive (deflate)."""

    manifest: ClassVar[Manifest] = Manifest(
        id="archive.zip",
        name="Create a zip archive",
        category="archive",
        description=(
            "Packs `source` (a file, or a directory with everything in it) into the zip file "
            "`destination`. A directory's members keep its name as their first folder, as "
            "`zip -r` does; packing '.' stores the contents without a prefix. Symlinks and "
            "special files are skipped and reported in the log."
        ),
        input_schema=_object(_PACK_PROPERTIES, ["source", "destination"]),
        output_schema=_PACK_OUTPUT,
        examples=(
            "- name: bundle\n"
            "  type: archive.zip\n"
            "  properties:\n"
            "    source: example_dir\n"
            "    destination: bundle.zip\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        outputs, skipped = await _blocking(lambda stop: _pack(confined, properties, stop, _write_zip))
        _log_skipped(ctx, skipped)
        return outputs


class Unzip(Plugin):
    """Extract a zip archive, refusing hostile or oversized ones before writing anything."""

    manifest: ClassVar[Manifest] = Manifest(
        id="archive.unzip",
        name="Extract a zip archive",
        category="archive",
        description=f"Extracts the zip archive at `path` into `destination`. {_REFUSALS}",
        input_schema=_object(_UNPACK_PROPERTIES, ["path"]),
        output_schema=_UNPACK_OUTPUT,
        examples=(
            "- name: unpack\n"
            "  type: archive.unzip\n"
            "  properties:\n"
            "    path: example.zip\n"
            "    destination: unpacked\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await _blocking(lambda stop: _unpack(confined, properties, stop, _read_zip))


class Tar(Plugin):
    """Pack a file or directory into a tar archive, compressed with gzip, bzip2 or xz."""

    manifest: ClassVar[Manifest] = Manifest(
        id="archive.tar",
        name="Create a tar archive",
        category="archive",
        description=(
            "Packs `source` (a file, or a directory with everything in it) into the tar file "
            "`destination`, compressed as `compression` says (gzip by default). Members are named "
            "as for archive.zip; symlinks and special files are skipped and reported in the log."
        ),
        input_schema=_object(
            {
                **_PACK_PROPERTIES,
                "compression": {
                    "type": "string",
                    "enum": list(TAR_MODES),
                    "default": "gz",
                    "description": "none (.tar), gz (.tar.gz), bz2 (.tar.bz2) or xz (.tar.xz).",
                },
            },
            ["source", "destination"],
        ),
        output_schema=_PACK_OUTPUT,
        examples=(
            "- name: bundle\n"
            "  type: archive.tar\n"
            "  properties:\n"
            "    source: example_dir\n"
            "    destination: bundle.tar.gz\n"
            "    compression: gz\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        writer = _tar_writer(properties.get("compression", "gz"))
        outputs, skipped = await _blocking(lambda stop: _pack(confined, properties, stop, writer))
        _log_skipped(ctx, skipped)
        return outputs


class Untar(Plugin):
    """Extract a tar archive (plain, gzip, bzip2 or xz, detected), under the same checks as unzip."""

    manifest: ClassVar[Manifest] = Manifest(
        id="archive.untar",
        name="Extract a tar archive",
        category="archive",
        description=(
            "Extracts the tar archive at `path` (plain, gzip, bzip2 or xz: detected from the "
            f"content) into `destination`. {_REFUSALS} Files get mode 0644, or 0755 when executable "
            "in the archive; ownership is not restored."
        ),
        input_schema=_object(_UNPACK_PROPERTIES, ["path"]),
        output_schema=_UNPACK_OUTPUT,
        examples=(
            "- name: unpack\n"
            "  type: archive.untar\n"
            "  properties:\n"
            "    path: example.tar.gz\n"
            "    destination: unpacked\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await _blocking(lambda stop: _unpack(confined, properties, stop, _read_tar))


PLUGINS: Final[list[type[Plugin]]] = [Zip, Unzip, Tar, Untar]
