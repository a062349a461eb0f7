"""Users, roles, passwords and tokens.

Roles are hierarchical (viewer < executor < editor < admin). Passwords are hashed with scrypt,
off the event loop. Tokens are HS256 JWTs with `exp`, verified with the algorithm pinned; a
token names a user id, and the user's role is read from the database on every request, so a
demoted or deleted user loses rights at once. Failed logins are rate limited per username and
per address (in this process; each node counts its own).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import math
import os
import secrets
import time
import uuid
from collections import defaultdict
from collections import deque
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.errors import Conflict
from workflowdev.engine.errors import DomainError
from workflowdev.engine.errors import Forbidden
from workflowdev.engine.errors import Invalid
from workflowdev.engine.errors import Unauthorized
from workflowdev.engine.errors import must_exist
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.user_roles import ROLES
from workflowdev.store import users as store
from workflowdev.store.database import Database

MIN_SECRET_BYTES = 32
MAX_PASSWORD_BYTES = 1024
MIN_PASSWORD_CHARS = 8
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
_SIGNATURE_ONLY = {"require": ["exp", "sub"], "verify_exp": False, "verify_nbf": False, "verify_iat": False}
"""PyJWT checks the signature and that the claims are there; the claims themselves are checked
by `_claims_problem`, because PyJWT takes `"exp": "1796640000"` (a string) or `true` as a date."""


def _claims_problem(claims: dict[str, Any], now: float) -> str | None:
    """Why a validly signed token must still be refused, or None. RFC 7519: exp, nbf and iat
    are NumericDates (JSON numbers, never strings or booleans); sub is a string."""
    for name in NUMERIC_DATE_CLAIMS:
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"the token is not valid: its {name} claim must be a number of seconds"
    if not isinstance(claims["sub"], str):
        return "the token is not valid: its sub claim must be a string"
    if claims["exp"] <= now:
        return "the token has expired; log in again"
    if claims.get("nbf", now) > now:
        return "the token is not valid yet"
    return None


class RateLimited(DomainError, status=429, code="rate_limited"):
    """Too many failed logins for one user or address: the client waits `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(retry_after)


class SecretError(Exception):
    """The JWT secret cannot be used; the server refuses to start."""


def load_jwt_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret, or a 0600 file in the data dir made on first start."""
    if configured:
        secret = configured.encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise SecretError(f"the JWT secret is {len(secret)} bytes; it must be at least {MIN_SECRET_BYTES}")
        return secret
    path = data_dir / "jwt.secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    if path.stat().st_mode & 0o077:
        raise SecretError(f"{path} is readable by others; chmod 600 it")
    secret = path.read_text().strip().encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(f"{path} holds a secret shorter than {MIN_SECRET_BYTES} bytes")
    return secret


def _hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def _verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user does not exist, so both failures take the same time.
    Made on the first login, not at import: a scrypt costs every start about 40 ms."""
    return _hash_password("not a real password")


def user_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "username": row.username, "role": row.role, "createdAt": rfc3339(row.created_at)}


@dataclass
class FailureLimiter:
    """At most `limit` failures per `window` seconds for one key (a username, an address)."""

    limit: int
    window: float

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        failures = self._failures.get(key)
        if not failures:
            return 0
        now = time.monotonic()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return 0
        return max(1, int(failures[0] + self.window - now) + 1)

    def fail(self, key: str) -> None:
        self._failures[key].append(time.monotonic())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class UserService:
    def __init__(self, db: Database, clock: Clock, secret: bytes, token_ttl: float = 12 * 3600) -> None:
        self.db = db
        self.clock = clock
        self.secret = secret
        self.token_ttl = token_ttl
        self.per_user = FailureLimiter(limit=5, window=60)
        self.per_address = FailureLimiter(limit=20, window=60)

    async def register(self, username: str, password: str, role: str, *, actor: Actor | None) -> Row[Any]:
        """The first user of an empty instance becomes admin; after that only an admin may register."""

        async def allowed(conn: AsyncConnection) -> str:
            if await store.count(conn) == 0:
                return "admin"
            if actor is None:
                raise Unauthorized("only an admin can register users; log in as one")
            current = await store.by_username(conn, actor.name)
            if current is None or current.role != "admin":
                raise Forbidden("only an admin can register users")
            return role

        return await self._insert(username, password, role, actor, "user.register", allowed)

    async def create(self, username: str, password: str, role: str, *, actor: Actor) -> Row[Any]:
        """A user made by the operator on the box (`workflowdev user create`), any role."""

        async def as_asked(_conn: AsyncConnection) -> str:
            return role

        return await self._insert(username, password, role, actor, "user.create", as_asked)

    async def _insert(
        self,
        username: str,
        password: str,
        role: str,
        actor: Actor | None,
        action: str,
        decide_role: Callable[[AsyncConnection], Awaitable[str]],
    ) -> Row[Any]:
        _check_username(username)
        _check_password(password)
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}", [{"path": "role", "message": "unknown role"}])
        hashed = await asyncio.to_thread(_hash_password, password)
        now = self.clock()
        user_id = str(uuid.uuid4())
        try:
            async with self.db.write() as conn:
                granted = await decide_role(conn)
                await store.insert_user(
                    conn, id=user_id, username=username, password_hash=hashed, role=granted, created_at=now, updated_at=now
                )
                await self._audit(conn, actor or Actor(username), action, user_id, {"username": username, "role": granted})
                return await store.get(conn, user_id)
        except IntegrityError:
            raise Conflict(f"user {username} already exists") from None

    async def login(self, username: str, password: str, address: str | None) -> dict[str, Any]:
        for limiter, key in ((self.per_user, username), (self.per_address, address or "-")):
            wait = limiter.retry_after(key)
            if wait:
                raise RateLimited(f"too many failed logins; try again in {wait} s", wait)
        async with self.db.read() as conn:
            user = await store.by_username(conn, username)
        ok = await asyncio.to_thread(_verify_password, password, user.password_hash if user else _dummy_hash())
        if user is None or not ok:
            self.per_user.fail(username)
            self.per_address.fail(address or "-")
            raise Unauthorized("wrong username or password")
        self.per_user.clear(username)
        expires = self.clock() + timedelta(seconds=self.token_ttl)
        import jwt  # with its cryptography, only once someone logs in or shows a token

        token = jwt.encode(
            {"sub": user.id, "name": user.username, "iat": int(self.clock().timestamp()), "exp": int(expires.timestamp()), "jti": uuid.uuid4().hex},
            self.secret,
            algorithm="HS256",
        )
        return {"token": token, "expiresAt": rfc3339(expires), "user": user_json(user)}

    async def user_for_token(self, token: str) -> Row[Any]:
        """The token's user as the database has it now; 401 for any bad or stale token."""
        import jwt

        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options=_SIGNATURE_ONLY)
        except jwt.PyJWTError:
            raise Unauthorized("the token is not valid") from None
        problem = _claims_problem(claims, self.clock().timestamp())
        if problem is not None:
            raise Unauthorized(problem)
        async with self.db.read() as conn:
            user = await store.get(conn, claims["sub"])
        if user is None:
            raise Unauthorized("the token's user no longer exists")
        return user

    async def list(self) -> list[Row[Any]]:
        async with self.db.read() as conn:
            return list(await store.list_users(conn))

    async def set_role(self, username: str, role: str, *, actor: Actor) -> Row[Any]:
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        async with self.db.write() as conn:
            user = must_exist(await store.by_username(conn, username), "user", username)
            await store.set_role(conn, user.id, role, updated_at=self.clock())
            await self._audit(conn, actor, "user.set_role", user.id, {"username": username, "from": user.role, "to": role})
            return await store.get(conn, user.id)

    async def delete(self, username: str, *, actor: Actor) -> None:
        async with self.db.write() as conn:
            user = must_exist(await store.by_username(conn, username), "user", username)
            await store.remove(conn, user.id)
            await self._audit(conn, actor, "user.delete", user.id, {"username": username})

    async def audit_denied(self, actor: Actor, method: str, route: str, needed: str, role: str | None) -> None:
        async with self.db.write() as conn:
            await self._audit(conn, actor, "access.denied", None, {"method": method, "route": route, "needs": needed, "role": role})

    async def _audit(self, conn: AsyncConnection, actor: Actor, action: str, user_id: str | None, details: dict[str, Any]) -> None:
        await audit_trail.record(conn, actor, action, "user", user_id, details, self.clock())


def _check_username(username: str) -> None:
    if not 1 <= len(username) <= 64 or not set(username) <= USERNAME_CHARS:
        raise Invalid(
            "username must be 1 to 64 letters, digits or . _ - @",
            [{"path": "username", "message": "invalid username"}],
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise Invalid(f"password must have at least {MIN_PASSWORD_CHARS} characters", [{"path": "password", "message": "too short"}])
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise Invalid(f"password must be at most {MAX_PASSWORD_BYTES} bytes", [{"path": "password", "message": "too long"}])
