"""The credential crypto and its keys: nonces, associated data, tampering, wrong keys, rotation,
the key file and the environment variable, and `workflowdev credentials rotate-key`."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy import update

from workflowdev.cli.main import main
from workflowdev.engine.clock import utcnow
from workflowdev.engine.errors import Unavailable
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.credentials import KEY_ENV
from workflowdev.engine.services.credentials import CredentialService
from workflowdev.engine.services.credentials import CredentialUnreadable
from workflowdev.engine.services.credentials import MasterKey
from workflowdev.engine.services.credentials import MasterKeyError
from workflowdev.engine.services.credentials import load_master_key
from workflowdev.store.database import Database
from workflowdev.store.models import AuditEntry
from workflowdev.store.models import Credential

SECRET = "s3cr3t-value-never-shown"
ALICE = Actor("alice", "127.0.0.1")
credentials = Credential.__table__


async def _rows(db: Database) -> dict[str, dict]:
    async with db.read() as conn:
        return {r.name: dict(r._mapping) for r in (await conn.execute(select(credentials))).all()}


async def _set_row(db: Database, name: str, **values: object) -> None:
    async with db.write() as conn:
        await conn.execute(update(credentials).where(credentials.c.name == name).values(**values))


def test_every_encryption_draws_a_fresh_nonce() -> None:
    key = MasterKey.generate()
    first, second = key.encrypt("TOKEN", SECRET), key.encrypt("TOKEN", SECRET)
    assert len(first[0]) == 12 and first[0] != second[0]
    assert first[1] != second[1]
    assert SECRET.encode() not in first[1]
    assert key.decrypt("TOKEN", *first) == key.decrypt("TOKEN", *second) == SECRET


def test_the_key_never_shows_in_its_repr() -> None:
    key = MasterKey.generate()
    assert key.encoded() not in repr(key) and key.material.hex() not in repr(key)
    assert len(key.key_id) == 16


async def test_a_ciphertext_moved_to_another_name_does_not_decrypt(db: Database) -> None:
    service = CredentialService(db, utcnow, MasterKey.generate())
    await service.create(name="FIRST", value=SECRET, description=None, actor=ALICE)
    await service.create(name="SECOND", value="another-secret", description=None, actor=ALICE)
    first = (await _rows(db))["FIRST"]
    await _set_row(db, "SECOND", nonce=first["nonce"], ciphertext=first["ciphertext"])
    with pytest.raises(CredentialUnreadable, match="credential SECOND does not decrypt") as caught:
        await service.resolve("SECOND")
    assert SECRET not in str(caught.value)
    assert await service.resolve("FIRST") == SECRET


async def test_a_tampered_ciphertext_fails_loudly_and_names_the_credential(db: Database) -> None:
    service = CredentialService(db, utcnow, MasterKey.generate())
    await service.create(name="TOKEN", value=SECRET, description=None, actor=ALICE)
    stored = (await _rows(db))["TOKEN"]["ciphertext"]
    await _set_row(db, "TOKEN", ciphertext=bytes([stored[0] ^ 1]) + stored[1:])
    with pytest.raises(CredentialUnreadable, match="credential TOKEN does not decrypt .* altered"):
        await service.resolve("TOKEN")
    await _set_row(db, "TOKEN", nonce=b"short")
    with pytest.raises(CredentialUnreadable, match="TOKEN"):
        await service.resolve("TOKEN")


async def test_an_unknown_name_resolves_to_none(db: Database) -> None:
    assert await CredentialService(db, utcnow, MasterKey.generate()).resolve("MISSING") is None


async def test_a_wrong_key_is_detected_with_both_key_ids_and_writes_nothing(db: Database) -> None:
    right, wrong = MasterKey.generate(), MasterKey.generate("$WORKFLOWDEV_MASTER_KEY")
    await CredentialService(db, utcnow, right).create(name="TOKEN", value=SECRET, description=None, actor=ALICE)
    other = CredentialService(db, utcnow, wrong)
    with pytest.raises(MasterKeyError) as caught:
        await other.check_key()
    message = str(caught.value)
    assert right.key_id in message and wrong.key_id in message and "$WORKFLOWDEV_MASTER_KEY" in message
    with pytest.raises(CredentialUnreadable, match=f"encrypted with master key {right.key_id}"):
        await other.resolve("TOKEN")
    with pytest.raises(Unavailable, match="restart it with the current key"):
        await other.create(name="MORE", value="whatever-value", description=None, actor=ALICE)
    assert set(await _rows(db)) == {"TOKEN"}
    await CredentialService(db, utcnow, right).check_key()


async def test_rotation_re_encrypts_every_row_and_the_old_key_no_longer_decrypts(db: Database) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    service = CredentialService(db, utcnow, old)
    values = {"ONE": "first-secret", "TWO": "second-secret", "THREE": SECRET}
    for name, value in values.items():
        await service.create(name=name, value=value, description=None, actor=ALICE)
    before = await _rows(db)

    assert await service.rotate(new) == 3

    after = await _rows(db)
    assert {r["key_id"] for r in after.values()} == {new.key_id}
    assert all(after[n]["ciphertext"] != before[n]["ciphertext"] for n in values)
    assert service.key == new and {n: await service.resolve(n) for n in values} == values
    with pytest.raises(CredentialUnreadable):
        old.decrypt("ONE", after["ONE"]["nonce"], after["ONE"]["ciphertext"])
    with pytest.raises(MasterKeyError):
        await CredentialService(db, utcnow, old).check_key()
    async with db.read() as conn:
        query = select(AuditEntry.__table__).where(AuditEntry.action == "credential.rotate_key")
        entry = (await conn.execute(query)).one()
    assert entry.details == {"fromKeyId": old.key_id, "toKeyId": new.key_id, "count": 3}


async def test_a_rotation_that_meets_a_tampered_row_changes_nothing(db: Database) -> None:
    old = MasterKey.generate()
    service = CredentialService(db, utcnow, old)
    await service.create(name="AAA", value="first-secret", description=None, actor=ALICE)
    await service.create(name="ZZZ", value=SECRET, description=None, actor=ALICE)
    stored = (await _rows(db))["ZZZ"]["ciphertext"]
    await _set_row(db, "ZZZ", ciphertext=stored[:-1] + bytes([stored[-1] ^ 1]))
    before = await _rows(db)
    with pytest.raises(CredentialUnreadable, match="ZZZ"):
        await service.rotate(MasterKey.generate())
    assert await _rows(db) == before
    assert service.key == old and await service.resolve("AAA") == "first-secret"


async def test_audit_entries_name_the_credential_but_never_hold_its_value(db: Database) -> None:
    service = CredentialService(db, utcnow, MasterKey.generate())
    row = await service.create(name="TOKEN", value=SECRET, description="shop", actor=ALICE)
    await service.update(row.id, value=SECRET + "-2", description=None, name=None, actor=ALICE)
    await service.delete(row.id, actor=ALICE)
    async with db.read() as conn:
        entries = (await conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq))).all()
    assert [(e.action, e.resource_id, e.actor, e.details["name"]) for e in entries] == [
        ("credential.create", row.id, "alice", "TOKEN"),
        ("credential.update", row.id, "alice", "TOKEN"),
        ("credential.delete", row.id, "alice", "TOKEN"),
    ]
    assert entries[1].details["changed"] == ["value"]
    assert SECRET not in repr([tuple(e) for e in entries])


# -- where the key lives -------------------------------------------------------------------------


def test_the_key_file_is_created_0600_and_read_back(tmp_path: Path) -> None:
    created = load_master_key(tmp_path, env={})
    path = tmp_path / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(tmp_path, env={}) == created
    assert created.source == str(path)
    assert not [p for p in tmp_path.iterdir() if p.name != "master.key"]


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_master_key(tmp_path, env={})
    path = tmp_path / "master.key"
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match=r"may be read by group or others \(mode 0644\).*chmod 600"):
        load_master_key(tmp_path, env={})


def test_without_create_a_missing_key_is_an_error_and_no_file_appears(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="no master key: set \\$WORKFLOWDEV_MASTER_KEY"):
        load_master_key(tmp_path, env={}, create=False)
    assert not (tmp_path / "master.key").exists()


def test_the_env_key_is_read_as_hex_or_base64_and_removed_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    material = os.urandom(32)
    monkeypatch.setenv(KEY_ENV, base64.b64encode(material).decode())
    assert load_master_key(tmp_path).material == material
    assert KEY_ENV not in os.environ
    monkeypatch.setenv(KEY_ENV, material.hex())
    assert load_master_key(tmp_path).material == material
    assert KEY_ENV not in os.environ
    assert not (tmp_path / "master.key").exists()


def test_a_malformed_env_key_says_which_forms_are_accepted_without_echoing_it(tmp_path: Path) -> None:
    env = {KEY_ENV: "not-a-key-but-a-password"}
    with pytest.raises(MasterKeyError, match="64 hex digits or as base64") as caught:
        load_master_key(tmp_path, env=env)
    assert "not-a-key-but-a-password" not in str(caught.value)
    assert env == {}
    short = {KEY_ENV: base64.b64encode(os.urandom(16)).decode()}
    with pytest.raises(MasterKeyError, match="32-byte key"):
        load_master_key(tmp_path, env=short)


# -- `workflowdev credentials rotate-key` --------------------------------------------------------


async def test_rotate_key_command_re_encrypts_and_replaces_the_key_file(
    db: Database, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    old = load_master_key(data_dir, env={})
    await CredentialService(db, utcnow, old).create(name="TOKEN", value=SECRET, description=None, actor=ALICE)

    assert await _rotate("--db", database_url, "--data-dir", str(data_dir)) == 0

    new = load_master_key(data_dir, env={})
    assert new != old and stat.S_IMODE((data_dir / "master.key").stat().st_mode) == 0o600
    assert f"the new master key id is {new.key_id}" in capsys.readouterr().out
    assert sorted(p.name for p in data_dir.iterdir()) == ["master.key"]
    assert await CredentialService(db, utcnow, new).resolve("TOKEN") == SECRET
    with pytest.raises(MasterKeyError):
        await CredentialService(db, utcnow, old).check_key()


async def test_rotate_key_command_takes_a_given_key_and_refuses_a_wrong_current_one(
    db: Database, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    stored_with = MasterKey.generate()
    await CredentialService(db, utcnow, stored_with).create(name="TOKEN", value=SECRET, description=None, actor=ALICE)
    url = database_url
    given = MasterKey.generate()
    key_file = tmp_path / "given.key"
    key_file.write_text(given.material.hex())
    key_file.chmod(0o600)

    load_master_key(data_dir, env={})  # a key that never encrypted anything here
    assert await _rotate("--db", url, "--data-dir", str(data_dir), "--new-key-file", str(key_file)) == 2
    assert stored_with.key_id in capsys.readouterr().err
    assert (await _rows(db))["TOKEN"]["key_id"] == stored_with.key_id

    (data_dir / "master.key").unlink()
    (data_dir / "master.key").write_text(stored_with.encoded())
    (data_dir / "master.key").chmod(0o600)
    assert await _rotate("--db", url, "--data-dir", str(data_dir), "--new-key-file", str(key_file)) == 0
    assert load_master_key(data_dir, env={}) == given
    assert await CredentialService(db, utcnow, given).resolve("TOKEN") == SECRET


async def _rotate(*argv: str) -> int:
    """`workflowdev credentials rotate-key ARGV` as the command line runs it; in a thread,
    because the command runs its own event loop."""
    return await asyncio.to_thread(main, ["credentials", "rotate-key", *argv])
