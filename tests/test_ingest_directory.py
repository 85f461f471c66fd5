"""Ingest and the directory: organizations, users and placeholders that events create."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.model import Category
from exporter.web import create_app
from exporter.web.keys import STORE
from tests.support import (
    T0,
    FakeClock,
    at,
    epoch,
    event,
    make_token,
    memberships_of,
    organization_row,
    post_events,
    site_roles_of,
    stored_totals,
    user_row,
)

Client = TestClient[Any, Any]
Headers = dict[str, str]
IDE = int(Category.IDE)
ANY = int(Category.ANY)
HOUR_10 = epoch(at(10))


# --- organizations, users and placeholders ----------------------------------------------------


async def test_missing_organization_means_the_default_organization(
    client: Client, admin_headers: Headers
) -> None:
    """An event without ``organization_id`` (or with null) belongs to the default one."""
    items = [event(organization_id=None), {**event(time=at(10, 1)), "organization_id": None}]
    status, body = await post_events(client, admin_headers, items)
    assert (status, body["minutes"]) == (200, 2)
    assert await stored_totals(client.app[STORE]) == {("default", IDE): 2}
    default = await organization_row(client.app[STORE], "default")
    assert (default.name, default.placeholder, default.deleted_at) == ("default", True, None)


async def test_default_organization_follows_the_configuration(
    aiohttp_client: AiohttpClient, database_url: str, clock: FakeClock
) -> None:
    """With ``default_organization=coder`` events without one go to ``coder``."""
    config = Config(database_url=database_url, default_organization="coder")
    client = await aiohttp_client(create_app(config, clock=clock))
    headers = {"Session-Token": await make_token(client.app[STORE], "admin", roles=["site-admin"])}
    status, _ = await post_events(client, headers, [event(organization_id=None)])
    assert status == 200
    assert await stored_totals(client.app[STORE]) == {("coder", IDE): 1}
    assert (await organization_row(client.app[STORE], "coder")).name == "coder"


async def test_unknown_user_becomes_a_placeholder(client: Client, admin_headers: Headers) -> None:
    """A placeholder user has username = id, empty name and avatar hash, no site roles."""
    await post_events(client, admin_headers, [event("User.42:x")])
    row = await user_row(client.app[STORE], "User.42:x")
    assert (row.username, row.name, row.avatar_hash, row.placeholder, row.managed) == (
        "User.42:x",
        "",
        "",
        True,
        False,
    )
    assert row.deleted_at is None
    assert row.created_at == int(T0.timestamp())
    assert row.last_activity_at == HOUR_10
    assert await site_roles_of(client.app[STORE], "User.42:x") == []


def _digest(organization_id: str) -> str:
    return hashlib.sha256(organization_id.encode()).hexdigest()[:6]


@pytest.mark.parametrize(
    ("organization_id", "name"),
    [
        ("acme", "acme"),
        ("Acme_Corp.EU", "acme-corp-eu"),
        ("team:42", "team-42"),
        ("0rg", "0rg"),
        ("x" * 64, "x" * 64),
        ("any", f"any-{_digest('any')}"),
        ("ANY", f"any-{_digest('ANY')}"),
    ],
)
async def test_unknown_organization_gets_a_slugified_name(
    client: Client, admin_headers: Headers, organization_id: str, name: str
) -> None:
    """The placeholder name is the lower-cased id with other characters as ``-``."""
    status, _ = await post_events(client, admin_headers, [event(organization_id=organization_id)])
    assert status == 200
    row = await organization_row(client.app[STORE], organization_id)
    assert (row.name, row.display_name, row.placeholder) == (name, "", True)


async def test_placeholder_name_gets_a_hash_suffix_when_the_slug_is_taken(
    client: Client, admin_headers: Headers
) -> None:
    """``Acme`` wants ``acme``; it is taken, so it is ``acme-`` + 6 hex of sha256("Acme")."""
    response = await client.put(
        "/api/v1/organizations/acme-id", json={"name": "acme"}, headers=admin_headers
    )
    assert response.status == 201
    status, _ = await post_events(client, admin_headers, [event(organization_id="Acme")])
    assert status == 200
    assert (await organization_row(client.app[STORE], "Acme")).name == f"acme-{_digest('Acme')}"
    assert (await organization_row(client.app[STORE], "acme-id")).name == "acme"


async def test_placeholder_name_gets_a_hash_suffix_when_the_slug_is_invalid(
    client: Client, admin_headers: Headers
) -> None:
    """An id whose slug starts with ``-`` still gets a valid name ending in its hash."""
    status, _ = await post_events(client, admin_headers, [event(organization_id="_lab")])
    assert status == 200
    name = (await organization_row(client.app[STORE], "_lab")).name
    assert name.endswith(f"-lab-{_digest('_lab')}")
    assert name[0].isalnum()
    assert len(name) <= 64


async def test_long_id_with_taken_slug_gets_a_name_of_64_characters(
    client: Client, admin_headers: Headers
) -> None:
    """The fallback name is cut so that slug, ``-`` and hash fit in 64 characters."""
    long_id = "A" * 64
    await client.put("/api/v1/organizations/other", json={"name": "a" * 64}, headers=admin_headers)
    status, _ = await post_events(client, admin_headers, [event(organization_id=long_id)])
    assert status == 200
    name = (await organization_row(client.app[STORE], long_id)).name
    assert name == "a" * 57 + "-" + _digest(long_id)


async def test_two_new_organizations_wanting_one_slug_get_distinct_names(
    client: Client, admin_headers: Headers
) -> None:
    """``Acme`` and ``acme`` in one batch: ``acme`` gets the name, ``Acme`` a suffix.

    A name may not be another organization's id, so ``acme`` keeps its own id as its name.
    """
    items = [event(organization_id="acme"), event(organization_id="Acme")]
    status, _ = await post_events(client, admin_headers, items)
    assert status == 200
    assert (await organization_row(client.app[STORE], "Acme")).name == f"acme-{_digest('Acme')}"
    assert (await organization_row(client.app[STORE], "acme")).name == "acme"


async def test_placeholder_name_uses_a_longer_hash_when_the_suffixed_one_is_taken(
    client: Client, admin_headers: Headers
) -> None:
    """When ``acme`` and ``acme-<6 hex>`` are both held, the placeholder gets 10 hex digits."""
    six = f"acme-{_digest('Acme')}"
    for org_id, name in (("x1", "acme"), ("x2", six)):
        response = await client.put(
            f"/api/v1/organizations/{org_id}", json={"name": name}, headers=admin_headers
        )
        assert response.status == 201
    status, _ = await post_events(client, admin_headers, [event(organization_id="Acme")])
    assert status == 200
    ten = hashlib.sha256(b"Acme").hexdigest()[:10]
    assert (await organization_row(client.app[STORE], "Acme")).name == f"acme-{ten}"


async def test_placeholder_user_whose_id_is_anothers_username_gets_a_suffix(
    client: Client, admin_headers: Headers
) -> None:
    """Event user ``joe`` while live user u1 is called ``joe``: the placeholder is ``joe-<hash>``.

    A second new user in the same batch whose id is that suffixed name pushes it to 10 digits.
    """
    response = await client.put("/api/v1/users/u1", json={"username": "joe"}, headers=admin_headers)
    assert response.status == 201
    six = f"joe-{_digest('joe')}"
    status, _ = await post_events(client, admin_headers, [event("joe"), event(six)])
    assert status == 200
    ten = hashlib.sha256(b"joe").hexdigest()[:10]
    assert (await user_row(client.app[STORE], "joe")).username == f"joe-{ten}"
    assert (await user_row(client.app[STORE], six)).username == six
    assert (await user_row(client.app[STORE], "u1")).username == "joe"


async def test_never_put_user_becomes_member_of_each_organization_it_is_active_in(
    client: Client, admin_headers: Headers
) -> None:
    """Activity in o1 and o2 makes a never-PUT user an organization-member of both."""
    items = [event(organization_id="o1"), event(organization_id="o2", category="login")]
    await post_events(client, admin_headers, items)
    assert await memberships_of(client.app[STORE], "u1") == {
        "o1": "organization-member",
        "o2": "organization-member",
    }


async def test_put_user_memberships_are_authoritative(
    client: Client, admin_headers: Headers
) -> None:
    """Activity of a PUT user in another organization adds no membership."""
    response = await client.put(
        "/api/v1/users/u1",
        json={"username": "joe", "organizations": {"o1": ["organization-admin"]}},
        headers=admin_headers,
    )
    assert response.status == 201
    status, _ = await post_events(client, admin_headers, [event(organization_id="o2")])
    assert status == 200
    assert await memberships_of(client.app[STORE], "u1") == {"o1": "organization-admin"}
    assert (await user_row(client.app[STORE], "u1")).placeholder is False


async def test_events_of_deleted_users_are_stored_without_undeleting(
    client: Client, admin_headers: Headers
) -> None:
    """A deleted user's events count as activity; the user stays deleted."""
    await client.put("/api/v1/users/u1", json={"username": "joe"}, headers=admin_headers)
    response = await client.delete("/api/v1/users/u1", headers=admin_headers)
    assert response.status == 204
    status, body = await post_events(client, admin_headers, [event()])
    assert (status, body["new_minutes"]) == (200, 1)
    row = await user_row(client.app[STORE], "u1")
    assert row.deleted_at is not None
    assert row.last_activity_at == HOUR_10
    assert await stored_totals(client.app[STORE]) == {("o1", IDE): 1}
    listing = await client.get("/api/v1/users", headers=admin_headers)
    assert "u1" not in [user["id"] for user in (await listing.json())["users"]]
