"""file.write and file.append."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.plugins._paths import Confined
from workflowdev.plugins._paths import path_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.file._common import ENCODING_SCHEMA
from workflowdev.plugins.file._common import MAKE_DIRS_SCHEMA
from workflowdev.plugins.file._common import WRITTEN_SCHEMA
from workflowdev.plugins.file._common import encode_content
from workflowdev.plugins.file._common import in_root
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
            task_example(
                "save_report",
                "file.write",
                """
                path: reports/summary.txt
                content: |
                  orders: 42
                  failed: 0
                """,
            ),
            task_example(
                "save_settings",
                "file.write",
                """
                path: settings.json
                content: {region: eu-west, batch_size: 50}
                mode: create
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        flags = os.O_EXCL if properties.get("mode", "overwrite") == "create" else os.O_TRUNC
        return await _write(ctx, properties, flags)


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
            task_example(
                "note_progress",
                "file.append",
                r"""
                path: logs/progress.log
                content: "batch 1 imported\n"
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _write(ctx, properties, os.O_APPEND)


async def _write(ctx: TaskContext, properties: Mapping[str, JSON], flags: int) -> dict[str, JSON]:
    """file.write and file.append differ only in how the file is opened (`flags`)."""

    def write(confined: Confined) -> dict[str, JSON]:
        data = encode_content(properties["content"], properties.get("encoding", "utf-8"))
        return write_file(confined, properties["path"], data, flags=flags, make_dirs=properties.get("make_dirs", True))

    return await in_root(ctx, write)
