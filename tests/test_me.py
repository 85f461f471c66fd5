"""``GET /api/v1/me``: who a token belongs to and what it may read."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.web.keys import STORE
from tests.support import make_token

Client = TestClient[Any, Any]


@pytest.mark.parametrize(
    ("roles", "organizations", "expected"),
    [
        (["site-auditor"], {}, (True, ["default", "o", "p"])),
        ([], {"o": ["organization-admin"], "p": ["organization-member"]}, (False, ["o"])),
        ([], {"p": ["organization-manager"]}, (False, ["p"])),
        (["site-member"], {"o": ["organization-member"]}, (False, [])),
        (["activity-writer"], {}, (False, [])),
    ],
)
async def test_me_says_who_reads_what(
    client: Client,
    admin_headers: dict[str, str],
    roles: list[str],
    organizations: dict[str, list[str]],
    expected: tuple[bool, list[str]],
) -> None:
    """GET /api/v1/me: the token's user, its roles, "reads every" and its readable organizations."""
    for org in ("o", "p", "gone"):
        await client.put(f"/api/v1/organizations/{org}", json={"name": org}, headers=admin_headers)
    await client.delete("/api/v1/organizations/gone", headers=admin_headers)
    token = await make_token(
        client.app[STORE], "reader", roles=roles, organizations=organizations, username="rita"
    )
    response = await client.get("/api/v1/me", headers={"Session-Token": token})
    assert response.status == 200
    assert await response.json() == {
        "id": "reader",
        "username": "rita",
        "name": "",
        "roles": sorted(roles),
        "reads_every_organization": expected[0],
        "readable_organizations": expected[1],
    }


async def test_me_needs_a_valid_token(client: Client) -> None:
    """No token or an unknown one: 401 in the error shape."""
    assert (await client.get("/api/v1/me")).status == 401
    unknown = await client.get("/api/v1/me", headers={"Session-Token": "um_0123456789abcdef_x"})
    assert unknown.status == 401
    assert (await unknown.json())["message"] == "The token is unknown."
