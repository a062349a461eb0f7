"""archive.*: round trips, and hostile archives (zip-slip, absolute names, links out, devices,
bombs) refused before anything is written — inside the destination or anywhere else."""

from __future__ import annotations

import io
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from tests.plugins.test_util import FakeContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins.archive import Tar
from workflowdev.plugins.archive import Untar
from workflowdev.plugins.archive import Unzip
from workflowdev.plugins.archive import Zip
from workflowdev.plugins.archive._common import TAR_MODES

SECRET = "outside the root\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text(SECRET)
    return path


@pytest.fixture
def ctx(tmp_path: Path, outside: Path) -> FakeContext:
    workdir = tmp_path / "work"
    tree = workdir / "project"
    (tree / "src" / "pkg").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "README.md").write_text("# project\n")
    (tree / "src" / "pkg" / "data.bin").write_bytes(bytes(range(256)) * 100)
    (tree / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tree / "run.sh").chmod(0o755)
    return FakeContext(workdir=workdir)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under `root`: file contents, None for directories."""
    return {
        path.relative_to(root).as_posix(): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


def untouched(outside: Path) -> bool:
    return sorted(p.name for p in outside.iterdir()) == ["secret.txt"] and (outside / "secret.txt").read_text() == SECRET


async def test_zip_round_trip(ctx: FakeContext) -> None:
    packed = await Zip().run(ctx, {"source": "project", "destination": "out/project.zip"})

    archive = ctx.workdir / "out" / "project.zip"
    assert packed == {"path": "out/project.zip", "files": 3, "size": archive.stat().st_size}
    assert "project/src/pkg/data.bin" in zipfile.ZipFile(archive).namelist()

    unpacked = await Unzip().run(ctx, {"path": "out/project.zip", "destination": "restored"})

    assert unpacked == {"path": "restored", "files": 3, "size": 10 + 25_600 + 18}
    assert snapshot(ctx.workdir / "restored" / "project") == snapshot(ctx.workdir / "project")
    assert (ctx.workdir / "restored" / "project" / "run.sh").stat().st_mode & 0o111
    assert not (ctx.workdir / "restored" / "project" / "README.md").stat().st_mode & 0o111


@pytest.mark.parametrize("compression", list(TAR_MODES))
async def test_tar_round_trip(ctx: FakeContext, compression: str) -> None:
    packed = await Tar().run(ctx, {"source": "project", "destination": "p.tar", "compression": compression})

    assert packed["files"] == 3 and packed["path"] == "p.tar"
    expected = {"none": "r:", "gz": "r:gz", "bz2": "r:bz2", "xz": "r:xz"}[compression]
    with tarfile.open(ctx.workdir / "p.tar", expected) as archive:
        assert "project/src/pkg/data.bin" in archive.getnames()

    unpacked = await Untar().run(ctx, {"path": "p.tar", "destination": "restored"})

    assert unpacked == {"path": "restored", "files": 3, "size": 10 + 25_600 + 18}
    assert snapshot(ctx.workdir / "restored" / "project") == snapshot(ctx.workdir / "project")
    assert (ctx.workdir / "restored" / "project" / "run.sh").stat().st_mode & 0o111


async def test_packing_a_single_file_and_the_root_itself(ctx: FakeContext) -> None:
    await Zip().run(ctx, {"source": "project/README.md", "destination": "readme.zip"})
    assert zipfile.ZipFile(ctx.workdir / "readme.zip").namelist() == ["README.md"]

    await Tar().run(ctx, {"source": ".", "destination": "all.tar.gz"})
    with tarfile.open(ctx.workdir / "all.tar.gz") as archive:
        names = archive.getnames()
    assert "project/README.md" in names and "readme.zip" in names
    assert not any(name.startswith("all.tar.gz") or ".part" in name for name in names)


async def test_packing_skips_symlinks_so_nothing_outside_gets_in(ctx: FakeContext, outside: Path) -> None:
    (ctx.workdir / "project" / "secret_link").symlink_to(outside / "secret.txt")
    (ctx.workdir / "project" / "outside_dir").symlink_to(outside)

    packed = await Zip().run(ctx, {"source": "project", "destination": "p.zip"})
    await Tar().run(ctx, {"source": "project", "destination": "p.tgz"})

    assert packed["files"] == 3
    zipped = zipfile.ZipFile(ctx.workdir / "p.zip").namelist()
    with tarfile.open(ctx.workdir / "p.tgz") as archive:
        tarred = archive.getnames()
    for names in (zipped, tarred):
        assert not any("secret" in name or "outside" in name for name in names)
    assert any(level == "warning" and "skipped 2 symlinks" in message for level, message in ctx.log.lines)


async def test_an_existing_archive_is_replaced_only_with_overwrite(ctx: FakeContext) -> None:
    (ctx.workdir / "p.zip").write_text("keep me")

    with pytest.raises(TaskFailed, match="already exists \\(set overwrite: true"):
        await Zip().run(ctx, {"source": "project", "destination": "p.zip"})
    assert (ctx.workdir / "p.zip").read_text() == "keep me"

    await Zip().run(ctx, {"source": "project", "destination": "p.zip", "overwrite": True})
    assert zipfile.is_zipfile(ctx.workdir / "p.zip")


async def test_archive_paths_are_confined(ctx: FakeContext, outside: Path) -> None:
    for plugin, properties in [
        (Zip(), {"source": "../outside", "destination": "stolen.zip"}),
        (Zip(), {"source": "project", "destination": f"{outside}/dropped.zip"}),
        (Tar(), {"source": "project", "destination": "../outside/dropped.tar"}),
        (Unzip(), {"path": "../outside/secret.txt"}),
        (Untar(), {"path": "p.tar", "destination": str(outside)}),
    ]:
        with pytest.raises(TaskFailed, match="climbs out of the root|is absolute"):
            await plugin.run(ctx, properties)
    assert untouched(outside)
    assert not (ctx.workdir / "stolen.zip").exists()


# Hostile archives --------------------------------------------------------------------------


def write_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are written on purpose
        for name, data in members:
            archive.writestr(name, data)


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = linkname
    return info, data


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)


HOSTILE_ZIPS = {
    "zip-slip": [("ok.txt", b"fine"), ("../evil.txt", b"pwned")],
    "deep zip-slip": [("ok.txt", b"fine"), ("a/b/../../../evil.txt", b"pwned")],
    "absolute name": [("ok.txt", b"fine"), ("/tmp/evil.txt", b"pwned")],
    "backslash slip": [("ok.txt", b"fine"), ("..\\evil.txt", b"pwned")],
    "symlink out": [("ok.txt", b"fine"), zip_symlink("link", "../../outside")],
    "absolute symlink": [("ok.txt", b"fine"), zip_symlink("link", "/etc")],
    "duplicate": [("ok.txt", b"fine"), ("ok.txt", b"again")],
}


async def test_a_symlink_chain_climbing_out_through_a_link_is_undone(ctx: FakeContext, outside: Path) -> None:
    """Each link looks inside on its own (`here -> .`, `up -> here/..`), but `up` lands above."""
    write_zip(
        ctx.workdir / "chain.zip",
        [("ok.txt", b"fine"), zip_symlink("here", "."), zip_symlink("up", "here/.."), ("up/outside/evil.txt", b"x")],
    )

    with pytest.raises(TaskFailed, match="refusing symlink 'up': it resolves outside the destination"):
        await Unzip().run(ctx, {"path": "chain.zip", "destination": "unpacked"})

    assert not (ctx.workdir / "unpacked").exists()
    assert untouched(outside)


@pytest.mark.parametrize("members", list(HOSTILE_ZIPS.values()), ids=list(HOSTILE_ZIPS))
async def test_hostile_zips_are_refused_and_nothing_is_written(
    ctx: FakeContext, outside: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]
) -> None:
    write_zip(ctx.workdir / "hostile.zip", members)
    before = snapshot(ctx.workdir.parent)

    with pytest.raises(TaskFailed, match="^refusing the archive, nothing was extracted: "):
        await Unzip().run(ctx, {"path": "hostile.zip", "destination": "unpacked"})

    assert snapshot(ctx.workdir.parent) == before
    assert not (ctx.workdir / "unpacked").exists()
    assert untouched(outside)


HOSTILE_TARS = {
    "zip-slip": [tar_member("ok.txt", data=b"fine"), tar_member("../evil.txt", data=b"pwned")],
    "absolute name": [tar_member("ok.txt", data=b"fine"), tar_member("/tmp/evil.txt", data=b"pwned")],
    "symlink out": [tar_member("link", tarfile.SYMTYPE, linkname="../../outside")],
    "absolute symlink": [tar_member("link", tarfile.SYMTYPE, linkname="/etc/passwd")],
    "hard link out": [tar_member("hard", tarfile.LNKTYPE, linkname="../outside/secret.txt")],
    "hard link to nothing before it": [tar_member("hard", tarfile.LNKTYPE, linkname="later.txt")],
    "device": [tar_member("null", tarfile.CHRTYPE)],
    "fifo": [tar_member("pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("members", list(HOSTILE_TARS.values()), ids=list(HOSTILE_TARS))
async def test_hostile_tars_are_refused_and_nothing_is_written(
    ctx: FakeContext, outside: Path, members: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    write_tar(ctx.workdir / "hostile.tar.gz", members)
    before = snapshot(ctx.workdir.parent)

    with pytest.raises(TaskFailed, match="^refusing the archive, nothing was extracted: "):
        await Untar().run(ctx, {"path": "hostile.tar.gz", "destination": "unpacked"})

    assert snapshot(ctx.workdir.parent) == before
    assert untouched(outside)


async def test_links_that_stay_inside_are_extracted(ctx: FakeContext) -> None:
    write_zip(ctx.workdir / "links.zip", [("dir/a.txt", b"a"), zip_symlink("dir/alias", "a.txt"), zip_symlink("top", "dir")])
    write_tar(
        ctx.workdir / "links.tgz",
        [tar_member("dir/a.txt", data=b"a"), tar_member("dir/hard", tarfile.LNKTYPE, linkname="dir/a.txt")],
    )

    assert (await Unzip().run(ctx, {"path": "links.zip", "destination": "z"}))["files"] == 3
    assert (await Untar().run(ctx, {"path": "links.tgz", "destination": "t"}))["files"] == 2

    assert (ctx.workdir / "z" / "dir" / "alias").is_symlink()
    assert (ctx.workdir / "z" / "top" / "alias").read_text() == "a"
    assert (ctx.workdir / "t" / "dir" / "hard").read_text() == "a"


async def test_a_link_already_in_the_destination_cannot_be_written_through(ctx: FakeContext, outside: Path) -> None:
    (ctx.workdir / "unpacked").mkdir()
    (ctx.workdir / "unpacked" / "planted").symlink_to(outside)
    write_zip(ctx.workdir / "innocent.zip", [("planted/evil.txt", b"pwned")])

    with pytest.raises(TaskFailed, match="leads outside the destination"):
        await Unzip().run(ctx, {"path": "innocent.zip", "destination": "unpacked", "overwrite": True})

    assert untouched(outside)


async def test_a_zip_bomb_over_the_size_cap_is_refused(ctx: FakeContext) -> None:
    write_zip(ctx.workdir / "bomb.zip", [("zeros.bin", bytes(20 * 1024 * 1024))])
    assert (ctx.workdir / "bomb.zip").stat().st_size < 100_000

    with pytest.raises(TaskFailed, match="more than max_size \\(1048576 bytes\\)"):
        await Unzip().run(ctx, {"path": "bomb.zip", "destination": "unpacked", "max_size": 1024 * 1024})

    assert not (ctx.workdir / "unpacked").exists()


async def test_an_archive_lying_about_its_sizes_is_stopped_and_undone(ctx: FakeContext) -> None:
    """A member that declares 1 000 bytes but inflates to 2 MiB: nothing it wrote may remain."""
    write_zip(ctx.workdir / "liar.zip", [("first.txt", b"written first"), ("zeros.bin", bytes(2 * 1024 * 1024))])
    data = bytearray((ctx.workdir / "liar.zip").read_bytes())
    real_size = (2 * 1024 * 1024).to_bytes(4, "little")
    assert data.count(real_size) == 2, "the size field appears once in the local and once in the central header"
    (ctx.workdir / "liar.zip").write_bytes(bytes(data).replace(real_size, (1000).to_bytes(4, "little")))

    with pytest.raises(TaskFailed, match="not a readable zip archive: Bad CRC-32 for file 'zeros.bin'"):
        await Unzip().run(ctx, {"path": "liar.zip", "destination": "unpacked"})

    assert not (ctx.workdir / "unpacked").exists()


async def test_too_many_members_are_refused(ctx: FakeContext) -> None:
    write_zip(ctx.workdir / "many.zip", [(f"f{i}.txt", b"x") for i in range(5)])
    write_tar(ctx.workdir / "many.tgz", [tar_member(f"f{i}.txt", data=b"x") for i in range(5)])

    with pytest.raises(TaskFailed, match="more than max_files \\(4\\)"):
        await Unzip().run(ctx, {"path": "many.zip", "max_files": 4})
    with pytest.raises(TaskFailed, match="more than max_files \\(4\\)"):
        await Untar().run(ctx, {"path": "many.tgz", "max_files": 4})
    assert (await Unzip().run(ctx, {"path": "many.zip", "destination": "ok", "max_files": 5}))["files"] == 5


async def test_tar_size_cap_counts_declared_sizes(ctx: FakeContext) -> None:
    write_tar(ctx.workdir / "big.tgz", [tar_member("a.bin", data=bytes(600)), tar_member("b.bin", data=bytes(600))])

    with pytest.raises(TaskFailed, match="more than max_size \\(1000 bytes\\)"):
        await Untar().run(ctx, {"path": "big.tgz", "destination": "unpacked", "max_size": 1000})
    assert not (ctx.workdir / "unpacked").exists()


async def test_existing_files_are_kept_unless_overwrite(ctx: FakeContext) -> None:
    write_zip(ctx.workdir / "update.zip", [("config.txt", b"new")])
    (ctx.workdir / "config.txt").write_text("old")

    with pytest.raises(TaskFailed, match="'config.txt' already exists in the destination"):
        await Unzip().run(ctx, {"path": "update.zip"})
    assert (ctx.workdir / "config.txt").read_text() == "old"

    assert await Unzip().run(ctx, {"path": "update.zip", "overwrite": True}) == {"path": ".", "files": 1, "size": 3}
    assert (ctx.workdir / "config.txt").read_text() == "new"


async def test_not_an_archive(ctx: FakeContext) -> None:
    (ctx.workdir / "fake.zip").write_text("not a zip")

    with pytest.raises(TaskFailed, match="not a readable zip archive"):
        await Unzip().run(ctx, {"path": "fake.zip"})
    with pytest.raises(TaskFailed, match="not a readable tar archive"):
        await Untar().run(ctx, {"path": "fake.zip"})


ARCHIVE_FLOW = """
name: ship-reports
tasks:
  - name: report
    type: file.write
    properties:
      path: reports/daily.csv
      content: "day,orders\\nmon,42\\n"
  - name: pack
    type: archive.tar
    properties:
      source: reports
      destination: out/reports.tar.gz
  - name: unpack
    type: archive.untar
    properties:
      path: "{{ outputs.pack.path }}"
      destination: check
  - name: verify
    type: file.read
    properties:
      path: check/reports/daily.csv
"""


async def test_a_flow_packs_and_unpacks_in_its_workdir(api: Api) -> None:
    body = await run(api, ARCHIVE_FLOW)

    assert body["execution"]["status"] == "SUCCESS", body["tasks"]
    tasks = {name: outputs(runs[0]) for name, runs in tasks_by_name(body).items()}
    assert tasks["pack"]["path"] == "out/reports.tar.gz" and tasks["pack"]["files"] == 1
    assert tasks["unpack"] == {"path": "check", "files": 1, "size": 18}
    assert tasks["verify"]["content"] == "day,orders\nmon,42\n"
