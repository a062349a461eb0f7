"""archive.tar and archive.untar, plain or compressed (gzip, bzip2, xz)."""

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
from workflowdev.plugins.archive._common import TAR_MODES
from workflowdev.plugins.archive._common import UNPACK_OUTPUT
from workflowdev.plugins.archive._common import UNPACK_PROPERTIES
from workflowdev.plugins.archive._common import in_stoppable_thread
from workflowdev.plugins.archive._common import log_skipped
from workflowdev.plugins.archive._packing import pack
from workflowdev.plugins.archive._packing import tar_writer
from workflowdev.plugins.archive._unpacking import read_tar
from workflowdev.plugins.archive._unpacking import unpack


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
        writer = tar_writer(properties.get("compression", "gz"))
        outputs, skipped = await in_stoppable_thread(lambda stop: pack(confined, properties, stop, writer))
        log_skipped(ctx, skipped)
        return outputs


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
        input_schema=object_schema(UNPACK_PROPERTIES, ["path"]),
        output_schema=UNPACK_OUTPUT,
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
        return await in_stoppable_thread(lambda stop: unpack(confined, properties, stop, read_tar))
