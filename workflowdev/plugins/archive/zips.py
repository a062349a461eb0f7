"""archive.zip and archive.unzip."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.plugins._paths import confinement
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins.archive._common import PACK_OUTPUT
from workflowdev.plugins.archive._common import PACK_PROPERTIES
from workflowdev.plugins.archive._common import REFUSALS
from workflowdev.plugins.archive._common import UNPACK_OUTPUT
from workflowdev.plugins.archive._common import UNPACK_PROPERTIES
from workflowdev.plugins.archive._common import in_stoppable_thread
from workflowdev.plugins.archive._common import log_skipped
from workflowdev.plugins.archive._packing import pack
from workflowdev.plugins.archive._packing import write_zip
from workflowdev.plugins.archive._unpacking import read_zip
from workflowdev.plugins.archive._unpacking import unpack


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
            "- name: bundle\n"
            "  type: archive.zip\n"
            "  properties:\n"
            "    source: example_dir\n"
            "    destination: bundle.zip\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        outputs, skipped = await in_stoppable_thread(lambda stop: pack(confined, properties, stop, write_zip))
        log_skipped(ctx, skipped)
        return outputs


class Unzip(Plugin):
    """Extract a zip archive, refusing hostile or oversized ones before writing anything."""

    manifest: ClassVar[Manifest] = Manifest(
        id="archive.unzip",
        name="Extract a zip archive",
        category="archive",
        description=f"Extracts the zip archive at `path` into `destination`. {REFUSALS}",
        input_schema=object_schema(UNPACK_PROPERTIES, ["path"]),
        output_schema=UNPACK_OUTPUT,
        examples=(
            "- name: unpack\n  type: archive.unzip\n  properties:\n    path: example.zip\n    destination: unpacked\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        return await in_stoppable_thread(lambda stop: unpack(confined, properties, stop, read_zip))
