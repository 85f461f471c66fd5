"""The read-only views for Grafana agree with the activity report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from exporter.web.keys import STORE
from tests.report_helpers import get_report, ingest, put_organization, put_user
from tests.support import T0, iso

START = T0 - dt.timedelta(days=3)


async def _seed(client: TestClient[Any, Any]) -> None:
    store = client.app[STORE]
    await put_organization(store, "o-alpha", "alpha")
    await put_organization(store, "o-beta", "beta")
    await put_user(store, "u1", username="ada", name="Ada")
    await put_user(store, "u2", username="alan", name="Alan")
    events = []
    for day in range(3):
        base = START + dt.timedelta(days=day, hours=9)
        events += [
            {
                "user_id": "u1",
                "organization_id": "o-alpha",
                "category": "ide",
                "time": iso(base),
                "end_time": iso(base + dt.timedelta(minutes=95)),
            },
            {
                "user_id": "u1",
                "organization_id": "o-beta",
                "category": "tunnel",
                "time": iso(base + dt.timedelta(minutes=30)),
                "end_time": iso(base + dt.timedelta(hours=2)),
            },
            {
                "user_id": "u2",
                "organization_id": "o-beta",
                "category": "web_terminal",
                "time": iso(base + dt.timedelta(minutes=50)),
                "end_time": iso(base + dt.timedelta(minutes=70 + day)),
            },
            {"user_id": "u2", "organization_id": "o-alpha", "category": "login", "time": iso(base)},
        ]
    await ingest(store, events)


@pytest.mark.parametrize(
    ("organization", "category", "org_param"),
    [
        ("any", "any", None),
        ("alpha", "any", "alpha"),
        ("any", "tunnel", None),
        ("beta", "web_terminal", "o-beta"),
    ],
)
async def test_view_totals_equal_the_report(
    client: TestClient[Any, Any],
    admin_headers: dict[str, str],
    organization: str,
    category: str,
    org_param: str | None,
) -> None:
    """Per user, the view's active minutes over a range equal the report's total_count."""
    await _seed(client)
    params = {"start": iso(START), "end": iso(T0), "category": category, "interval": "1 day"}
    if org_param:
        params["org"] = org_param
    status, report = await get_report(client, admin_headers, **params)
    assert status == 200
    expected = {user_id: user["total_count"] for user_id, user in report["users"].items()}
    assert sum(expected.values()) > 0
    async with client.app[STORE].read() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT user_id, username, sum(active_minutes) FROM usage_activity_hourly "
                "WHERE organization = :organization AND category = :category "
                "AND time >= :start AND time < :end GROUP BY user_id, username"
            ),
            {
                "organization": organization,
                "category": category,
                "start": _sql_time(client, START),
                "end": _sql_time(client, T0),
            },
        )
        found = {user_id: int(minutes) for user_id, _username, minutes in rows}
    assert found == expected


def _sql_time(client: TestClient[Any, Any], moment: dt.datetime) -> Any:
    """A bound value comparable with the view's ``time`` column on this database."""
    if client.app[STORE].engine.dialect.name == "postgresql":
        return moment
    return moment.strftime("%Y-%m-%d %H:%M:%S")


async def test_organizations_view_lists_live_organizations(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """usage_organizations lists the organizations not deleted, with names and display names."""
    await _seed(client)
    assert (
        await client.delete("/api/v1/organizations/o-beta", headers=admin_headers)
    ).status == 204
    async with client.app[STORE].read() as connection:
        rows = await connection.execute(
            sa.text("SELECT id, name, display_name FROM usage_organizations ORDER BY id")
        )
        assert [tuple(row) for row in rows] == [
            ("default", "default", ""),
            ("o-alpha", "alpha", "Alpha"),
        ]
