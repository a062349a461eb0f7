"""archive.zip and archive.unzip."""

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
from workflowdev.plugins.archive._common import UNPACK_INPUT
from workflowdev.plugins.archive._common import UNPACK_OUTPUT
from workflowdev.plugins.archive._packing import pack_for_task
from workflowdev.plugins.archive._packing import write_zip
from workflowdev.plugins.archive._unpacking import read_zip
from workflowdev.plugins.archive._unpacking import unpack_for_task


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
        input_schema=object_schema(PACK_PROPERTIES, ["source", "destination"]),
        output_schema=PACK_OUTPUT,
        examples=(
            task_example(
                "bundle",
                "archive.zip",
                """
                source: example_dir
                destination: bundle.zip
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await pack_for_task(ctx, properties, write_zip)


class Unzip(Plugin):
    """Extract a zip archive, refusing hostile or oversized ones before writing anything."""

    manifest: ClassVar[Manifest] = Manifest(
        id="archive.unzip",
        name="Extract a zip archive",
        category="archive",
        description=f"Extracts the zip archive at `path` into `destination`. {REFUSALS}",
        input_schema=UNPACK_INPUT,
        output_schema=UNPACK_OUTPUT,
        examples=(
            task_example(
                "unpack",
                "archive.unzip",
                """
                path: example.zip
                destination: unpacked
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await unpack_for_task(ctx, properties, read_zip)
