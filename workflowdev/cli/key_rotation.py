"""Re-encrypting every credential under a new master key (`workflowdev credentials rotate-key`).

The order of steps is what keeps the credentials readable whatever happens: the new key is on
disk (`master.key.new`, mode 0600) before the transaction that re-encrypts every row commits, and
takes the place of `master.key` only after it. Interrupted after the commit, the database needs
the key in `master.key.new`, and a node started with the old key refuses with both key ids.
Run it with the nodes stopped: a node still running keeps the old key and can no longer read
or write credentials until restarted with the new one.
"""

from __future__ import annotations

from pathlib import Path

from workflowdev.config import Settings
from workflowdev.engine.clock import utcnow
from workflowdev.engine.services.credentials import KEY_ENV
from workflowdev.engine.services.credentials import KEY_FILE
from workflowdev.engine.services.credentials import CredentialService
from workflowdev.engine.services.credentials import CredentialUnreadable
from workflowdev.engine.services.credentials import MasterKey
from workflowdev.engine.services.credentials import MasterKeyError
from workflowdev.engine.services.credentials import load_master_key
from workflowdev.engine.services.credentials import read_key_file
from workflowdev.engine.services.credentials import write_key_file
from workflowdev.store.database import Database

PENDING_SUFFIX = ".new"


class RotationIncomplete(Exception):
    """The re-encryption may have committed, or did and a later step failed: the message says
    where the new key is."""


async def rotate_key(settings: Settings, new_key_file: Path | None) -> str:
    """Rotate and return what to tell the operator; nothing changes when it raises (except
    RotationIncomplete, which says where the new key was kept)."""
    current = load_master_key(settings.data_dir, create=False)
    key_path = settings.data_dir / KEY_FILE
    pending = key_path.with_name(KEY_FILE + PENDING_SUFFIX)
    new_key = _read_new_key(new_key_file) if new_key_file is not None else None
    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        service = CredentialService(db, utcnow, current)
        await service.check_key()
        if new_key is None:
            new_key = MasterKey.generate(str(pending))
            _write_pending(pending, new_key)
        kept = new_key_file or pending
        try:
            count = await service.rotate(new_key)
        except (MasterKeyError, CredentialUnreadable):
            if new_key_file is None:
                pending.unlink()
            raise
        except Exception as exc:
            raise RotationIncomplete(
                f"the database failed while re-encrypting ({type(exc).__name__}); if the credentials "
                f"no longer decrypt, they are encrypted with the key kept in {kept}"
            ) from exc
    finally:
        await db.close()
    done = f"re-encrypted {count} credential(s); the new master key id is {new_key.key_id}"
    if current.source == f"${KEY_ENV}":
        return f"{done}\nset ${KEY_ENV} to the key in {kept} for every node, then delete that file"
    try:
        write_key_file(key_path, new_key, replace=True)
    except OSError as exc:
        raise RotationIncomplete(
            f"{done}, but {key_path} could not be replaced ({exc.strerror}): put the key in {kept} there"
        ) from None
    pending.unlink(missing_ok=True)
    return f"{done}\n{key_path} now holds it; restart every node that shares this database"


def _read_new_key(path: Path) -> MasterKey:
    try:
        return read_key_file(path)
    except FileNotFoundError:
        raise MasterKeyError(f"the new key file {path} does not exist") from None


def _write_pending(path: Path, key: MasterKey) -> None:
    try:
        write_key_file(path, key)
    except FileExistsError:
        raise MasterKeyError(
            f"{path} exists: an earlier rotation was interrupted. If nodes refuse to start with a "
            f"key mismatch, the credentials are encrypted with that key: move it to {path.with_suffix('')}. "
            "Otherwise delete it, and run this again."
        ) from None
