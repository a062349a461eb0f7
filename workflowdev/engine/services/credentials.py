"""Credentials: AES-256-GCM under one master key, and the rules of keeping them.

What an operator can rely on:
- Every encryption draws a fresh random 96-bit nonce, and the credential's name is the
  associated data: a ciphertext copied onto another row does not decrypt. Each row records the
  id of the key that encrypted it (the first 16 hex digits of the key's SHA-256, which says
  nothing usable about the key), so a wrong key is told apart from a damaged value.
- The master key is `WORKFLOWDEV_MASTER_KEY` (32 bytes, as 64 hex digits or as base64), else
  `<data dir>/master.key`, created with mode 0600 on first start; a key file that group or others
  may read is refused. The variable is deleted from this process's environment as soon as it is
  read, so scripts and every other child process start without it. (The kernel's copy of the
  environment this process was started with, `/proc/<pid>/environ`, is readable only by the same
  user.) Nodes sharing a database need the same key: give them all the variable, or one file.
- Plaintext leaves this module only through `resolve`, for the task that runs; audit entries
  carry names, never values; no message carries a value or a key.
- A node whose key does not match the rows refuses to start (`check_key`) and refuses to write
  a credential (so keys never mix); rotation re-encrypts every row in one transaction, so a
  failure leaves all of them as they were.
- The same key seals what the engine itself must keep of a secret (`seal`/`unseal`: the real
  inputs of a subflow started with its parent's credentials); rotation re-seals those too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import uuid
from collections.abc import MutableMapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.clock import Clock
from workflowdev.engine.errors import Conflict
from workflowdev.engine.errors import Invalid
from workflowdev.engine.errors import Unavailable
from workflowdev.engine.errors import must_exist
from workflowdev.engine.language.expressions import SafeResolverError
from workflowdev.engine.sealed_inputs import sealed_inputs_label
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import SYSTEM
from workflowdev.engine.services.actor import Actor
from workflowdev.store import credentials as store
from workflowdev.store import executions as executions_store
from workflowdev.store.database import Database

log = logging.getLogger(__name__)

KEY_ENV = "WORKFLOWDEV_MASTER_KEY"
KEY_FILE = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12
NAME_PATTERN = re.compile(r"[A-Z][A-Z0-9_]*")
MAX_NAME_LENGTH = 128
MAX_VALUE_BYTES = 64 * 1024
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


class MasterKeyError(Exception):
    """The master key cannot be loaded or does not fit the database: the process must not start."""


class CredentialUnreadable(SafeResolverError):
    """A stored value does not decrypt: altered in the database, or encrypted under another key.
    The message names the credential and the key ids, never a value."""


@dataclass(frozen=True)
class MasterKey:
    material: bytes = field(repr=False)
    source: str = field(default="a generated key", compare=False)
    """Where the key came from, for messages: the variable's name or the file's path."""

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes, not {len(self.material)}")

    @classmethod
    def generate(cls, source: str = "a generated key") -> MasterKey:
        return cls(AESGCM.generate_key(bit_length=256), source)

    @classmethod
    def parse(cls, text: str, source: str) -> MasterKey:
        """A key written as 64 hex digits or as base64 (standard or URL-safe alphabet)."""
        raw = text.strip()
        if _HEX_KEY.fullmatch(raw):
            return cls(bytes.fromhex(raw), source)
        try:
            material = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            material = b""
        if len(material) != KEY_BYTES:
            raise MasterKeyError(
                f"{source} must hold a {KEY_BYTES}-byte key written as 64 hex digits or as base64 "
                f"(44 characters, e.g. from `openssl rand -base64 32`); its {len(raw)} characters "
                "are neither"
            )
        return cls(material, source)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.material).hexdigest()[:16]

    def encoded(self) -> str:
        """The key as base64, the form key files hold."""
        return base64.b64encode(self.material).decode("ascii")

    def encrypt(self, name: str, value: str) -> tuple[bytes, bytes]:
        """(nonce, ciphertext) of `value`, bound to the credential `name`."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, AESGCM(self.material).encrypt(nonce, value.encode("utf-8"), name.encode("utf-8"))

    def decrypt(self, name: str, nonce: bytes, ciphertext: bytes) -> str:
        try:
            plain = AESGCM(self.material).decrypt(nonce, ciphertext, name.encode("utf-8"))
        except (InvalidTag, ValueError):
            raise CredentialUnreadable(
                f"credential {name} does not decrypt with master key {self.key_id}: its stored value "
                "was altered, or moved from another credential"
            ) from None
        return plain.decode("utf-8")


# -- the key's home ------------------------------------------------------------------------------


def load_master_key(
    data_dir: Path, env: MutableMapping[str, str] | None = None, *, create: bool = True
) -> MasterKey:
    """The master key from `$WORKFLOWDEV_MASTER_KEY` (then deleted from `env`) or the key file.

    Without either, a new key file is made when `create`; several processes starting at once
    agree on one file.
    """
    env = os.environ if env is None else env
    if KEY_ENV in env:
        return MasterKey.parse(env.pop(KEY_ENV), f"${KEY_ENV}")
    path = data_dir / KEY_FILE
    try:
        return read_key_file(path)
    except FileNotFoundError:
        if not create:
            raise MasterKeyError(f"no master key: set ${KEY_ENV}, or put the key in {path}") from None
    key = MasterKey.generate(str(path))
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        write_key_file(path, key)
    except FileExistsError:
        return read_key_file(path)
    log.warning("created a new master key %s in %s: back it up, no credential can be read without it",
                key.key_id, path)
    return key


def read_key_file(path: Path) -> MasterKey:
    """The key in `path`; FileNotFoundError when there is none, MasterKeyError when it is unfit."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise MasterKeyError(f"cannot read the key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if mode & 0o077:
            raise MasterKeyError(
                f"the key file {path} may be read by group or others (mode {mode & 0o777:04o}); "
                f"make it private with `chmod 600 {path}`"
            )
        try:
            text = file.read(4096).decode("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
            raise MasterKeyError(f"cannot read the key file {path}: {reason}") from None
    return MasterKey.parse(text, str(path))


def write_key_file(path: Path, key: MasterKey, *, replace: bool = False) -> None:
    """Write the key with mode 0600, whole or not at all: through a private temporary file, then
    linked into place (FileExistsError when `path` exists) or, with `replace`, renamed over it."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(key.encoded() + "\n")
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# -- the rules -----------------------------------------------------------------------------------


def check_name(name: str) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid(
            f"credential name is longer than {MAX_NAME_LENGTH} characters",
            [{"path": "name", "message": f"at most {MAX_NAME_LENGTH} characters"}],
        )
    if not NAME_PATTERN.fullmatch(name):
        raise Invalid(
            f"credential name {name!r} must match ^[A-Z][A-Z0-9_]*$ (capitals, digits, underscores)",
            [{"path": "name", "message": "must match ^[A-Z][A-Z0-9_]*$"}],
        )


def check_value(value: str) -> None:
    """Never echoes the value: its errors say only what is wrong with it."""
    if value == "":
        raise Invalid("value must not be empty", [{"path": "value", "message": "must not be empty"}])
    _check_unicode(value, "value")
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise Invalid(
            f"value is larger than {MAX_VALUE_BYTES} bytes",
            [{"path": "value", "message": f"at most {MAX_VALUE_BYTES} bytes"}],
        )


def _check_unicode(text: str, path: str) -> None:
    """JSON may carry lone surrogates (`\\ud800`), which no database or cipher can take as text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{path} is not valid Unicode text", [{"path": path, "message": "not valid Unicode"}]) from None


class CredentialService:
    def __init__(self, db: Database, clock: Clock, key: MasterKey) -> None:
        self.db = db
        self.clock = clock
        self.key = key

    async def list(self, *, limit: int, offset: int) -> tuple[Sequence[Row[Any]], int]:
        async with self.db.read() as conn:
            return await store.list_credentials(conn, limit=limit, offset=offset)

    async def get(self, credential_id: str) -> Row[Any]:
        async with self.db.read() as conn:
            return await _existing(conn, credential_id)

    async def create(self, *, name: str, value: str, description: str | None, actor: Actor) -> Row[Any]:
        check_name(name)
        check_value(value)
        if description is not None:
            _check_unicode(description, "description")
        nonce, ciphertext = self.key.encrypt(name, value)
        credential_id = str(uuid.uuid4())
        now = self.clock()
        try:
            async with self.db.write() as conn:
                await store.insert_credential(
                    conn,
                    id=credential_id,
                    name=name,
                    description=description,
                    nonce=nonce,
                    ciphertext=ciphertext,
                    key_id=self.key.key_id,
                    created_at=now,
                    updated_at=now,
                )
                await self._refuse_mixed_keys(conn)
                await self._audit(conn, actor, "credential.create", credential_id, {"name": name})
                return await _existing(conn, credential_id)
        except IntegrityError:
            raise Conflict(f"a credential named {name} already exists") from None

    async def update(
        self,
        credential_id: str,
        *,
        value: str | None,
        description: str | None,
        name: str | None,
        actor: Actor,
    ) -> Row[Any]:
        """Replace the value and/or the description; the name is fixed, being the AAD and what
        flows refer to."""
        if value is not None:
            check_value(value)
        if description is not None:
            _check_unicode(description, "description")
        async with self.db.write() as conn:
            row = await _existing(conn, credential_id)
            if name is not None and name != row.name:
                raise Invalid(
                    f"a credential's name cannot change (this one is {row.name}); create a new one instead",
                    [{"path": "name", "message": "cannot change"}],
                )
            if value is None and description is None:
                raise Invalid("nothing to change: send value and/or description")
            values: dict[str, Any] = {"updated_at": self.clock()}
            if value is not None:
                values["nonce"], values["ciphertext"] = self.key.encrypt(row.name, value)
                values["key_id"] = self.key.key_id
            if description is not None:
                values["description"] = description
            await store.update_credential(conn, credential_id, **values)
            if value is not None:
                await self._refuse_mixed_keys(conn)
            changed = [f for f, given in (("value", value), ("description", description)) if given is not None]
            await self._audit(conn, actor, "credential.update", credential_id, {"name": row.name, "changed": changed})
            return await _existing(conn, credential_id)

    async def delete(self, credential_id: str, *, actor: Actor) -> None:
        async with self.db.write() as conn:
            row = await _existing(conn, credential_id)
            await store.delete_credential(conn, credential_id)
            await self._audit(conn, actor, "credential.delete", credential_id, {"name": row.name})

    async def resolve(self, name: str) -> str | None:
        """The plaintext for a task about to run (the engine's CredentialLookup); None if unknown.

        The expression layer reports a failure by its type only, so the reason is logged here.
        """
        async with self.db.read() as conn:
            row = await store.by_name(conn, name)
        if row is None:
            return None
        try:
            return self._decrypt(row, self.key)
        except CredentialUnreadable as exc:
            log.error("%s", exc)
            raise

    async def check_key(self) -> None:
        """Refuse a key that did not encrypt the stored rows, before anything is written with it."""
        async with self.db.read() as conn:
            others = await store.key_ids(conn) - {self.key.key_id}
        if others:
            raise MasterKeyError(
                f"the credentials in this database are encrypted with master key {', '.join(sorted(others))}, "
                f"but the key from {self.key.source} is {self.key.key_id}; start with the key they were "
                "encrypted with (nothing was changed)"
            )

    def seal(self, label: str, plaintext: str) -> str:
        """`plaintext` encrypted under the current key and bound to `label` (what it belongs
        to), as one line of text: `<key id>:<nonce>:<ciphertext>`, base64."""
        return _seal(self.key, label, plaintext)

    def unseal(self, label: str, sealed: str) -> str:
        """What `seal` sealed under `label`; CredentialUnreadable when it was altered, moved
        to another label, or sealed under another key."""
        key_id, _, rest = sealed.partition(":")
        if key_id != self.key.key_id:
            raise CredentialUnreadable(f"{label} is sealed with master key {key_id}, but this node has key {self.key.key_id}")
        try:
            nonce, ciphertext = (base64.b64decode(part, validate=True) for part in rest.split(":", 1))
            return AESGCM(self.key.material).decrypt(nonce, ciphertext, label.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            raise CredentialUnreadable(f"{label} does not decrypt with master key {self.key.key_id}: it was altered") from None

    async def rotate(self, new_key: MasterKey, *, actor: Actor = SYSTEM) -> int:
        """Re-encrypt every credential (and re-seal every sealed value) under `new_key` in one
        transaction; returns how many credentials.

        Afterwards this service uses the new key. Any row that does not decrypt aborts the whole
        rotation, leaving every row as it was.
        """
        if new_key.key_id == self.key.key_id:
            raise MasterKeyError(f"the new master key is the current one ({new_key.key_id})")
        async with self.db.write() as conn:
            rows = await store.lock_all(conn)
            for row in rows:
                nonce, ciphertext = new_key.encrypt(row.name, self._decrypt(row, self.key))
                await store.update_credential(conn, row.id, nonce=nonce, ciphertext=ciphertext, key_id=new_key.key_id)
            for execution_id, sealed in await executions_store.sealed_inputs(conn):
                label = sealed_inputs_label(execution_id)
                resealed = _seal(new_key, label, self.unseal(label, sealed))
                await executions_store.set_sealed_inputs(conn, execution_id, resealed)
            await self._audit(
                conn,
                actor,
                "credential.rotate_key",
                None,
                {"fromKeyId": self.key.key_id, "toKeyId": new_key.key_id, "count": len(rows)},
            )
        self.key = new_key
        return len(rows)

    @staticmethod
    def _decrypt(row: Any, key: MasterKey) -> str:
        if row.key_id != key.key_id:
            raise CredentialUnreadable(
                f"credential {row.name} is encrypted with master key {row.key_id}, "
                f"but this node has key {key.key_id}"
            )
        return key.decrypt(row.name, row.nonce, row.ciphertext)

    async def _refuse_mixed_keys(self, conn: AsyncConnection) -> None:
        """Run after the write: once it went through, any rotation that ran first is visible."""
        others = await store.key_ids(conn) - {self.key.key_id}
        if others:
            raise Unavailable(
                f"the credentials are encrypted with master key {', '.join(sorted(others))}, but this "
                f"node has key {self.key.key_id}: restart it with the current key"
            )

    async def _audit(
        self, conn: AsyncConnection, actor: Actor, action: str, resource_id: str | None, details: dict[str, Any]
    ) -> None:
        await audit_trail.record(conn, actor, action, "credential", resource_id, details, self.clock())


def _seal(key: MasterKey, label: str, plaintext: str) -> str:
    nonce, ciphertext = key.encrypt(label, plaintext)
    return ":".join((key.key_id, base64.b64encode(nonce).decode("ascii"), base64.b64encode(ciphertext).decode("ascii")))


async def _existing(conn: AsyncConnection, credential_id: str) -> Row[Any]:
    row = await store.get(conn, credential_id)
    return must_exist(row, "credential", credential_id)
