"""What the archive task types share: limits, work in a stoppable worker thread, and the pieces
of their manifests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Final
from typing import TypeVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._paths import path_schema
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema

DEFAULT_MAX_SIZE: Final = 1024**3
MAX_SIZE: Final = 16 * 1024**3
DEFAULT_MAX_FILES: Final = 10_000
MAX_FILES: Final = 100_000
MAX_LINK_TARGET: Final = 4096
CHUNK: Final = 1024 * 1024
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
TAR_MODES: Final = {"none": "w", "gz": "w:gz", "bz2": "w:bz2", "xz": "w:xz"}
_T = TypeVar("_T")


class Stopped(Exception):
    """The task was cancelled while a worker thread was packing or unpacking."""


async def in_stoppable_thread(call: Callable[[threading.Event], _T]) -> _T:
    """Run `call` in a worker thread; on cancellation ask it to stop (it cleans up after itself)."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(call, stop)
    except asyncio.CancelledError:
        stop.set()
        raise


def read_limit(properties: Mapping[str, JSON], name: str, default: int) -> int:
    return int(properties.get(name, default))


@contextmanager
def reported_as(action: str) -> Iterator[None]:
    """Filesystem errors (a full disk, a permission) as a task failure naming the file."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise TaskFailed(f"{action} failed: {exc.strerror or exc}{where}") from None


# Packing -----------------------------------------------------------------------------------


PACK_OUTPUT: Final = object_schema(
    {
        "path": {"type": "string", "description": "The archive, relative to the root."},
        "files": {"type": "integer", "minimum": 0, "description": "Regular files packed."},
        "size": {"type": "integer", "minimum": 0, "description": "The archive's size in bytes."},
    },
    ["path", "files", "size"],
)
UNPACK_OUTPUT: Final = object_schema(
    {
        "path": {"type": "string", "description": "The destination directory, relative to the root."},
        "files": {
            "type": "integer",
            "minimum": 0,
            "description": "Files and links extracted (directories not counted).",
        },
        "size": {"type": "integer", "minimum": 0, "description": "Bytes written, after decompression."},
    },
    ["path", "files", "size"],
)
PACK_PROPERTIES: Final[dict[str, JSON]] = {
    "source": path_schema("The file or directory to pack"),
    "destination": path_schema("The archive file to create"),
    "overwrite": flag_schema(False, "Replace an existing archive at `destination`. False: fail instead."),
}
UNPACK_PROPERTIES: Final[dict[str, JSON]] = {
    "path": path_schema("The archive to extract"),
    "destination": {**path_schema("The directory to extract into (created if missing)"), "default": "."},
    "overwrite": flag_schema(
        False, "Replace files that already exist in the destination. False: refuse the archive instead."
    ),
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
UNPACK_INPUT: Final = object_schema(UNPACK_PROPERTIES, ["path"])
REFUSALS = (
    "Archives with members named absolutely or with '..', links pointing outside the destination, "
    "device files, or more members or declared bytes than max_files/max_size are refused before "
    "anything is written; one that expands beyond max_size anyway is stopped there and what it "
    "wrote is removed."
)
