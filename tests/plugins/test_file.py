"""file.*: every operation on real files, and the confinement that keeps each of them inside the
root — `..`, absolute paths and symlinks leading out are refused, whatever the operation."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from tests.plugins.test_util import FakeContext
from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import PluginSettings
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._paths import Confined
from workflowdev.plugins.file import Append
from workflowdev.plugins.file import Copy
from workflowdev.plugins.file import Delete
from workflowdev.plugins.file import List
from workflowdev.plugins.file import Move
from workflowdev.plugins.file import Read
from workflowdev.plugins.file import Stat
from workflowdev.plugins.file import Write
from workflowdev.runtime import Runtime

SECRET = "outside the root\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the root, holding a file no task may touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text(SECRET)
    return path


@pytest.fixture
def ctx(tmp_path: Path, outside: Path) -> FakeContext:
    """A workdir with a file, a directory, and two symlinks pointing outside it."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "example.txt").write_text("hello\n")
    (workdir / "example_dir").mkdir()
    (workdir / "example_dir" / "a.txt").write_text("a\n")
    (workdir / "dir_link").symlink_to(outside)
    (workdir / "file_link").symlink_to(outside / "secret.txt")
    return FakeContext(workdir=workdir)


async def test_write_then_read_text(ctx: FakeContext) -> None:
    written = await Write().run(ctx, {"path": "reports/summary.txt", "content": "Zoë: 42\n"})

    assert written == {"path": "reports/summary.txt", "size": len("Zoë: 42\n".encode())}
    assert (ctx.workdir / "reports" / "summary.txt").read_text() == "Zoë: 42\n"
    assert await Read().run(ctx, {"path": "reports/summary.txt"}) == {"content": "Zoë: 42\n", "size": 9}


async def test_write_replaces_by_default_and_create_refuses_an_existing_file(ctx: FakeContext) -> None:
    await Write().run(ctx, {"path": "example.txt", "content": "new"})
    assert (ctx.workdir / "example.txt").read_text() == "new"

    with pytest.raises(TaskFailed, match="'example.txt' already exists"):
        await Write().run(ctx, {"path": "example.txt", "content": "newer", "mode": "create"})
    assert (ctx.workdir / "example.txt").read_text() == "new"
    assert await Write().run(ctx, {"path": "fresh.txt", "content": "x", "mode": "create"}) == {
        "path": "fresh.txt",
        "size": 1,
    }


async def test_write_of_an_object_stores_json(ctx: FakeContext) -> None:
    await Write().run(ctx, {"path": "settings.json", "content": {"region": "eu", "sizes": [1, 2]}})

    assert (ctx.workdir / "settings.json").read_text() == '{\n  "region": "eu",\n  "sizes": [\n    1,\n    2\n  ]\n}\n'


async def test_binary_round_trip_through_base64(ctx: FakeContext) -> None:
    data = bytes(range(256))
    encoded = base64.b64encode(data).decode()

    assert await Write().run(ctx, {"path": "blob.bin", "content": encoded, "encoding": "base64"}) == {
        "path": "blob.bin",
        "size": 256,
    }
    assert (ctx.workdir / "blob.bin").read_bytes() == data
    assert await Read().run(ctx, {"path": "blob.bin", "encoding": "base64"}) == {"content": encoded, "size": 256}
    with pytest.raises(TaskFailed, match="is not valid utf-8.*encoding: base64"):
        await Read().run(ctx, {"path": "blob.bin"})


async def test_other_encodings(ctx: FakeContext) -> None:
    await Write().run(ctx, {"path": "latin.txt", "content": "café", "encoding": "latin-1"})

    assert (ctx.workdir / "latin.txt").read_bytes() == b"caf\xe9"
    assert (await Read().run(ctx, {"path": "latin.txt", "encoding": "latin-1"}))["content"] == "café"
    with pytest.raises(TaskFailed, match="unknown encoding 'klingon'"):
        await Read().run(ctx, {"path": "latin.txt", "encoding": "klingon"})
    with pytest.raises(TaskFailed, match="not valid base64"):
        await Write().run(ctx, {"path": "x.bin", "content": "not base64!", "encoding": "base64"})


async def test_write_without_make_dirs_needs_the_parent(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed, match="parent directory does not exist"):
        await Write().run(ctx, {"path": "missing/file.txt", "content": "x", "make_dirs": False})
    assert not (ctx.workdir / "missing").exists()


async def test_read_refuses_what_is_too_large_missing_or_a_directory(ctx: FakeContext) -> None:
    (ctx.workdir / "big.txt").write_text("x" * 101)

    with pytest.raises(TaskFailed, match="larger than max_bytes \\(100 bytes\\)"):
        await Read().run(ctx, {"path": "big.txt", "max_bytes": 100})
    assert (await Read().run(ctx, {"path": "big.txt", "max_bytes": 101}))["size"] == 101
    with pytest.raises(TaskFailed, match="'nope.txt': No such file or directory"):
        await Read().run(ctx, {"path": "nope.txt"})
    with pytest.raises(TaskFailed, match="not a regular file"):
        await Read().run(ctx, {"path": "example_dir"})


async def test_append_creates_then_extends(ctx: FakeContext) -> None:
    assert await Append().run(ctx, {"path": "logs/run.log", "content": "one\n"}) == {"path": "logs/run.log", "size": 4}
    assert await Append().run(ctx, {"path": "logs/run.log", "content": "two\n"}) == {"path": "logs/run.log", "size": 8}

    assert (ctx.workdir / "logs" / "run.log").read_text() == "one\ntwo\n"


async def test_list_reports_entries_relative_to_the_root(ctx: FakeContext) -> None:
    listed = await List().run(ctx, {"path": "."})

    by_path = {entry["path"]: entry for entry in listed["entries"]}
    assert list(by_path) == ["dir_link", "example.txt", "example_dir", "file_link"]
    assert by_path["example.txt"]["type"] == "file" and by_path["example.txt"]["size"] == 6
    assert by_path["example_dir"]["type"] == "directory" and by_path["example_dir"]["size"] == 0
    assert by_path["dir_link"]["type"] == "symlink" and by_path["file_link"]["type"] == "symlink"
    assert by_path["example.txt"]["modified"].endswith("+00:00")
    assert listed["truncated"] is False


async def test_list_recursive_with_a_pattern_never_follows_links(ctx: FakeContext) -> None:
    (ctx.workdir / "example_dir" / "deeper").mkdir()
    (ctx.workdir / "example_dir" / "deeper" / "b.txt").write_text("b")
    (ctx.workdir / "example_dir" / "c.csv").write_text("c")

    listed = await List().run(ctx, {"path": ".", "pattern": "*.txt", "recursive": True})

    assert [entry["path"] for entry in listed["entries"]] == [
        "example.txt",
        "example_dir/a.txt",
        "example_dir/deeper/b.txt",
    ]
    only_dir = await List().run(ctx, {"path": "example_dir"})
    assert [entry["path"] for entry in only_dir["entries"]] == ["example_dir/a.txt", "example_dir/c.csv", "example_dir/deeper"]


async def test_list_stops_at_max_entries(ctx: FakeContext) -> None:
    listed = await List().run(ctx, {"path": ".", "max_entries": 2})

    assert len(listed["entries"]) == 2 and listed["truncated"] is True


async def test_delete_files_directories_and_links(ctx: FakeContext, outside: Path) -> None:
    assert await Delete().run(ctx, {"path": "example.txt"}) == {"deleted": True}
    assert not (ctx.workdir / "example.txt").exists()

    with pytest.raises(TaskFailed, match="not empty \\(set recursive: true\\)"):
        await Delete().run(ctx, {"path": "example_dir"})
    assert await Delete().run(ctx, {"path": "example_dir", "recursive": True}) == {"deleted": True}
    assert not (ctx.workdir / "example_dir").exists()

    assert await Delete().run(ctx, {"path": "file_link"}) == {"deleted": True}
    assert await Delete().run(ctx, {"path": "dir_link", "recursive": True}) == {"deleted": True}
    assert (outside / "secret.txt").read_text() == SECRET, "a link is deleted, never its target"

    with pytest.raises(TaskFailed, match="No such file or directory"):
        await Delete().run(ctx, {"path": "example.txt"})
    assert await Delete().run(ctx, {"path": "example.txt", "missing_ok": True}) == {"deleted": False}
    with pytest.raises(TaskFailed, match="is the root directory itself"):
        await Delete().run(ctx, {"path": ".", "recursive": True})


async def test_copy_a_file_and_a_tree_keeping_links_as_links(ctx: FakeContext) -> None:
    assert await Copy().run(ctx, {"source": "example.txt", "destination": "backup/example.txt"}) == {
        "path": "backup/example.txt"
    }
    assert (ctx.workdir / "backup" / "example.txt").read_text() == "hello\n"

    (ctx.workdir / "example_dir" / "escape").symlink_to("../../outside/secret.txt")
    assert await Copy().run(ctx, {"source": "example_dir", "destination": "copy_dir"}) == {"path": "copy_dir"}
    assert (ctx.workdir / "copy_dir" / "a.txt").read_text() == "a\n"
    assert (ctx.workdir / "copy_dir" / "escape").is_symlink(), "the outside file's content was not copied in"


async def test_copy_and_move_refuse_an_existing_destination_unless_overwrite(ctx: FakeContext) -> None:
    (ctx.workdir / "other.txt").write_text("other")

    for plugin in (Copy(), Move()):
        with pytest.raises(TaskFailed, match="already exists \\(set overwrite: true"):
            await plugin.run(ctx, {"source": "example.txt", "destination": "other.txt"})
    assert (ctx.workdir / "other.txt").read_text() == "other"

    await Copy().run(ctx, {"source": "example.txt", "destination": "other.txt", "overwrite": True})
    assert (ctx.workdir / "other.txt").read_text() == "hello\n"
    await Copy().run(ctx, {"source": "example_dir", "destination": "other.txt", "overwrite": True})
    assert (ctx.workdir / "other.txt" / "a.txt").exists()


async def test_move_renames_files_directories_and_links(ctx: FakeContext, outside: Path) -> None:
    assert await Move().run(ctx, {"source": "example.txt", "destination": "done/example.txt"}) == {
        "path": "done/example.txt"
    }
    assert not (ctx.workdir / "example.txt").exists()
    assert (ctx.workdir / "done" / "example.txt").read_text() == "hello\n"

    await Move().run(ctx, {"source": "example_dir", "destination": "renamed"})
    assert (ctx.workdir / "renamed" / "a.txt").read_text() == "a\n"

    await Move().run(ctx, {"source": "file_link", "destination": "moved_link"})
    assert (ctx.workdir / "moved_link").is_symlink()
    assert (outside / "secret.txt").read_text() == SECRET

    with pytest.raises(TaskFailed, match="inside the source"):
        await Move().run(ctx, {"source": "renamed", "destination": "renamed/inner"})


async def test_stat_describes_what_is_there(ctx: FakeContext) -> None:
    (ctx.workdir / "example.txt").chmod(0o640)

    file = await Stat().run(ctx, {"path": "example.txt"})
    assert {k: file[k] for k in ("exists", "type", "size", "mode")} == {
        "exists": True,
        "type": "file",
        "size": 6,
        "mode": "0640",
    }
    assert (await Stat().run(ctx, {"path": "example_dir"}))["type"] == "directory"
    assert (await Stat().run(ctx, {"path": "file_link"}))["type"] == "symlink"
    assert await Stat().run(ctx, {"path": "missing.txt"}) == {
        "exists": False,
        "type": None,
        "size": None,
        "modified": None,
        "mode": None,
    }


# Confinement -------------------------------------------------------------------------------

ESCAPES = {
    "dotdot": "../outside/secret.txt",
    "absolute": "{outside}/secret.txt",
    "through a linked directory": "dir_link/secret.txt",
}

OPERATIONS: dict[str, Callable[[str], tuple[Plugin, dict[str, Any]]]] = {
    "read": lambda p: (Read(), {"path": p}),
    "write": lambda p: (Write(), {"path": p, "content": "pwned"}),
    "append": lambda p: (Append(), {"path": p, "content": "pwned"}),
    "delete": lambda p: (Delete(), {"path": p, "recursive": True}),
    "stat": lambda p: (Stat(), {"path": p}),
    "copy from": lambda p: (Copy(), {"source": p, "destination": "stolen.txt"}),
    "copy to": lambda p: (Copy(), {"source": "example.txt", "destination": p, "overwrite": True}),
    "move from": lambda p: (Move(), {"source": p, "destination": "stolen.txt"}),
    "move to": lambda p: (Move(), {"source": "example.txt", "destination": p, "overwrite": True}),
}


@pytest.mark.parametrize("escape", list(ESCAPES.values()), ids=list(ESCAPES))
@pytest.mark.parametrize("operation", list(OPERATIONS), ids=list(OPERATIONS))
async def test_no_operation_reaches_outside_the_root(
    ctx: FakeContext, outside: Path, escape: str, operation: str
) -> None:
    plugin, properties = OPERATIONS[operation](escape.format(outside=outside))

    with pytest.raises(TaskFailed, match="climbs out of the root|is absolute|leads outside"):
        await plugin.run(ctx, properties)

    assert (outside / "secret.txt").read_text() == SECRET
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not (ctx.workdir / "stolen.txt").exists()
    assert (ctx.workdir / "example.txt").read_text() == "hello\n"


@pytest.mark.parametrize("operation", ["read", "write", "append", "copy from", "copy to"])
async def test_a_file_symlink_pointing_outside_is_not_followed(ctx: FakeContext, outside: Path, operation: str) -> None:
    plugin, properties = OPERATIONS[operation]("file_link")
    if operation == "copy to":
        properties["overwrite"] = False

    with pytest.raises(TaskFailed, match="leads outside|already exists"):
        await plugin.run(ctx, properties)

    assert (outside / "secret.txt").read_text() == SECRET


async def test_list_refuses_a_linked_directory_outside(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed, match="leads outside"):
        await List().run(ctx, {"path": "dir_link"})
    with pytest.raises(TaskFailed, match="climbs out of the root"):
        await List().run(ctx, {"path": ".."})


async def test_dotdot_that_stays_inside_is_fine(ctx: FakeContext) -> None:
    assert await Read().run(ctx, {"path": "example_dir/../example.txt"}) == {"content": "hello\n", "size": 6}


async def test_a_symlink_inside_the_root_is_followed(ctx: FakeContext) -> None:
    (ctx.workdir / "alias.txt").symlink_to("example_dir/a.txt")

    assert (await Read().run(ctx, {"path": "alias.txt"}))["content"] == "a\n"
    assert await Write().run(ctx, {"path": "alias.txt", "content": "via alias"}) == {
        "path": "example_dir/a.txt",
        "size": 9,
    }


async def test_a_symlink_planted_after_the_check_is_refused(ctx: FakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulates the race: the check saw a plain path, but a link is there when the file opens."""
    checked = Confined.resolve

    def resolve_then_swap(self: Confined, raw: str, **kwargs: Any) -> Path:
        path = checked(self, raw, **kwargs)
        path.unlink(missing_ok=True)
        path.symlink_to(ctx.workdir.parent / "outside" / "secret.txt")
        return path

    monkeypatch.setattr(Confined, "resolve", resolve_then_swap)

    for plugin, properties in [(Write(), {"path": "new.txt", "content": "pwned"}), (Read(), {"path": "example.txt"})]:
        with pytest.raises(TaskFailed, match="is a symbolic link"):
            await plugin.run(ctx, properties)
    assert (ctx.workdir.parent / "outside" / "secret.txt").read_text() == SECRET


async def test_files_root_replaces_the_workdir(ctx: FakeContext, tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    ctx.settings = PluginSettings(files_root=root)

    assert await Write().run(ctx, {"path": "out.txt", "content": "shared"}) == {"path": "out.txt", "size": 6}
    assert (root / "out.txt").read_text() == "shared"
    assert not (ctx.workdir / "out.txt").exists()
    with pytest.raises(TaskFailed, match="'example.txt': No such file"):
        await Read().run(ctx, {"path": "example.txt"})
    with pytest.raises(TaskFailed, match="climbs out of the root"):
        await Read().run(ctx, {"path": "../work/example.txt"})

    ctx.settings = PluginSettings(files_root=tmp_path / "missing")
    with pytest.raises(TaskFailed, match="files_root .* is not an existing directory"):
        await Write().run(ctx, {"path": "out.txt", "content": "x"})


FILE_FLOW = """
name: file-round-trip
tasks:
  - name: save
    type: file.write
    properties:
      path: data/greeting.txt
      content: "hello from {{ execution.id }}"
  - name: add
    type: file.append
    properties:
      path: data/greeting.txt
      content: "!"
  - name: look
    type: file.list
    properties:
      path: data
  - name: load
    type: file.read
    properties:
      path: "{{ outputs.save.path }}"
"""


async def test_a_flow_works_with_files_under_the_configured_root(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    root = tmp_path / "files"
    root.mkdir()
    runtime = Runtime(make_settings(files_root=root), registry=registry_with_test_plugins())
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = await run(Api(runtime.base_url, session, runtime), FILE_FLOW)
    finally:
        await runtime.stop()

    assert body["execution"]["status"] == "SUCCESS", body["tasks"]
    tasks = {name: outputs(runs[0]) for name, runs in tasks_by_name(body).items()}
    expected = f"hello from {body['execution']['id']}!"
    assert tasks["load"] == {"content": expected, "size": len(expected)}
    assert [entry["path"] for entry in tasks["look"]["entries"]] == ["data/greeting.txt"]
    assert (root / "data" / "greeting.txt").read_text() == expected
    assert os.listdir(root) == ["data"]
