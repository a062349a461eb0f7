"""Authentication and roles: every route × every role, the way API.md's table says.

The matrix walks the app's own router, so a route added without an entry in ACCESS fails here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from tests.conftest import PRODUCTION_SCRYPT
from tests.conftest import Api
from workflowdev.api.access import ACCESS
from workflowdev.api.access import PUBLIC
from workflowdev.engine.services import users
from workflowdev.engine.services.user_roles import RANK
from workflowdev.engine.services.user_roles import ROLES
from workflowdev.runtime import Runtime

PASSWORD = "correct horse battery"
FAKE_ID = "00000000-0000-0000-0000-000000000000"
PATH_VALUES = {"id": FAKE_ID, "rev": "1", "namespace": "ns", "key": "k" * 40, "tail": "k"}


@pytest.fixture
async def secured(make_settings: Any) -> AsyncIterator[tuple[Api, dict[str, str]]]:
    """A server with --auth, an admin (the first user) and one user of every other role."""
    import aiohttp

    from tests.support_plugins import registry_with_test_plugins

    runtime = Runtime(make_settings(auth=True, jwt_secret="s" * 40), registry=registry_with_test_plugins())
    await runtime.start()
    async with aiohttp.ClientSession() as session:
        api = Api(runtime.base_url, session, runtime)
        first = await api.post("/auth/register", json={"username": "root", "password": PASSWORD, "role": "viewer"})
        assert first.status == 201 and first.body["role"] == "admin"  # the first user is admin
        tokens = {"admin": await _login(api, "root")}
        for role in ("viewer", "executor", "editor"):
            made = await api.post(
                "/auth/register", json={"username": role, "password": PASSWORD, "role": role},
                headers=_auth(tokens["admin"]),
            )
            assert made.status == 201 and made.body["role"] == role
            tokens[role] = await _login(api, role)
        yield api, tokens
    await runtime.stop()


async def _login(api: Api, username: str) -> str:
    reply = await api.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert reply.status == 200, reply.body
    return reply.body["token"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _routes(api: Api) -> list[tuple[str, str, str]]:
    found = []
    for route in api.runtime.runner.app.router.routes():  # type: ignore[union-attr]
        if route.method == "HEAD" or route.name is None:
            continue
        path = route.resource.canonical
        for name, value in PATH_VALUES.items():
            path = path.replace("{" + name + "}", value).replace("{" + name + r":[\s\S]+}", value)
        found.append((route.name, route.method, path))
    return found


def test_every_route_has_an_access_rule(api: Api) -> None:
    names = {name for name, _, _ in _routes(api)}
    assert names - set(ACCESS) == set(), "routes missing from ACCESS"
    assert set(ACCESS) - names <= {"audit.list", "metrics"}, "ACCESS names routes that do not exist"


def _allowed(status: int) -> bool:
    return status not in (401, 403)


async def test_route_by_role_matrix(secured: tuple[Api, dict[str, str]]) -> None:
    api, tokens = secured
    failures = []
    for name, method, path in _routes(api):
        needed = ACCESS[name]
        for who in (None, *ROLES):
            headers = _auth(tokens[who]) if who else {}
            kwargs: dict[str, Any] = {"headers": headers}
            if method in ("POST", "PUT"):
                kwargs["json"] = {}
            if name == "events" or name == "executions.logs":
                kwargs["headers"] = {**headers}  # plain GET: the logs endpoint answers JSON, events 400
            reply = await api.call(method, path, **kwargs)
            if needed == PUBLIC:
                expected_allowed = True
            else:
                expected_allowed = who is not None and RANK[who] >= RANK[needed]
            if _allowed(reply.status) != expected_allowed:
                failures.append(f"{method} {path} as {who}: {reply.status} (needs {needed})")
            if not expected_allowed and needed != PUBLIC:
                assert reply.status == (401 if who is None else 403), (method, path, who, reply.status)
    assert failures == []


@pytest.mark.parametrize("variant", ["/api/v1/flows/", "/api/v1//flows", "/api/v1/flows%2F", "/api/v1/%66lows"])
async def test_path_variants_do_not_slip_past(secured: tuple[Api, dict[str, str]], variant: str) -> None:
    api, _ = secured
    reply = await api.call("GET", variant)
    assert reply.status in (401, 404), reply.status
    if reply.status == 404:
        assert "flows" not in str(reply.body).split("no route")[0] or reply.error["code"] == "not_found"


async def test_head_is_judged_as_get(secured: tuple[Api, dict[str, str]]) -> None:
    api, tokens = secured
    assert (await api.call("HEAD", "/api/v1/flows")).status == 401
    assert (await api.call("HEAD", "/api/v1/flows", headers=_auth(tokens["viewer"]))).status == 200


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "another secret of forty bytes or more....", algorithm="HS256"),
        jwt.encode({"sub": "x", "exp": int(time.time()) - 60}, "s" * 40, algorithm="HS256"),
        jwt.encode({"sub": "x"}, "s" * 40, algorithm="HS256"),
        jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, None, algorithm="none"),  # type: ignore[arg-type]
    ],
    ids=["malformed", "other-secret", "expired", "no-exp", "alg-none"],
)
async def test_bad_tokens_are_401(secured: tuple[Api, dict[str, str]], token: str) -> None:
    api, _ = secured
    reply = await api.get("/api/v1/flows", headers=_auth(token))
    assert reply.status == 401 and reply.error["code"] == "unauthorized"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "9999999999"},
        {"exp": True},
        {"exp": None},
        {"exp": [9999999999]},
        {"nbf": "0"},
        {"iat": "0"},
        {"iat": {"at": 0}},
        {"sub": 7},
    ],
    ids=["exp-string", "exp-bool", "exp-null", "exp-list", "nbf-string", "iat-string", "iat-object", "sub-number"],
)
async def test_validly_signed_tokens_with_mistyped_claims_are_401(
    secured: tuple[Api, dict[str, str]], claims: dict[str, Any]
) -> None:
    """RFC 7519: exp, nbf and iat are numbers and sub a string. A token signed with the
    server's own secret, for a real user, is refused when any claim has another type."""
    api, _ = secured
    users = api.runtime.engine.users  # type: ignore[union-attr]
    viewer = next(u for u in await users.list() if u.username == "viewer")
    now = int(time.time())
    good = {"sub": viewer.id, "exp": now + 600, "iat": now, "nbf": now - 1}

    def sign(payload: dict[str, Any]) -> str:
        return jwt.encode(payload, "s" * 40, algorithm="HS256")

    assert (await api.get("/api/v1/flows", headers=_auth(sign(good)))).status == 200
    reply = await api.get("/api/v1/flows", headers=_auth(sign({**good, **claims})))
    assert reply.status == 401 and reply.error["code"] == "unauthorized"


async def test_a_token_not_valid_yet_is_401(secured: tuple[Api, dict[str, str]]) -> None:
    api, _ = secured
    users = api.runtime.engine.users  # type: ignore[union-attr]
    viewer = next(u for u in await users.list() if u.username == "viewer")
    now = int(time.time())
    token = jwt.encode({"sub": viewer.id, "exp": now + 600, "nbf": now + 300}, "s" * 40, algorithm="HS256")
    reply = await api.get("/api/v1/flows", headers=_auth(token))
    assert reply.status == 401 and "not valid yet" in reply.error["message"]


async def test_deleted_or_demoted_users_lose_rights_at_once(secured: tuple[Api, dict[str, str]]) -> None:
    api, tokens = secured
    users = api.runtime.engine.users  # type: ignore[union-attr]
    from workflowdev.engine.services.actor import Actor

    assert (await api.post("/api/v1/flows", json={"yamlContent": "name: a\ntasks:\n  - {name: t, type: util.noop}\n"},
                           headers=_auth(tokens["editor"]))).status == 201
    await users.set_role("editor", "viewer", actor=Actor("root"))
    demoted = await api.post("/api/v1/flows", json={"yamlContent": "name: b\ntasks:\n  - {name: t, type: util.noop}\n"},
                             headers=_auth(tokens["editor"]))
    assert demoted.status == 403
    await users.delete("editor", actor=Actor("root"))
    assert (await api.get("/api/v1/flows", headers=_auth(tokens["editor"]))).status == 401


async def test_registration_rules(secured: tuple[Api, dict[str, str]]) -> None:
    api, tokens = secured
    body = {"username": "newbie", "password": PASSWORD, "role": "admin"}
    assert (await api.post("/auth/register", json=body)).status == 401
    assert (await api.post("/auth/register", json=body, headers=_auth(tokens["editor"]))).status == 403
    bad_role = {**body, "role": "superuser"}
    assert (await api.post("/auth/register", json=bad_role, headers=_auth(tokens["admin"]))).status == 400
    assert (await api.post("/auth/register", json={**body, "password": "short"}, headers=_auth(tokens["admin"]))).status == 400
    assert (await api.post("/auth/register", json={**body, "password": "x" * 5000}, headers=_auth(tokens["admin"]))).status == 400
    assert (await api.post("/auth/register", json=body, headers=_auth(tokens["admin"]))).status == 201
    assert (await api.post("/auth/register", json=body, headers=_auth(tokens["admin"]))).status == 409


def test_passwords_ship_hashed_with_scrypt_n_16384_and_a_hash_of_any_cost_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite hashes cheaper (conftest); what ships, and what a stored hash of it checks, is this."""
    assert PRODUCTION_SCRYPT == {"n": 2**14, "r": 8, "p": 1}
    monkeypatch.setattr(users, "_SCRYPT", PRODUCTION_SCRYPT)
    shipped = users._hash_password("correct horse battery")
    assert shipped.startswith("scrypt$16384$8$1$")
    monkeypatch.setattr(users, "_SCRYPT", {"n": 2**10, "r": 8, "p": 1})
    assert users._verify_password("correct horse battery", shipped)
    assert not users._verify_password("correct horse battery!", shipped)


async def test_login_failures_are_alike_and_rate_limited(secured: tuple[Api, dict[str, str]]) -> None:
    api, _ = secured
    unknown = await api.post("/auth/login", json={"username": "ghost", "password": PASSWORD})
    wrong = await api.post("/auth/login", json={"username": "viewer", "password": "wrong password"})
    assert unknown.status == wrong.status == 401 and unknown.error == wrong.error
    statuses = [(await api.post("/auth/login", json={"username": "viewer", "password": "nope nope"})).status for _ in range(6)]
    assert statuses[-1] == 429
    limited = await api.post("/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


async def test_denied_actions_are_audited(secured: tuple[Api, dict[str, str]]) -> None:
    api, tokens = secured
    assert (await api.delete(f"/api/v1/flows/{FAKE_ID}", headers=_auth(tokens["viewer"]))).status == 403
    entries = (await api.get("/api/v1/audit?action=access.denied", headers=_auth(tokens["admin"]))).body
    assert entries and entries[0]["actor"] == "viewer" and entries[0]["details"]["needs"] == "editor"
    assert (await api.get("/api/v1/audit", headers=_auth(tokens["editor"]))).status == 403


async def test_without_auth_everything_is_open_to_the_local_user(api: Api) -> None:
    me = await api.get("/api/v1/auth/me")
    assert me.status == 200 and me.body["auth"] is False
    assert (await api.post("/auth/login", json={"username": "x", "password": "y"})).status == 404


async def test_public_routes_ignore_foreign_authorization_headers(secured: tuple[Api, dict[str, str]]) -> None:
    api, _ = secured
    for header in ("Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "token xyz"):
        assert (await api.get("/healthz", headers={"Authorization": header})).status == 200
        # an unknown webhook key is a 404 whatever Authorization says, never a 401
        assert (await api.post("/api/v1/webhook/" + "k" * 40, json={}, headers={"Authorization": header})).status == 404
