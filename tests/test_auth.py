"""Authentication and permissions over HTTP on SQLite and PostgreSQL (docs/api.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from exporter.store.schema import api_tokens
from exporter.store.tokens import create_token, revoke_token
from exporter.web.keys import STORE
from tests.support import FakeClock, event, make_token, post_events, whole_state

Client = TestClient[Any, Any]
Headers = dict[str, str]

# --- who may do what -------------------------------------------------------------------------

# Each principal: (site roles, organization roles). "o" is the organization they may read.
PRINCIPALS: dict[str, tuple[Sequence[str], Mapping[str, Sequence[str]]]] = {
    "site-admin": (["site-admin"], {}),
    "site-manager": (["site-manager"], {}),
    "site-auditor": (["site-auditor"], {}),
    "site-member": (["site-member"], {"o": ["organization-member"]}),
    "activity-writer": (["activity-writer"], {}),
    "org-admin-of-o": ([], {"o": ["organization-admin"]}),
    "org-manager-of-o": ([], {"o": ["organization-manager"]}),
    "org-member-of-o": ([], {"o": ["organization-member"]}),
    "writer-and-org-admin": (["activity-writer"], {"o": ["organization-admin"]}),
}
COLUMNS = ["nobody", *PRINCIPALS]

# route: (method, path, JSON body or None) — ``{n}`` is a fresh id for each request.
ROUTES: dict[str, tuple[str, str, Any]] = {
    "landing": ("GET", "/", None),
    "healthz": ("GET", "/healthz", None),
    "readyz": ("GET", "/readyz", None),
    "me": ("GET", "/api/v1/me", None),
    "ingest": (
        "POST",
        "/api/v1/activity",
        {"events": [{"user_id": "x{n}", "category": "ide", "time": "2026-11-24T11:00:00Z"}]},
    ),
    "list orgs": ("GET", "/api/v1/organizations", None),
    "list users": ("GET", "/api/v1/users", None),
    "list users of o": ("GET", "/api/v1/users?org=o", None),
    "list users of p": ("GET", "/api/v1/users?org=p", None),
    "put org": ("PUT", "/api/v1/organizations/new{n}", {"name": "new{n}"}),
    "delete org": ("DELETE", "/api/v1/organizations/doomed{n}", None),
    "put user": ("PUT", "/api/v1/users/new{n}", {"username": "new{n}", "roles": ["site-member"]}),
    "delete user": ("DELETE", "/api/v1/users/doomed{n}", None),
}

# Expected status per route, one column per principal (COLUMNS order).
#                      nobody  s-adm  s-mgr  s-aud  s-mem  writer o-adm  o-mgr  o-mem  w+o-adm
TABLE: dict[str, tuple[int, ...]] = {
    "landing": (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "healthz": (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "readyz": (200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "me": (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "ingest": (401, 200, 403, 403, 403, 200, 403, 403, 403, 200),
    "list orgs": (401, 200, 200, 200, 403, 403, 200, 200, 403, 200),
    "list users": (401, 200, 200, 200, 403, 403, 200, 200, 403, 200),
    "list users of o": (401, 200, 200, 200, 403, 403, 200, 200, 403, 200),
    "list users of p": (401, 200, 200, 200, 403, 403, 403, 403, 403, 403),
    "put org": (401, 201, 403, 403, 403, 201, 403, 403, 403, 201),
    "delete org": (401, 204, 403, 403, 403, 204, 403, 403, 403, 204),
    "put user": (401, 201, 403, 403, 403, 201, 403, 403, 403, 201),
    "delete user": (401, 204, 403, 403, 403, 204, 403, 403, 403, 204),
}


async def _setup_directory(client: Client, admin: Headers) -> None:
    """Organizations o and p, a member of each, and things to delete."""
    for org in ("o", "p", *(f"doomed{n}" for n in range(2))):
        response = await client.put(
            f"/api/v1/organizations/{org}", json={"name": org}, headers=admin
        )
        assert response.status == 201
    for user, org in (("member-o", "o"), ("member-p", "p"), ("doomed0", "o"), ("doomed1", "o")):
        body = {"username": user, "organizations": {org: ["organization-member"]}}
        response = await client.put(f"/api/v1/users/{user}", json=body, headers=admin)
        assert response.status == 201


@pytest.mark.parametrize("who", COLUMNS)
async def test_permission_table(client: Client, admin_headers: Headers, who: str) -> None:
    """Every route answers each principal as docs/api.md says: 401, 403 or success."""
    await _setup_directory(client, admin_headers)
    headers: Headers = {}
    if who != "nobody":
        site, organizations = PRINCIPALS[who]
        token = await make_token(
            client.app[STORE], "p-" + who, roles=site, organizations=organizations
        )
        headers = {"Session-Token": token}
    column = COLUMNS.index(who)
    for route, (method, path, body) in ROUTES.items():
        expected = TABLE[route][column]
        n = "0" if route.startswith("delete") else who.replace("-", "")
        url = path.replace("{n}", n)
        payload = None if body is None else _fill(body, n)
        before = await whole_state(client.app[STORE])
        response = await client.request(method, url, json=payload, headers=headers)
        text = await response.text()
        assert response.status == expected, f"{who} {method} {url}: {response.status} {text}"
        if expected in (401, 403):
            assert (await response.json())["message"], route
            assert await whole_state(client.app[STORE]) == before, (
                f"{who} {route} changed the store"
            )
        elif method != "GET":
            assert await whole_state(client.app[STORE]) != before, f"{who} {route} changed nothing"
        if route == "list orgs" and expected == 200:
            listed = sorted(org["id"] for org in (await response.json())["organizations"])
            if who.startswith("site-"):
                assert {"default", "o", "p"} <= set(listed), listed
            else:
                assert listed == ["o"], who
        if route == "list users of o" and expected == 200:
            listed = sorted(user["id"] for user in (await response.json())["users"])
            assert "member-o" in listed
            assert "member-p" not in listed
        if route == "list users" and expected == 200:
            listed = sorted(user["id"] for user in (await response.json())["users"])
            assert "member-o" in listed
            assert ("member-p" in listed) == (who.startswith("site-"))


def _fill(body: Any, n: str) -> Any:
    if isinstance(body, dict):
        return {key: _fill(value, n) for key, value in body.items()}
    if isinstance(body, list):
        return [_fill(value, n) for value in body]
    if isinstance(body, str):
        return body.replace("{n}", n)
    return body


# --- tokens ----------------------------------------------------------------------------------


@pytest.fixture
async def reader_token(client: Client) -> str:
    """A token of a site auditor."""
    return await make_token(client.app[STORE], "auditor", roles=["site-auditor"])


@pytest.mark.parametrize(
    "header",
    [
        "Session-Token: {t}",
        "Coder-Session-Token: {t}",
        "Authorization: Bearer {t}",
        "Authorization: bearer   {t}",
    ],
)
async def test_token_is_read_from_each_header(
    client: Client, reader_token: str, header: str
) -> None:
    """Session-Token, Coder-Session-Token and Authorization: Bearer all authenticate."""
    name, _, value = header.partition(": ")
    response = await client.get(
        "/api/v1/organizations", headers={name: value.replace("{t}", reader_token)}
    )
    assert response.status == 200
    assert "default" in [org["id"] for org in (await response.json())["organizations"]]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "A token is required."),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "A token is required."),
        ({"Authorization": "Bearer"}, "A token is required."),
        ({"Session-Token": "not-a-token"}, "The token is malformed."),
        ({"Session-Token": "um_short_secret"}, "The token is malformed."),
        ({"Session-Token": "um_0123456789abcdef"}, "The token is malformed."),
        ({"Session-Token": "um_0123456789abcdef_secret"}, "The token is unknown."),
        ({"Coder-Session-Token": "um_0123456789abcdef_secret"}, "The token is unknown."),
    ],
)
async def test_missing_malformed_or_unknown_token_is_401(
    client: Client, headers: Headers, message: str
) -> None:
    """Requests without a usable token are 401 with a reason."""
    response = await client.get("/api/v1/organizations", headers=headers)
    assert response.status == 401
    assert (await response.json())["message"] == message


async def test_token_with_a_wrong_secret_is_401(client: Client, reader_token: str) -> None:
    """The right id with another secret is refused."""
    forged = reader_token[:-4] + ("AAAA" if not reader_token.endswith("AAAA") else "BBBB")
    response = await client.get("/api/v1/organizations", headers={"Session-Token": forged})
    assert response.status == 401
    assert (await response.json())["message"] == "The token is unknown."


async def test_revoked_token_is_401(client: Client, reader_token: str) -> None:
    """A revoked token stops working at once."""
    headers = {"Session-Token": reader_token}
    assert (await client.get("/api/v1/organizations", headers=headers)).status == 200
    store = client.app[STORE]
    async with store.write() as connection:
        await revoke_token(connection, reader_token.split("_")[1], now=store.clock())
    response = await client.get("/api/v1/organizations", headers=headers)
    assert response.status == 401
    assert (await response.json())["message"] == "The token is revoked."


async def test_expired_token_is_401(client: Client, clock: FakeClock) -> None:
    """A token with a one-hour lifetime works until the hour is over."""
    store = client.app[STORE]
    await make_token(store, "auditor", roles=["site-auditor"])
    async with store.write() as connection:
        token = await create_token(connection, "auditor", now=store.clock(), lifetime=3600)
    headers = {"Session-Token": token.text}
    clock.advance(3599)
    assert (await client.get("/api/v1/organizations", headers=headers)).status == 200
    clock.advance(1)
    response = await client.get("/api/v1/organizations", headers=headers)
    assert response.status == 401
    assert (await response.json())["message"] == "The token is expired."


async def test_tokens_are_stored_only_as_sha256(client: Client, reader_token: str) -> None:
    """The api_tokens row holds the id and SHA-256 of the secret, never the secret."""
    _, token_id, secret = reader_token.split("_", 2)
    assert len(secret) >= 32
    async with client.app[STORE].read() as connection:
        rows = list(await connection.execute(sa.select(api_tokens)))
    assert [row.id for row in rows] == [token_id]
    assert rows[0].secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in rows[0])


# --- error responses -------------------------------------------------------------------------


async def test_unknown_route_is_404_json(client: Client) -> None:
    """A path no route serves is 404 in the JSON error shape."""
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert response.content_type == "application/json"
    assert await response.json() == {"message": "No such route."}


async def test_wrong_method_is_405_json(client: Client, admin_headers: Headers) -> None:
    """A known path with another method is 405 in the JSON error shape, naming the allowed one."""
    response = await client.get("/api/v1/activity", headers=admin_headers)
    assert response.status == 405
    assert response.content_type == "application/json"
    assert "POST" in (await response.json())["message"]
    assert "POST" in response.headers["Allow"]


async def test_error_responses_never_carry_a_traceback(
    client: Client, admin_headers: Headers
) -> None:
    """A sweep of bad requests: each answer is JSON with a message and no stack trace."""
    requests: list[tuple[str, str, Headers, Any]] = [
        ("GET", "/api/v1/users", {}, None),
        ("GET", "/api/v1/users?org=ghost", admin_headers, None),
        ("GET", "/api/v1/users?dormant=maybe", admin_headers, None),
        ("PUT", "/api/v1/users/a%00b", admin_headers, b"{}"),
        ("PUT", "/api/v1/users/u1", admin_headers, b"\xff\xfe"),
        ("PUT", "/api/v1/users/u1", admin_headers, b"[" * 50_000),
        ("PUT", "/api/v1/organizations/o1", admin_headers, b'{"name": {"deep": [1, 2]}}'),
        ("POST", "/api/v1/activity", admin_headers, b'{"events": [' + b"1," * 10 + b"]}"),
        ("POST", "/api/v1/activity", admin_headers, b'{"events": [{"user_id": []}]}'),
        ("DELETE", "/api/v1/organizations/default", admin_headers, None),
        ("PATCH", "/api/v1/users/u1", admin_headers, None),
        ("GET", "/../../etc/passwd", {}, None),
    ]
    for method, path, headers, data in requests:
        response = await client.request(
            method, path, data=data, headers={**headers, "Content-Type": "application/json"}
        )
        text = await response.text()
        assert 400 <= response.status < 500, f"{method} {path}: {response.status} {text}"
        assert response.content_type == "application/json", path
        body = await response.json()
        assert isinstance(body["message"], str), path
        assert body["message"], path
        for marker in ("Traceback", 'File "', "Error:", "exporter/", ".py"):
            assert marker not in text, f"{method} {path}: {text}"
        assert response.headers["X-Request-Id"]


async def test_success_responses_carry_security_headers(
    client: Client, admin_headers: Headers
) -> None:
    """Answers forbid sniffing and caching and carry a request id."""
    status, _ = await post_events(client, admin_headers, [event()])
    response = await client.get("/api/v1/organizations", headers=admin_headers)
    assert (status, response.status) == (200, 200)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert len(response.headers["X-Request-Id"]) == 32
