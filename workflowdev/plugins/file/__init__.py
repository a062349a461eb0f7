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

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.file.managing import Copy
from workflowdev.plugins.file.managing import Delete
from workflowdev.plugins.file.managing import Move
from workflowdev.plugins.file.managing import Stat
from workflowdev.plugins.file.reading import List
from workflowdev.plugins.file.reading import Read
from workflowdev.plugins.file.writing import Append
from workflowdev.plugins.file.writing import Write

__all__ = ["PLUGINS", "Append", "Copy", "Delete", "List", "Move", "Read", "Stat", "Write"]

PLUGINS: Final[list[type[Plugin]]] = [Read, Write, Append, List, Delete, Copy, Move, Stat]
