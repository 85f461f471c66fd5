"""The directory routes over HTTP on SQLite and PostgreSQL (docs/api.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.web.keys import STORE
from tests.support import (
    T0,
    FakeClock,
    event,
    iso,
    make_token,
    memberships_of,
    organization_row,
    post_events,
    site_roles_of,
    stored_activity,
    user_row,
    whole_state,
)

Client = TestClient[Any, Any]
Headers = dict[str, str]
DAY = 86400


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


async def _put(client: Client, headers: Headers, path: str, body: object) -> tuple[int, Any]:
    response = await client.put(path, json=body, headers=headers)
    return response.status, await response.json()


async def _get(client: Client, headers: Headers, path: str) -> tuple[int, Any]:
    response = await client.get(path, headers=headers)
    return response.status, await response.json()


async def _organizations(client: Client, headers: Headers) -> dict[str, dict[str, Any]]:
    status, body = await _get(client, headers, "/api/v1/organizations")
    assert status == 200, body
    return {org["id"]: org for org in body["organizations"]}


async def _users(client: Client, headers: Headers, query: str = "") -> dict[str, dict[str, Any]]:
    status, body = await _get(client, headers, f"/api/v1/users{query}")
    assert status == 200, body
    return {user["id"]: user for user in body["users"]}


# --- organizations ---------------------------------------------------------------------------


async def test_put_organization_creates_then_replaces(
    client: Client, admin_headers: Headers
) -> None:
    """The first PUT is 201, the next 200; GET shows the latest record."""
    created = await _put(
        client,
        admin_headers,
        "/api/v1/organizations/o1",
        {"name": "acme", "display_name": "Acme Corp"},
    )
    assert created == (
        201,
        {"id": "o1", "name": "acme", "display_name": "Acme Corp", "placeholder": False},
    )
    replaced = await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "acme-eu"})
    assert replaced == (
        200,
        {"id": "o1", "name": "acme-eu", "display_name": "", "placeholder": False},
    )
    listed = await _organizations(client, admin_headers)
    assert listed["o1"] == {"id": "o1", "name": "acme-eu", "display_name": "", "placeholder": False}
    assert listed["default"]["placeholder"] is True


async def test_organization_names_are_stored_lower_case(
    client: Client, admin_headers: Headers
) -> None:
    """``Acme-42`` is accepted and stored as ``acme-42``."""
    status, body = await _put(
        client, admin_headers, "/api/v1/organizations/o1", {"name": "Acme-42"}
    )
    assert (status, body["name"]) == (201, "acme-42")
    assert (await organization_row(client.app[STORE], "o1")).name == "acme-42"


@pytest.mark.parametrize(
    "name",
    ["any", "ANY", "-acme", "ac me", "acme_corp", "a" * 65, "", "acmé", 5, None, ["acme"]],
)
async def test_invalid_or_reserved_organization_name_is_refused(
    client: Client, admin_headers: Headers, name: object
) -> None:
    """Names outside ``^[a-z0-9][a-z0-9-]{0,63}$`` (case-insensitive) and ``any`` are 400."""
    before = await whole_state(client.app[STORE])
    status, body = await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": name})
    assert status == 400
    assert [v["field"] for v in body["validations"]] == ["name"]
    assert await whole_state(client.app[STORE]) == before


async def test_reserved_name_any_says_why(client: Client, admin_headers: Headers) -> None:
    """The validation for ``any`` says it is reserved."""
    _, body = await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "Any"})
    assert "reserved" in body["validations"][0]["detail"]


async def test_name_of_another_organization_is_409(client: Client, admin_headers: Headers) -> None:
    """A name held by another real organization is a conflict; nothing changes."""
    await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "acme"})
    before = await whole_state(client.app[STORE])
    status, body = await _put(client, admin_headers, "/api/v1/organizations/o2", {"name": "ACME"})
    assert status == 409
    assert "acme" in body["message"]
    assert await whole_state(client.app[STORE]) == before


async def test_put_takes_a_placeholders_name_and_renames_the_placeholder(
    client: Client, admin_headers: Headers
) -> None:
    """Placeholder ``acme`` (from an event) yields its name and becomes ``acme-<hash>``."""
    await post_events(client, admin_headers, [event(organization_id="acme")])
    assert (await organization_row(client.app[STORE], "acme")).name == "acme"
    status, _ = await _put(client, admin_headers, "/api/v1/organizations/real", {"name": "acme"})
    assert status == 201
    listed = await _organizations(client, admin_headers)
    assert listed["real"]["name"] == "acme"
    assert listed["acme"] == {
        "id": "acme",
        "name": f"acme-{_digest('acme')}",
        "display_name": "",
        "placeholder": True,
    }


async def test_renamed_placeholder_gets_a_longer_hash_when_needed(
    client: Client, admin_headers: Headers
) -> None:
    """If ``acme-<6 hex>`` is held too, the yielding placeholder becomes ``acme-<10 hex>``."""
    await post_events(client, admin_headers, [event(organization_id="acme")])
    six = f"acme-{_digest('acme')}"
    assert (await _put(client, admin_headers, "/api/v1/organizations/y", {"name": six}))[0] == 201
    status, _ = await _put(client, admin_headers, "/api/v1/organizations/real", {"name": "acme"})
    assert status == 201
    ten = hashlib.sha256(b"acme").hexdigest()[:10]
    assert (await organization_row(client.app[STORE], "acme")).name == f"acme-{ten}"


async def test_put_of_a_placeholder_fills_it_in(client: Client, admin_headers: Headers) -> None:
    """A PUT on a placeholder's id replaces it (200) and it stops being a placeholder."""
    await post_events(client, admin_headers, [event(organization_id="o9")])
    status, _ = await _put(
        client, admin_headers, "/api/v1/organizations/o9", {"name": "nine", "display_name": "Nine"}
    )
    assert status == 200
    row = await organization_row(client.app[STORE], "o9")
    assert (row.name, row.display_name, row.placeholder) == ("nine", "Nine", False)


async def test_delete_organization(client: Client, admin_headers: Headers) -> None:
    """DELETE is 204; the organization leaves the listing; its activity stays stored."""
    await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "acme"})
    await post_events(client, admin_headers, [event(organization_id="o1")])
    response = await client.delete("/api/v1/organizations/o1", headers=admin_headers)
    assert response.status == 204
    assert "o1" not in await _organizations(client, admin_headers)
    assert any(key[0] == "o1" for key in await stored_activity(client.app[STORE]))
    again = await client.delete("/api/v1/organizations/o1", headers=admin_headers)
    assert again.status == 404
    assert "o1" in (await again.json())["message"]


async def test_default_organization_cannot_be_deleted(
    client: Client, admin_headers: Headers
) -> None:
    """DELETE of the default organization is 400 and it stays listed."""
    response = await client.delete("/api/v1/organizations/default", headers=admin_headers)
    assert response.status == 400
    assert "default" in (await response.json())["message"]
    assert "default" in await _organizations(client, admin_headers)


async def test_delete_unknown_organization_is_404(client: Client, admin_headers: Headers) -> None:
    """DELETE of an id that was never an organization is 404."""
    response = await client.delete("/api/v1/organizations/nope", headers=admin_headers)
    assert response.status == 404
    assert (await response.json())["message"] == "Organization 'nope' does not exist."


async def test_deleted_organizations_name_can_be_taken(
    client: Client, admin_headers: Headers
) -> None:
    """A new organization may take a deleted one's name; the deleted one is renamed."""
    await _put(client, admin_headers, "/api/v1/organizations/old", {"name": "acme"})
    await client.delete("/api/v1/organizations/old", headers=admin_headers)
    status, _ = await _put(client, admin_headers, "/api/v1/organizations/new", {"name": "acme"})
    assert status == 201
    assert (await organization_row(client.app[STORE], "old")).name == f"acme-{_digest('old')}"


async def test_put_undeletes_an_organization(client: Client, admin_headers: Headers) -> None:
    """A PUT of a deleted organization brings it back (200)."""
    await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "acme"})
    await client.delete("/api/v1/organizations/o1", headers=admin_headers)
    status, _ = await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "acme"})
    assert status == 200
    assert (await _organizations(client, admin_headers))["o1"]["name"] == "acme"


# --- users -----------------------------------------------------------------------------------

JOE = {
    "username": "joe2",
    "name": "Joe",
    "avatar_hash": "671b4b1d",
    "roles": ["site-member", "site-manager"],
    "organizations": {"o1": ["organization-member"], "o2": ["organization-admin"]},
}


async def test_put_user_creates_then_replaces(client: Client, admin_headers: Headers) -> None:
    """201 then 200; the body echoes the record with roles sorted."""
    status, body = await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    assert status == 201
    assert body == {**JOE, "id": "u1", "roles": ["site-manager", "site-member"], "status": "active"}
    status, _ = await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    assert status == 200
    listed = (await _users(client, admin_headers))["u1"]
    assert listed == {
        "id": "u1",
        "username": "joe2",
        "name": "Joe",
        "avatar_hash": "671b4b1d",
        "roles": ["site-manager", "site-member"],
        "organizations": {"o1": ["organization-member"], "o2": ["organization-admin"]},
        "status": "active",
        "last_activity_at": None,
        "dormant": False,
        "placeholder": False,
    }


async def test_put_user_replaces_roles_and_memberships_fully(
    client: Client, admin_headers: Headers
) -> None:
    """Roles and memberships missing from the second PUT are gone."""
    await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    status, _ = await _put(
        client,
        admin_headers,
        "/api/v1/users/u1",
        {"username": "joe3", "organizations": {"o3": ["organization-manager"]}},
    )
    assert status == 200
    assert await site_roles_of(client.app[STORE], "u1") == []
    assert await memberships_of(client.app[STORE], "u1") == {"o3": "organization-manager"}
    row = await user_row(client.app[STORE], "u1")
    assert (row.username, row.name, row.avatar_hash) == ("joe3", "", "")


async def test_user_memberships_create_placeholder_organizations(
    client: Client, admin_headers: Headers
) -> None:
    """An unknown organization in ``organizations`` becomes a placeholder."""
    await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    placeholder = await organization_row(client.app[STORE], "o2")
    assert (placeholder.name, placeholder.placeholder) == ("o2", True)


async def test_put_user_undeletes_it(client: Client, admin_headers: Headers) -> None:
    """A deleted user comes back with a PUT and is listed again."""
    await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    assert (await client.delete("/api/v1/users/u1", headers=admin_headers)).status == 204
    assert "u1" not in await _users(client, admin_headers)
    status, _ = await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    assert status == 200
    assert (await user_row(client.app[STORE], "u1")).deleted_at is None
    assert "u1" in await _users(client, admin_headers)


async def test_username_of_another_user_is_409(client: Client, admin_headers: Headers) -> None:
    """A username held by another live user is a conflict; nothing changes."""
    await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    before = await whole_state(client.app[STORE])
    status, body = await _put(client, admin_headers, "/api/v1/users/u2", {"username": "joe2"})
    assert status == 409
    assert "joe2" in body["message"]
    assert await whole_state(client.app[STORE]) == before


async def test_put_takes_a_placeholder_users_username(
    client: Client, admin_headers: Headers
) -> None:
    """Placeholder user ``joe`` (from an event) yields its username and becomes ``joe-<hash>``."""
    await post_events(client, admin_headers, [event("joe")])
    status, _ = await _put(client, admin_headers, "/api/v1/users/u-joe", {"username": "joe"})
    assert status == 201
    users = await _users(client, admin_headers)
    assert users["u-joe"]["username"] == "joe"
    assert users["joe"]["username"] == f"joe-{_digest('joe')}"
    assert users["joe"]["placeholder"] is True


async def test_renamed_placeholder_user_gets_a_longer_hash_when_needed(
    client: Client, admin_headers: Headers
) -> None:
    """If ``joe-<6 hex>`` is a live username, the yielding placeholder becomes ``joe-<10 hex>``."""
    await post_events(client, admin_headers, [event("joe")])
    six = f"joe-{_digest('joe')}"
    assert (await _put(client, admin_headers, "/api/v1/users/z", {"username": six}))[0] == 201
    status, _ = await _put(client, admin_headers, "/api/v1/users/u-joe", {"username": "joe"})
    assert status == 201
    ten = hashlib.sha256(b"joe").hexdigest()[:10]
    assert (await user_row(client.app[STORE], "joe")).username == f"joe-{ten}"


async def test_deleted_users_username_is_free(client: Client, admin_headers: Headers) -> None:
    """Usernames are unique among users not deleted only."""
    await _put(client, admin_headers, "/api/v1/users/u1", JOE)
    await client.delete("/api/v1/users/u1", headers=admin_headers)
    status, _ = await _put(client, admin_headers, "/api/v1/users/u2", {"username": "joe2"})
    assert status == 201


async def test_delete_user_revokes_its_tokens(client: Client, admin_headers: Headers) -> None:
    """After DELETE the user's token gets 401; the user's history stays."""
    token = await make_token(client.app[STORE], "writer", roles=["activity-writer"])
    headers = {"Session-Token": token}
    status, _ = await post_events(client, headers, [event("someone")])
    assert status == 200
    assert (await client.delete("/api/v1/users/writer", headers=admin_headers)).status == 204
    status, body = await post_events(client, headers, [event("someone")])
    assert status == 401
    assert "revoked" in body["message"]
    assert (await user_row(client.app[STORE], "writer")).deleted_at == int(T0.timestamp())


async def test_delete_unknown_user_is_404(client: Client, admin_headers: Headers) -> None:
    """DELETE of a user that does not exist is 404."""
    response = await client.delete("/api/v1/users/ghost", headers=admin_headers)
    assert response.status == 404
    assert "ghost" in (await response.json())["message"]


# --- listing ---------------------------------------------------------------------------------


async def test_get_users_filters_by_organization_id_or_name(
    client: Client, admin_headers: Headers
) -> None:
    """``?org=`` takes an id or a name; an unknown one is 404."""
    await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "acme"})
    await _put(client, admin_headers, "/api/v1/users/u1", {**JOE, "organizations": {"o1": []}})
    await _put(client, admin_headers, "/api/v1/users/u2", {"username": "ann"})
    assert list(await _users(client, admin_headers, "?org=o1")) == ["u1"]
    assert list(await _users(client, admin_headers, "?org=ACME")) == ["u1"]
    status, body = await _get(client, admin_headers, "/api/v1/users?org=nope")
    assert status == 404
    assert "nope" in body["message"]


async def test_get_users_dormancy(client: Client, admin_headers: Headers, clock: FakeClock) -> None:
    """Dormant = no activity within 90 days of the last activity, or of creation if none."""
    members = {"organizations": {"team": ["organization-member"]}}
    for user in ("idle", "old", "fresh"):
        await _put(client, admin_headers, f"/api/v1/users/{user}", {"username": user, **members})
    ten_days_ago = iso(T0 - dt.timedelta(days=10))
    await post_events(client, admin_headers, [event("old", ten_days_ago, organization_id="team")])
    await post_events(client, admin_headers, [event("fresh", iso(T0), organization_id="team")])

    clock.advance(85 * DAY)
    listed = await _users(client, admin_headers, "?org=team")
    assert {user: listed[user]["dormant"] for user in listed} == {
        "idle": False,
        "old": True,
        "fresh": False,
    }
    assert listed["old"]["last_activity_at"] == ten_days_ago
    assert listed["idle"]["last_activity_at"] is None
    assert list(await _users(client, admin_headers, "?org=team&dormant=true")) == ["old"]

    clock.advance(6 * DAY)  # 91 days after T0
    await post_events(client, admin_headers, [event("fresh", iso(T0 + dt.timedelta(days=91)))])
    assert list(await _users(client, admin_headers, "?org=team&dormant=true")) == ["idle", "old"]
    assert sorted(await _users(client, admin_headers, "?dormant=false&org=team")) == [
        "fresh",
        "idle",
        "old",
    ]


async def test_get_users_bad_dormant_value_is_400(client: Client, admin_headers: Headers) -> None:
    """``dormant`` is true or false."""
    status, body = await _get(client, admin_headers, "/api/v1/users?dormant=yes")
    assert status == 400
    assert body["validations"][0]["field"] == "dormant"


@pytest.mark.parametrize("role", ["organization-admin", "organization-manager"])
async def test_organization_readers_see_only_their_organizations(
    client: Client, admin_headers: Headers, role: str
) -> None:
    """An admin or manager of o1 lists o1 and its members, and may not ask for o2."""
    await _put(client, admin_headers, "/api/v1/organizations/o1", {"name": "one"})
    await _put(client, admin_headers, "/api/v1/organizations/o2", {"name": "two"})
    await _put(
        client, admin_headers, "/api/v1/users/m1", {"username": "m1", "organizations": {"o1": []}}
    )
    await _put(
        client, admin_headers, "/api/v1/users/m2", {"username": "m2", "organizations": {"o2": []}}
    )
    token = await make_token(client.app[STORE], "boss", organizations={"o1": [role]})
    headers = {"Session-Token": token}
    assert list(await _organizations(client, headers)) == ["o1"]
    assert sorted(await _users(client, headers)) == ["boss", "m1"]
    assert sorted(await _users(client, headers, "?org=one")) == ["boss", "m1"]
    status, body = await _get(client, headers, "/api/v1/users?org=o2")
    assert status == 403
    assert "two" in body["message"]


async def test_organization_readers_do_not_see_other_memberships(
    client: Client, admin_headers: Headers
) -> None:
    """A user in o1 and o2, listed to an admin of o1, shows only its o1 roles."""
    for org, name in (("o1", "one"), ("o2", "two")):
        await _put(client, admin_headers, f"/api/v1/organizations/{org}", {"name": name})
    both = {"o1": ["organization-member"], "o2": ["organization-admin"]}
    await _put(client, admin_headers, "/api/v1/users/m1", {"username": "m1", "organizations": both})
    token = await make_token(
        client.app[STORE], "boss", organizations={"o1": ["organization-admin"]}
    )
    status, body = await _get(client, {"Session-Token": token}, "/api/v1/users?org=one")
    assert status == 200
    listed = {user["id"]: user["organizations"] for user in body["users"]}
    assert listed["m1"] == {"o1": ["organization-member"]}
    status, body = await _get(client, admin_headers, "/api/v1/users?org=one")
    assert {u["id"]: u["organizations"] for u in body["users"]}["m1"] == both


# --- bad bodies ------------------------------------------------------------------------------

BAD_USERS = [
    pytest.param({"username": "joe", "email": "x"}, ["email"], id="unknown-field"),
    pytest.param({}, ["username"], id="no-username"),
    pytest.param({"username": "joe smith"}, ["username"], id="space-in-username"),
    pytest.param({"username": 5}, ["username"], id="numeric-username"),
    pytest.param({"username": "joe", "roles": ["root"]}, ["roles"], id="unknown-role"),
    pytest.param({"username": "joe", "roles": "site-member"}, ["roles"], id="roles-not-a-list"),
    pytest.param({"username": "joe", "roles": [1]}, ["roles"], id="role-not-a-string"),
    pytest.param(
        {"username": "joe", "roles": ["organization-admin"]}, ["roles"], id="org-role-as-site-role"
    ),
    pytest.param(
        {"username": "joe", "organizations": {"o1": ["site-admin"]}},
        ["organizations"],
        id="site-role-in-org",
    ),
    pytest.param(
        {"username": "joe", "organizations": ["o1"]}, ["organizations"], id="orgs-not-a-map"
    ),
    pytest.param(
        {"username": "joe", "organizations": {"bad id": []}}, ["organizations"], id="bad-org-id"
    ),
    pytest.param(
        {"username": "joe", "organizations": {"o1": "organization-member"}},
        ["organizations"],
        id="org-roles-not-a-list",
    ),
    pytest.param({"username": "joe", "name": 5}, ["name"], id="numeric-name"),
    pytest.param({"username": "joe", "name": "Jo\x00e"}, ["name"], id="nul-in-name"),
    pytest.param({"username": "joe", "name": "Jo\ne"}, ["name"], id="newline-in-name"),
    pytest.param({"username": "joe", "name": "x" * 257}, ["name"], id="long-name"),
    pytest.param({"username": "joe", "avatar_hash": "\x1b[31m"}, ["avatar_hash"], id="esc-avatar"),
    pytest.param(
        {"username": "joe smith", "name": 1, "roles": "x", "extra": 1},
        ["extra", "username", "name", "roles"],
        id="several",
    ),
]


@pytest.mark.parametrize(("body", "fields"), BAD_USERS)
async def test_bad_user_body_is_400_naming_each_field(
    client: Client, admin_headers: Headers, body: dict[str, Any], fields: list[str]
) -> None:
    """Every bad field of a user body gets a validation; nothing is stored."""
    before = await whole_state(client.app[STORE])
    status, answer = await _put(client, admin_headers, "/api/v1/users/u1", body)
    assert status == 400
    assert [v["field"] for v in answer["validations"]] == fields
    assert all(v["detail"] for v in answer["validations"])
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "acme", "slug": "x"}, ["slug"]),
        ({"display_name": "Acme"}, ["name"]),
        ({"name": "acme", "display_name": "Ac\x07me"}, ["display_name"]),
        ({"name": "acme", "display_name": ["Acme"]}, ["display_name"]),
    ],
)
async def test_bad_organization_body_is_400_naming_each_field(
    client: Client, admin_headers: Headers, body: dict[str, Any], fields: list[str]
) -> None:
    """Every bad field of an organization body gets a validation; nothing is stored."""
    before = await whole_state(client.app[STORE])
    status, answer = await _put(client, admin_headers, "/api/v1/organizations/o1", body)
    assert status == 400
    assert [v["field"] for v in answer["validations"]] == fields
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize("path", ["/api/v1/users/a%20b", "/api/v1/organizations/" + "x" * 65])
async def test_bad_id_in_path_is_400(client: Client, admin_headers: Headers, path: str) -> None:
    """An id in the path outside the id alphabet is 400 on the field ``id``."""
    status, body = await _put(client, admin_headers, path, {"username": "x", "name": "x"})
    assert status == 400
    assert body["validations"][0]["field"] == "id"


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"[]", "application/json", 400),
        (b"{", "application/json", 400),
        (b"[" * 100_000, "application/json", 400),
        (b'{"username": ' + b"7" * 5000 + b"}", "application/json", 400),
        (b'{"username": "joe"}', "text/plain", 415),
        (b'{"username": "' + b"x" * 300_000 + b'"}', "application/json", 413),
    ],
)
async def test_unreadable_user_body_is_refused(
    client: Client, admin_headers: Headers, data: bytes, content_type: str, status: int
) -> None:
    """Bodies that are not one JSON object are 400 (413 too large, 415 wrong type)."""
    response = await client.put(
        "/api/v1/users/u1", data=data, headers={**admin_headers, "Content-Type": content_type}
    )
    assert response.status == status
    assert (await response.json())["message"]
    assert await user_row(client.app[STORE], "u1") is None


# --- what an activity writer may not do -------------------------------------------------------


@pytest.fixture
async def writer_headers(client: Client) -> Headers:
    """Headers of an activity-writer service account."""
    token = await make_token(client.app[STORE], "writer", roles=["activity-writer"])
    return {"Session-Token": token}


@pytest.mark.parametrize(
    "body",
    [
        {"username": "x", "roles": ["site-admin"]},
        {"username": "x", "roles": ["activity-writer"]},
        {"username": "x", "roles": ["site-auditor"]},
        {"username": "x", "roles": ["site-manager", "site-member"]},
        {"username": "x", "organizations": {"o1": ["organization-admin"]}},
        {"username": "x", "organizations": {"o1": ["organization-manager"]}},
    ],
    ids=["site-admin", "activity-writer", "auditor", "manager", "org-admin", "org-manager"],
)
async def test_activity_writer_cannot_grant_roles_that_read(
    client: Client, writer_headers: Headers, body: dict[str, Any]
) -> None:
    """Granting a reading role or activity-writer needs a site admin: 403, nothing stored."""
    before = await whole_state(client.app[STORE])
    status, answer = await _put(client, writer_headers, "/api/v1/users/u1", body)
    assert status == 403
    assert "site admin" in answer["message"]
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize(
    ("roles", "organizations"),
    [(["site-auditor"], {}), (["site-manager"], {}), ([], {"o1": ["organization-admin"]})],
    ids=["auditor", "manager", "org-admin"],
)
async def test_activity_writer_cannot_demote_or_delete_a_reader(
    client: Client,
    admin_headers: Headers,
    writer_headers: Headers,
    roles: list[str],
    organizations: dict[str, list[str]],
) -> None:
    """A user who reads reports cannot be demoted, changed or deleted by an activity writer."""
    reader = {"username": "aud", "roles": roles, "organizations": organizations}
    assert (await _put(client, admin_headers, "/api/v1/users/aud", reader))[0] == 201
    before = await whole_state(client.app[STORE])
    status, _ = await _put(client, writer_headers, "/api/v1/users/aud", {"username": "aud"})
    assert status == 403
    assert (await client.delete("/api/v1/users/aud", headers=writer_headers)).status == 403
    assert await whole_state(client.app[STORE]) == before


async def test_activity_writer_cannot_modify_a_site_admin(
    client: Client, admin_headers: Headers, writer_headers: Headers
) -> None:
    """PUT or DELETE of a site admin by an activity writer is 403 and changes nothing."""
    before = await whole_state(client.app[STORE])
    status, _ = await _put(client, writer_headers, "/api/v1/users/admin", {"username": "admin"})
    assert status == 403
    response = await client.delete("/api/v1/users/admin", headers=writer_headers)
    assert response.status == 403
    assert await whole_state(client.app[STORE]) == before
    assert await site_roles_of(client.app[STORE], "admin") == ["site-admin"]


async def test_activity_writer_manages_ordinary_users(
    client: Client, writer_headers: Headers
) -> None:
    """An activity writer creates, replaces and deletes users with member roles."""
    body = {
        "username": "ann",
        "roles": ["site-member"],
        "organizations": {"o1": ["organization-member"]},
    }
    assert (await _put(client, writer_headers, "/api/v1/users/u1", body))[0] == 201
    assert (await _put(client, writer_headers, "/api/v1/users/u1", body))[0] == 200
    assert (await _put(client, writer_headers, "/api/v1/organizations/o1", {"name": "o"}))[0] == 200
    assert (await client.delete("/api/v1/users/u1", headers=writer_headers)).status == 204
    assert await site_roles_of(client.app[STORE], "u1") == ["site-member"]


async def test_site_admin_grants_privileged_roles(client: Client, admin_headers: Headers) -> None:
    """A site admin may create another site admin and an activity writer."""
    status, _ = await _put(
        client,
        admin_headers,
        "/api/v1/users/svc",
        {"username": "svc", "roles": ["activity-writer", "site-admin"]},
    )
    assert status == 201
    assert await site_roles_of(client.app[STORE], "svc") == ["activity-writer", "site-admin"]
