"""archive.tar and archive.untar, plain or compressed (gzip, bzip2, xz)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.archive._common import PACK_OUTPUT
from workflowdev.plugins.archive._common import PACK_PROPERTIES
from workflowdev.plugins.archive._common import REFUSALS
from workflowdev.plugins.archive._common import TAR_MODES
from workflowdev.plugins.archive._common import UNPACK_INPUT
from workflowdev.plugins.archive._common import UNPACK_OUTPUT
from workflowdev.plugins.archive._packing import pack_for_task
from workflowdev.plugins.archive._packing import tar_writer
from workflowdev.plugins.archive._unpacking import read_tar
from workflowdev.plugins.archive._unpacking import unpack_for_task


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
        input_schema=object_schema(
            {
                **PACK_PROPERTIES,
                "compression": {
                    "type": "string",
                    "enum": list(TAR_MODES),
                    "default": "gz",
                    "description": "none (.tar), gz (.tar.gz), bz2 (.tar.bz2) or xz (.tar.xz).",
                },
            },
            ["source", "destination"],
        ),
        output_schema=PACK_OUTPUT,
        examples=(
            task_example(
                "bundle",
                "archive.tar",
                """
                source: example_dir
                destination: bundle.tar.gz
                compression: gz
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await pack_for_task(ctx, properties, tar_writer(properties.get("compression", "gz")))


class Untar(Plugin):
    """Extract a tar archive (plain, gzip, bzip2 or xz, detected), under the same checks as unzip."""

    manifest: ClassVar[Manifest] = Manifest(
        id="archive.untar",
        name="Extract a tar archive",
        category="archive",
        description=(
            "Extracts the tar archive at `path` (plain, gzip, bzip2 or xz: detected from the "
            f"content) into `destination`. {REFUSALS} Files get mode 0644, or 0755 when executable "
            "in the archive; ownership is not restored."
        ),
        input_schema=UNPACK_INPUT,
        output_schema=UNPACK_OUTPUT,
        examples=(
            task_example(
                "unpack",
                "archive.untar",
                """
                path: example.tar.gz
                destination: unpacked
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await unpack_for_task(ctx, properties, read_tar)
