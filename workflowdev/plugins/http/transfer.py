"""http.download and http.upload: files streamed to and from disk inside the confinement root.

A download is written to a part file beside its destination and renamed into place only when
it is complete, so a flow never sees half a file under the name it asked for.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from typing import Any
from typing import ClassVar

import aiohttp

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._paths import confinement
from workflowdev.plugins._paths import open_flags
from workflowdev.plugins._toolkit import duration_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_text_map
from workflowdev.plugins._toolkit import read_whole_number
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.http._client import DEFAULT_DOWNLOAD_MAX_BYTES
from workflowdev.plugins.http._client import DEFAULT_TRANSFER_TIMEOUT
from workflowdev.plugins.http._client import EXCHANGE_TIMEOUT
from workflowdev.plugins.http._client import FAIL_ON_STATUS_SCHEMA
from workflowdev.plugins.http._client import FOLLOW_REDIRECTS_SCHEMA
from workflowdev.plugins.http._client import HEADERS_SCHEMA
from workflowdev.plugins.http._client import RESPONSE_OUT
from workflowdev.plugins.http._client import SCALAR
from workflowdev.plugins.http._client import SNIPPET_BYTES
from workflowdev.plugins.http._client import STATUS_OUT
from workflowdev.plugins.http._client import URL_SCHEMA
from workflowdev.plugins.http._client import VERIFY_TLS_SCHEMA
from workflowdev.plugins.http._client import WRITE_BUFFER_BYTES
from workflowdev.plugins.http._client import Reply
from workflowdev.plugins.http._client import T
from workflowdev.plugins.http._client import exchange
from workflowdev.plugins.http._client import exchange_options
from workflowdev.plugins.http._client import fetch
from workflowdev.plugins.http._client import http_url
from workflowdev.plugins.http._client import shown_url
from workflowdev.plugins.http._client import too_large

# -- http.download --------------------------------------------------------------------------------


def _create_exclusively(path: Path) -> IO[bytes]:
    """A new file that cannot be a symlink planted in advance (O_EXCL, O_NOFOLLOW)."""
    return os.fdopen(os.open(path, open_flags(os.O_WRONLY | os.O_CREAT | os.O_EXCL), 0o666), "wb")


def _open_for_reading(path: Path) -> IO[bytes]:
    """Open a confined file, refusing a symlink swapped in since the path was checked."""
    try:
        return os.fdopen(os.open(path, open_flags(os.O_RDONLY)), "rb")
    except OSError as exc:
        raise TaskFailed(f"could not read {path.name}: {exc.strerror or exc}") from None


class _PartFile:
    """A download in progress: written beside its target and moved into place only when complete.

    A failed or cancelled download therefore never leaves a truncated file under the real name.
    Disk work runs in worker threads so a slow disk does not stall the event loop.
    """

    def __init__(self, target: Path, shown: str) -> None:
        self.target = target
        self.part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        self.shown = shown
        self.handle: IO[bytes] | None = None

    async def _disk(self, call: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(call, *args)
        except OSError as exc:
            raise TaskFailed(f"could not write {self.shown}: {exc.strerror or exc}") from None

    async def open(self) -> None:
        await self._disk(lambda: self.target.parent.mkdir(parents=True, exist_ok=True))
        self.handle = await self._disk(_create_exclusively, self.part)

    async def write(self, data: bytes) -> None:
        assert self.handle is not None
        await self._disk(self.handle.write, data)

    async def commit(self) -> None:
        assert self.handle is not None
        await self._disk(self.handle.close)
        await self._disk(os.replace, self.part, self.target)

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.part.unlink(missing_ok=True)


async def _stream_to(part: _PartFile, response: aiohttp.ClientResponse, max_bytes: int) -> int:
    size = 0
    pending = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes, "max_bytes")
        pending += chunk
        if len(pending) >= WRITE_BUFFER_BYTES:
            await part.write(bytes(pending))
            pending.clear()
    if pending:
        await part.write(bytes(pending))
    return size


@dataclass(frozen=True)
class _Saved:
    size: int
    status: int
    content_type: str | None


class Download(Plugin):
    """Save a URL's body to a file, streaming: the body never sits in memory whole."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.download",
        name="Download a file",
        category="http",
        description=(
            "GETs `url` and streams the body to `path`, relative to the execution's working "
            "directory (or the server's files_root); absolute paths, `..` and symbolic links "
            "leading out are refused. Parent directories are created, an existing file is "
            "replaced, and the file appears only once the download is complete. Any status "
            "other than 2xx fails the task. Downloads are limited by `max_bytes`, not by "
            "http_max_response_bytes, since they do not fill memory."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Where to save the body, relative to the working directory.",
                },
                "headers": HEADERS_SCHEMA,
                "timeout": duration_schema(DEFAULT_TRANSFER_TIMEOUT, EXCHANGE_TIMEOUT),
                "max_bytes": {
                    "type": "integer",
                    "minimum": 1,
                    "default": DEFAULT_DOWNLOAD_MAX_BYTES,
                    "description": "The task fails (and saves nothing) when the body is larger.",
                },
                "follow_redirects": FOLLOW_REDIRECTS_SCHEMA,
                "verify_tls": VERIFY_TLS_SCHEMA,
            },
            ["url", "path"],
        ),
        output_schema=object_schema(
            {
                "path": {
                    "type": "string",
                    "description": "Where the file was saved, relative to the working directory.",
                },
                "size": {"type": "integer", "minimum": 0, "description": "Bytes written."},
                "status_code": STATUS_OUT,
                "content_type": {
                    "type": ["string", "null"],
                    "description": "The response's Content-Type header; null when it sent none.",
                },
            },
            ["path", "size", "status_code", "content_type"],
        ),
        examples=(
            task_example(
                "fetch_greeting",
                "http.download",
                """
                url: http://example.test/text
                path: downloads/greeting.txt
                max_bytes: 1048576
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = http_url(properties["url"])
        where = confinement(ctx)
        target = where.resolve(properties["path"])
        shown = where.relative(target)
        if target.is_dir():
            raise TaskFailed(f"path {shown} is a directory")
        max_bytes = read_whole_number(properties, "max_bytes", DEFAULT_DOWNLOAD_MAX_BYTES, 1)

        async def save(response: aiohttp.ClientResponse) -> _Saved:
            if not 200 <= response.status < 300:
                head = await response.content.read(SNIPPET_BYTES)
                reply = Reply(response.status, response.reason or "", response.url, response.headers, head)
                raise TaskFailed(f"{reply.status_failure('GET')}; nothing was saved")
            if response.content_length is not None and response.content_length > max_bytes:
                raise too_large(max_bytes, "max_bytes")
            part = _PartFile(target, shown)
            try:
                await part.open()
                size = await _stream_to(part, response, max_bytes)
                await part.commit()
            except BaseException:
                part.discard()
                raise
            return _Saved(size, response.status, response.headers.get("Content-Type"))

        saved = await exchange(
            ctx,
            "GET",
            url,
            save,
            **exchange_options(properties, DEFAULT_TRANSFER_TIMEOUT),
            headers=read_text_map(properties.get("headers"), "headers"),
        )
        ctx.log.info(f"saved {saved.size} bytes from {shown_url(url)} to {shown}")
        return {"path": shown, "size": saved.size, "status_code": saved.status, "content_type": saved.content_type}


# -- http.upload ----------------------------------------------------------------------------------


class Upload(Plugin):
    """Send a file (or text) as a multipart/form-data upload."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.upload",
        name="Upload a file",
        category="http",
        description=(
            "Sends a multipart/form-data request with one file part, read from `path` (relative "
            "to the working directory, confined like http.download) or taken from `content`, "
            "plus any extra text `fields`. The file is streamed from disk. Redirects are not "
            "followed, since an upload cannot be replayed safely: a 3xx is the result. Returns "
            "the response like http.request."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The file to send, relative to the working directory. Give `path` or `content`.",
                },
                "content": {
                    "type": "string",
                    "description": "Text to send as the file instead of a file on disk.",
                },
                "field": {
                    "type": "string",
                    "minLength": 1,
                    "default": "file",
                    "description": "The form field name of the file part.",
                },
                "filename": {
                    "type": "string",
                    "minLength": 1,
                    "description": ("The file name sent; default: the file's own name, or upload.txt for `content`."),
                },
                "content_type": {
                    "type": "string",
                    "minLength": 1,
                    "description": (
                        "The file part's type; default: guessed from the file name, else application/octet-stream."
                    ),
                },
                "fields": {
                    "type": "object",
                    "additionalProperties": SCALAR,
                    "description": "Extra text fields of the form, name to value.",
                },
                "method": {
                    "type": "string",
                    "enum": ["POST", "PUT"],
                    "default": "POST",
                    "description": "The HTTP method.",
                },
                "headers": HEADERS_SCHEMA,
                "timeout": duration_schema(DEFAULT_TRANSFER_TIMEOUT, EXCHANGE_TIMEOUT),
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail_on_status": FAIL_ON_STATUS_SCHEMA,
            },
            ["url"],
        ),
        output_schema=RESPONSE_OUT,
        examples=(
            task_example(
                "send_report",
                "http.upload",
                r"""
                url: http://example.test/upload
                content: "id,total\n1,9.50\n"
                filename: report.csv
                fields:
                  month: 2024-05
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        method = read_choice(properties, "method", ("POST", "PUT"), "POST")
        url = http_url(properties["url"])
        if ("path" in properties) == ("content" in properties):
            raise TaskFailed("give exactly one of path (a file to send) and content (text to send)")
        form = aiohttp.FormData()
        for name, value in read_text_map(properties.get("fields"), "fields").items():
            form.add_field(name, value)
        handle: IO[bytes] | None = None
        if "path" in properties:
            source = confinement(ctx).resolve(properties["path"])
            if not source.is_file():
                raise TaskFailed(f"there is no file at path {as_text(properties['path'])}")
            filename = as_text(properties.get("filename", source.name))
            handle = await asyncio.to_thread(_open_for_reading, source)
            file_part: IO[bytes] | bytes = handle
        else:
            filename = as_text(properties.get("filename", "upload.txt"))
            file_part = as_text(properties["content"]).encode()
        content_type = as_text(
            properties.get("content_type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        field_name = as_text(properties.get("field", "file"))
        form.add_field(field_name, file_part, filename=filename, content_type=content_type)
        try:
            reply = await fetch(
                ctx,
                method,
                url,
                **exchange_options(properties, DEFAULT_TRANSFER_TIMEOUT, has_follow_redirects=False),
                follow_redirects=False,
                headers=read_text_map(properties.get("headers"), "headers"),
                data=form,
            )
        finally:
            if handle is not None:
                handle.close()
        if reply.status >= 400 and read_flag(properties, "fail_on_status", True):
            raise reply.status_failure(method)
        return reply.outputs(ctx.log)
