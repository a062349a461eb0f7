"""file.write and file.append."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.plugins._paths import confinement
from workflowdev.plugins._paths import path_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins.file._common import ENCODING_SCHEMA
from workflowdev.plugins.file._common import MAKE_DIRS_SCHEMA
from workflowdev.plugins.file._common import WRITTEN_SCHEMA
from workflowdev.plugins.file._common import encode_content
from workflowdev.plugins.file._common import write_file


class Write(Plugin):
    """Create or replace a file with text (or base64-decoded bytes)."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.write",
        name="Write a file",
        category="file",
        description=(
            "Writes `content` to `path`, replacing the file (mode overwrite) or only when it does "
            "not exist yet (mode create). Text is encoded with `encoding`; base64 content is "
            "decoded to bytes; any other value (an object, a list) is written as indented JSON. "
            "Missing parent directories are created."
        ),
        input_schema=object_schema(
            {
                "path": path_schema("The file to write"),
                "content": {"description": "What to write: text, base64 text, or any JSON value (written as JSON)."},
                "encoding": ENCODING_SCHEMA,
                "mode": {
                    "type": "string",
                    "enum": ["overwrite", "create"],
                    "default": "overwrite",
                    "description": "overwrite: replace an existing file; create: fail if the file exists.",
                },
                "make_dirs": MAKE_DIRS_SCHEMA,
            },
            ["path", "content"],
        ),
        output_schema=WRITTEN_SCHEMA,
        examples=(
            "- name: save_report\n"
            "  type: file.write\n"
            "  properties:\n"
            "    path: reports/summary.txt\n"
            "    content: |\n"
            "      orders: 42\n"
            "      failed: 0\n",
            "- name: save_settings\n"
            "  type: file.write\n"
            "  properties:\n"
            "    path: settings.json\n"
            "    content: {region: eu-west, batch_size: 50}\n"
            "    mode: create\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        data = encode_content(properties["content"], properties.get("encoding", "utf-8"))
        flags = os.O_EXCL if properties.get("mode", "overwrite") == "create" else os.O_TRUNC
        make_dirs = properties.get("make_dirs", True)
        return await asyncio.to_thread(
            lambda: write_file(confined, properties["path"], data, flags=flags, make_dirs=make_dirs)
        )


class Append(Plugin):
    """Add to the end of a file, creating it if needed: logs, CSV rows, reports built up in steps."""

    manifest: ClassVar[Manifest] = Manifest(
        id="file.append",
        name="Append to a file",
        category="file",
        description=(
            "Appends `content` to the end of `path`, creating the file (and its parent "
            "directories) when missing. Nothing is added between appends: end lines with a "
            "newline yourself. Non-string content is appended as indented JSON."
        ),
        input_schema=object_schema(
            {
                "path": path_schema("The file to append to"),
                "content": {"description": "What to append: text, base64 text, or any JSON value (as JSON)."},
                "encoding": ENCODING_SCHEMA,
                "make_dirs": MAKE_DIRS_SCHEMA,
            },
            ["path", "content"],
        ),
        output_schema=WRITTEN_SCHEMA,
        examples=(
            "- name: note_progress\n"
            "  type: file.append\n"
            "  properties:\n"
            "    path: logs/progress.log\n"
            '    content: "batch 1 imported\\n"\n',
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        confined = confinement(ctx)
        data = encode_content(properties["content"], properties.get("encoding", "utf-8"))
        make_dirs = properties.get("make_dirs", True)
        return await asyncio.to_thread(
            lambda: write_file(confined, properties["path"], data, flags=os.O_APPEND, make_dirs=make_dirs)
        )
