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

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.archive.tars import Tar
from workflowdev.plugins.archive.tars import Untar
from workflowdev.plugins.archive.zips import Unzip
from workflowdev.plugins.archive.zips import Zip

__all__ = ["PLUGINS", "Tar", "Untar", "Unzip", "Zip"]

PLUGINS: Final[list[type[Plugin]]] = [Zip, Unzip, Tar, Untar]
