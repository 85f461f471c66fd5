"""Ids and names that would make ``org=`` ambiguous, scoped listings, strict parameters."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from exporter.web.keys import STORE
from tests.support import at, event, make_token, organization_row, post_events, whole_state

Client = TestClient[Any, Any]
Headers = dict[str, str]


async def _put(client: Client, headers: Headers, path: str, body: object) -> tuple[int, Any]:
    response = await client.put(path, json=body, headers=headers)
    return response.status, await response.json()


async def _users(client: Client, headers: Headers, query: str = "") -> tuple[int, Any]:
    response = await client.get(f"/api/v1/users{query}", headers=headers)
    return response.status, await response.json()


async def test_an_id_may_not_equal_another_organizations_name(
    client: Client, admin_headers: Headers
) -> None:
    """PUT of an id that is a live organization's name is 409: ``org=acme`` keeps meaning acme."""
    assert (await _put(client, admin_headers, "/api/v1/organizations/o-1", {"name": "acme"}))[
        0
    ] == 201
    before = await whole_state(client.app[STORE])
    for shadow in ("acme",):
        status, body = await _put(
            client, admin_headers, f"/api/v1/organizations/{shadow}", {"name": "shadow"}
        )
        assert status == 409, body
        assert "name of organization 'o-1'" in body["message"]
    assert await whole_state(client.app[STORE]) == before
    status, body = await _users(client, admin_headers, "?org=acme")
    assert status == 200, body


async def test_a_name_may_not_equal_another_organizations_id(
    client: Client, admin_headers: Headers
) -> None:
    """PUT of a name that is another live organization's id is 409."""
    assert (await _put(client, admin_headers, "/api/v1/organizations/zeta", {"name": "z"}))[
        0
    ] == 201
    before = await whole_state(client.app[STORE])
    status, body = await _put(client, admin_headers, "/api/v1/organizations/o-2", {"name": "zeta"})
    assert status == 409, body
    assert "is the id of another organization" in body["message"]
    assert await whole_state(client.app[STORE]) == before
    # An organization's own id as its name is fine.
    assert (await _put(client, admin_headers, "/api/v1/organizations/zeta", {"name": "zeta"}))[
        0
    ] == 200


async def test_an_event_naming_an_organization_by_name_is_refused(
    client: Client, admin_headers: Headers
) -> None:
    """An event whose organization id is a live organization's name: 409, nothing stored."""
    assert (await _put(client, admin_headers, "/api/v1/organizations/o-1", {"name": "acme"}))[
        0
    ] == 201
    before = await whole_state(client.app[STORE])
    status, body = await post_events(client, admin_headers, [event(organization_id="acme")])
    assert status == 409, body
    assert await whole_state(client.app[STORE]) == before


async def test_a_placeholder_name_gives_way_to_an_id(
    client: Client, admin_headers: Headers
) -> None:
    """A placeholder named like a new organization's id is renamed; names never equal ids."""
    status, _ = await post_events(client, admin_headers, [event(organization_id="Beta")])
    assert status == 200
    assert (await organization_row(client.app[STORE], "Beta")).name == "beta"
    assert (await _put(client, admin_headers, "/api/v1/organizations/beta", {"name": "b2"}))[
        0
    ] == 201
    renamed = (await organization_row(client.app[STORE], "Beta")).name
    assert renamed.startswith("beta-")
    # A new placeholder never takes a name equal to an existing id either.
    status, _ = await post_events(client, admin_headers, [event(organization_id="B2.x")])
    assert status == 200
    assert (await organization_row(client.app[STORE], "B2.x")).name == "b2-x"
    assert (await _put(client, admin_headers, "/api/v1/organizations/g", {"name": "x"}))[0] == 201
    status, _ = await post_events(client, admin_headers, [event(organization_id="G")])
    assert status == 200
    assert (await organization_row(client.app[STORE], "G")).name.startswith("g-")


async def test_an_organization_listing_shows_activity_in_that_organization(
    client: Client, admin_headers: Headers
) -> None:
    """``last_activity_at`` in an organization's listing is the newest activity there."""
    events = [
        event("u1", at(10, 5), organization_id="o1"),
        event("u1", at(11, 7), organization_id="o2"),
    ]
    assert (await post_events(client, admin_headers, events))[0] == 200
    org_admin = await make_token(
        client.app[STORE], "boss", organizations={"o1": ["organization-admin"]}
    )
    expected = {
        ("admin", ""): at(11, 7),
        ("admin", "?org=o1"): at(10, 5),
        ("admin", "?org=o2"): at(11, 7),
        ("boss", ""): at(10, 5),
        ("boss", "?org=o1"): at(10, 5),
    }
    for (who, query), last in expected.items():
        headers = admin_headers if who == "admin" else {"Session-Token": org_admin}
        status, body = await _users(client, headers, query)
        assert status == 200, body
        listed = {user["id"]: user for user in body["users"]}
        assert listed["u1"]["last_activity_at"] == last, (who, query)
        assert listed["u1"]["dormant"] is False


async def test_repeated_listing_parameters_are_400(client: Client, admin_headers: Headers) -> None:
    """``org`` or ``dormant`` given twice is 400, as in the report, not the first value."""
    for query in ("?org=o1&org=o2", "?dormant=true&dormant=false"):
        status, body = await _users(client, admin_headers, query)
        assert status == 400, (query, body)
        assert "more than once" in body["message"]


async def test_an_unknown_top_level_ingest_field_is_refused(
    client: Client, admin_headers: Headers
) -> None:
    """``{"events": [...], "extra": 1}`` is 400 naming the field; nothing is stored."""
    before = await whole_state(client.app[STORE])
    response = await client.post(
        "/api/v1/activity", json={"events": [event()], "evnets": []}, headers=admin_headers
    )
    body = await response.json()
    assert response.status == 400, body
    assert body["validations"] == [{"field": "evnets", "detail": "is not a known field"}]
    assert await whole_state(client.app[STORE]) == before
