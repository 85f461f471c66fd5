"""``POST /api/v1/activity`` over HTTP on SQLite and PostgreSQL (docs/api.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.config import Config
from exporter.events import Event
from exporter.model import Category
from exporter.store import Store, placeholders
from exporter.store.ingest import store_events
from exporter.store.sql import array_parameter
from exporter.web import create_app
from exporter.web.keys import STORE
from tests.report_helpers import get_report
from tests.support import (
    T0,
    FakeClock,
    at,
    bits,
    epoch,
    event,
    iso,
    make_token,
    masks,
    memberships_of,
    organization_row,
    post_events,
    post_raw,
    site_roles_of,
    stored_activity,
    stored_totals,
    user_row,
    whole_state,
)

Client = TestClient[Any, Any]
Headers = dict[str, str]
IDE = int(Category.IDE)
ANY = int(Category.ANY)
HOUR_10 = epoch(at(10))
HOUR_11 = epoch(at(11))


# --- bodies and the minutes they cover --------------------------------------------------------


async def test_point_event_covers_the_minute_containing_it(
    client: Client, admin_headers: Headers
) -> None:
    """A point event at 10:15:30 stores minute 10:15 in its slice and in the three unions."""
    status, body = await post_events(client, admin_headers, [event(time=at(10, 15, 30))])
    assert (status, body) == (200, {"accepted": 1, "minutes": 1, "new_minutes": 1})
    rows = await stored_activity(client.app[STORE])
    assert rows == {
        ("o1", IDE, HOUR_10, "u1"): bits(15),
        ("o1", ANY, HOUR_10, "u1"): bits(15),
        ("*", IDE, HOUR_10, "u1"): bits(15),
        ("*", ANY, HOUR_10, "u1"): bits(15),
    }
    assert await stored_totals(client.app[STORE]) == {("o1", IDE): 1}


async def test_ndjson_body_is_one_event_per_line(client: Client, admin_headers: Headers) -> None:
    """NDJSON lines (CRLF endings and blank lines allowed) are events like a JSON array's."""
    lines = [
        json.dumps(event(time=at(10, 1))),
        "",
        json.dumps(event(time=at(10, 2), category="tunnel")),
        "   ",
    ]
    status, body = await post_raw(
        client, admin_headers, "\r\n".join(lines).encode(), "application/x-ndjson"
    )
    assert (status, body) == (200, {"accepted": 2, "minutes": 2, "new_minutes": 2})
    rows = await stored_activity(client.app[STORE])
    assert rows[("o1", IDE, HOUR_10, "u1")] == bits(1)
    assert rows[("o1", int(Category.TUNNEL), HOUR_10, "u1")] == bits(2)
    assert rows[("o1", ANY, HOUR_10, "u1")] == bits(1, 2)


async def test_ndjson_content_type_with_charset_is_accepted(
    client: Client, admin_headers: Headers
) -> None:
    """``application/json; charset=utf-8`` is the JSON content type with a parameter."""
    data = json.dumps({"events": [event()]}).encode()
    status, body = await post_raw(client, admin_headers, data, "application/json; charset=utf-8")
    assert (status, body["accepted"]) == (200, 1)


async def test_session_covers_every_minute_it_overlaps(
    client: Client, admin_headers: Headers
) -> None:
    """A session from 10:00:30 to 10:02:00 covers 10:00 and 10:01, not 10:02."""
    item = event(time=at(10, 0, 30), end_time=at(10, 2))
    status, body = await post_events(client, admin_headers, [item])
    assert (status, body) == (200, {"accepted": 1, "minutes": 2, "new_minutes": 2})
    rows = await stored_activity(client.app[STORE])
    assert masks(rows, organization="o1", category=IDE, user="u1") == {HOUR_10: bits(0, 1)}


async def test_session_ending_inside_a_minute_covers_that_minute(
    client: Client, admin_headers: Headers
) -> None:
    """A session from 10:00:00 to 10:02:01 overlaps 10:02 too: three minutes."""
    item = event(time=at(10), end_time=at(10, 2, 1))
    status, body = await post_events(client, admin_headers, [item])
    assert (status, body["minutes"]) == (200, 3)
    rows = await stored_activity(client.app[STORE])
    assert masks(rows, organization="o1", category=IDE, user="u1") == {HOUR_10: bits(0, 1, 2)}


async def test_session_of_no_length_covers_one_minute(
    client: Client, admin_headers: Headers
) -> None:
    """When ``end_time`` equals ``time`` the event covers the minute containing it."""
    item = event(time=at(10, 7, 59), end_time=at(10, 7, 59))
    status, body = await post_events(client, admin_headers, [item])
    assert (status, body) == (200, {"accepted": 1, "minutes": 1, "new_minutes": 1})
    rows = await stored_activity(client.app[STORE])
    assert masks(rows, organization="o1", category=IDE, user="u1") == {HOUR_10: bits(7)}


async def test_session_over_an_hour_boundary_is_split_between_hours(
    client: Client, admin_headers: Headers
) -> None:
    """10:58:10 to 11:02:30 covers 10:58, 10:59, 11:00, 11:01 and 11:02."""
    item = event(time=at(10, 58, 10), end_time=at(11, 2, 30))
    status, body = await post_events(client, admin_headers, [item])
    assert (status, body["minutes"]) == (200, 5)
    rows = await stored_activity(client.app[STORE])
    assert masks(rows, organization="*", category=ANY, user="u1") == {
        HOUR_10: bits(58, 59),
        HOUR_11: bits(0, 1, 2),
    }
    assert await stored_totals(client.app[STORE]) == {("o1", IDE): 5}


async def test_time_offsets_are_converted_to_utc(client: Client, admin_headers: Headers) -> None:
    """``11:15:00+01:00`` and fractional seconds are the UTC minute 10:15."""
    items = [
        event(time="2026-11-24T11:15:00+01:00"),
        event(time="2026-11-24T10:15:59.999999999Z", category="app"),
    ]
    status, body = await post_events(client, admin_headers, items)
    assert (status, body["minutes"]) == (200, 2)
    rows = await stored_activity(client.app[STORE])
    assert rows[("o1", IDE, HOUR_10, "u1")] == bits(15)
    assert rows[("o1", int(Category.APP), HOUR_10, "u1")] == bits(15)


async def test_minutes_count_distinct_user_organization_category_minutes(
    client: Client, admin_headers: Headers
) -> None:
    """Duplicates inside a batch count once; each category and organization counts apart."""
    items = [
        event(time=at(10, 5)),
        event(time=at(10, 5, 40)),  # same minute again
        event(time=at(10, 4), end_time=at(10, 6)),  # 10:04 new, 10:05 again
        event(time=at(10, 5), category="login"),  # another category
        event(time=at(10, 5), organization_id="o2"),  # another organization
        event("u2", at(10, 5)),  # another user
    ]
    status, body = await post_events(client, admin_headers, items)
    assert (status, body) == (200, {"accepted": 6, "minutes": 5, "new_minutes": 5})
    totals = await stored_totals(client.app[STORE])
    assert totals == {("o1", IDE): 3, ("o1", int(Category.LOGIN)): 1, ("o2", IDE): 1}
    rows = await stored_activity(client.app[STORE])
    assert rows[("*", ANY, HOUR_10, "u1")] == bits(4, 5)


async def test_new_minutes_counts_only_minutes_not_stored_before(
    client: Client, admin_headers: Headers
) -> None:
    """A batch overlapping stored activity reports its full size and only the new part."""
    await post_events(client, admin_headers, [event(time=at(10), end_time=at(10, 10))])
    status, body = await post_events(
        client, admin_headers, [event(time=at(10, 5), end_time=at(10, 15))]
    )
    assert (status, body) == (200, {"accepted": 1, "minutes": 10, "new_minutes": 5})
    assert await stored_totals(client.app[STORE]) == {("o1", IDE): 15}
    rows = await stored_activity(client.app[STORE])
    assert rows[("o1", IDE, HOUR_10, "u1")] == bits(*range(15))


async def test_replaying_a_batch_changes_nothing(client: Client, admin_headers: Headers) -> None:
    """The same batch again: same rows, same totals, same directory, ``new_minutes`` 0."""
    items = [
        event(time=at(9, 50), end_time=at(10, 20)),
        event("u2", at(10, 3), category="web_terminal", organization_id="o2"),
        event("u3", at(11, 59), organization_id=None),
    ]
    first = await post_events(client, admin_headers, items)
    assert first == (200, {"accepted": 3, "minutes": 32, "new_minutes": 32})
    before = await whole_state(client.app[STORE])
    again = await post_events(client, admin_headers, items, ndjson=True)
    assert again == (200, {"accepted": 3, "minutes": 32, "new_minutes": 0})
    assert await whole_state(client.app[STORE]) == before


async def test_a_replay_rewrites_no_hourly_row(client: Client, admin_headers: Headers) -> None:
    """Hourly rows that gain no minute are left as they are (PostgreSQL: the same row version)."""
    store = client.app[STORE]
    if store.engine.dialect.name != "postgresql":
        pytest.skip("row versions (xmin) are PostgreSQL's")
    items = [event(time=at(9, 50), end_time=at(10, 20)), event("u2", at(10, 3))]
    await post_events(client, admin_headers, items)

    async def versions() -> dict[tuple[str, int, str], str]:
        async with store.read() as connection:
            rows = await connection.exec_driver_sql(
                "SELECT organization_id, hour, user_id, xmin::text FROM activity"
            )
            return {tuple(row[:3]): row[3] for row in rows}

    before = await versions()
    await post_events(client, admin_headers, items)
    assert await versions() == before
    await post_events(client, admin_headers, [event("u2", at(10, 4))])
    changed = {key for key, version in (await versions()).items() if before[key] != version}
    assert changed == {(org, hour, "u2") for org, hour, _ in changed}
    assert len(changed) == 2  # its organization's row and that of every organization


async def test_batches_listing_rows_in_opposite_orders_do_not_deadlock(store: Store) -> None:
    """The rollup upserts lock their rows in key order, whatever order a batch lists them in."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite store has one writer at a time")
    first = int(T0.timestamp()) // 60 - 120

    def batch(minute: int) -> list[Event]:
        return [
            Event(f"u{index:04d}", f"o{index % 3}", Category.IDE, minute, minute + 1)
            for index in range(1500)
        ]

    async def ingest(events: list[Event]) -> None:
        # Without the retry of ``Store.ingest``, which would hide a deadlock.
        async with store.write() as connection:
            await store_events(connection, events, now=T0.timestamp(), max_organizations=10)

    await ingest(batch(first))  # the placeholders, memberships and rows exist from here on
    for minute in range(first + 1, first + 9):
        forward = batch(minute)
        await asyncio.gather(ingest(forward), ingest(forward[::-1]))
    async with store.read() as connection:
        minutes = await connection.exec_driver_sql(
            "SELECT sum(bit_count(CAST(mask_ide AS bit(64)))) FROM activity "
            "WHERE organization_id <> '*'"
        )
        assert minutes.scalar_one() == 1500 * 9


async def test_new_memberships_listed_in_opposite_orders_do_not_deadlock(store: Store) -> None:
    """The implicit-membership insert takes its new rows in key order, whatever order it gets."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite store has one writer at a time")
    organizations = [f"o{index}" for index in range(3)]
    users = [f"u{index:04d}" for index in range(1500)]
    async with store.write() as connection:
        await placeholders.ensure_organizations(
            connection, organizations, now=T0.timestamp(), max_organizations=10
        )
        await placeholders.ensure_users(connection, users, now=T0.timestamp())

    async def add(pairs: list[tuple[str, str]]) -> None:
        async with store.write() as connection:
            await placeholders.add_implicit_memberships(connection, pairs)

    for organization in organizations:  # each round inserts 1,500 new rows from both sides
        pairs = [(organization, user) for user in users]
        await asyncio.gather(add(pairs), add(pairs[::-1]))
    async with store.read() as connection:
        count = await connection.exec_driver_sql("SELECT count(*) FROM memberships")
        assert count.scalar_one() == 3 * 1500


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
    aiohttp_client: Any, database_url: str, clock: FakeClock
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


# --- limits ----------------------------------------------------------------------------------

RETENTION = 400 * 86400
HORIZON = T0 - dt.timedelta(seconds=RETENTION)


async def test_event_older_than_the_retention_is_refused(
    client: Client, admin_headers: Headers
) -> None:
    """A point event in the minute before the horizon is refused and nothing is stored."""
    old = iso(HORIZON - dt.timedelta(seconds=1))
    status, body = await post_events(client, admin_headers, [event(), event(time=old)])
    assert status == 400
    assert [v["field"] for v in body["validations"]] == ["events[1].time"]
    assert "retention" in body["validations"][0]["detail"]
    assert await stored_activity(client.app[STORE]) == {}


async def test_event_in_the_horizon_minute_is_kept(client: Client, admin_headers: Headers) -> None:
    """The minute that holds the horizon is still inside the retention."""
    status, body = await post_events(client, admin_headers, [event(time=iso(HORIZON))])
    assert (status, body["minutes"]) == (200, 1)


async def test_session_straddling_the_horizon_keeps_only_minutes_inside(
    client: Client, admin_headers: Headers
) -> None:
    """A session from 10 minutes before the horizon to 5 after stores only those 5 minutes."""
    start = HORIZON - dt.timedelta(minutes=10)
    item = event(time=iso(start), end_time=iso(HORIZON + dt.timedelta(minutes=5)))
    status, body = await post_events(client, admin_headers, [item])
    assert (status, body) == (200, {"accepted": 1, "minutes": 5, "new_minutes": 5})
    hour = int(HORIZON.replace(minute=0).timestamp())
    rows = await stored_activity(client.app[STORE])
    assert masks(rows, organization="o1", category=IDE, user="u1") == {hour: bits(*range(5))}


async def test_shorter_retention_moves_the_horizon(
    aiohttp_client: Any, database_url: str, clock: FakeClock
) -> None:
    """With a 2-day retention an event from 3 days ago is refused, one from yesterday kept."""
    config = Config(database_url=database_url, retention=2 * 86400, dormancy=86400)
    client = await aiohttp_client(create_app(config, clock=clock))
    headers = {"Session-Token": await make_token(client.app[STORE], "admin", roles=["site-admin"])}
    old = iso(T0 - dt.timedelta(days=3))
    status, body = await post_events(client, headers, [event(time=old)])
    assert (status, body["validations"][0]["field"]) == (400, "events[0].time")
    status, _ = await post_events(client, headers, [event(time=iso(T0 - dt.timedelta(days=1)))])
    assert status == 200


async def test_no_retention_reaches_before_1970(
    aiohttp_client: Any, database_url: str, clock: FakeClock
) -> None:
    """With a retention of a century, a minute before 1970 is still refused; 1970 is kept."""
    config = Config(database_url=database_url, retention=100 * 365 * 86400, dormancy=86400)
    client = await aiohttp_client(create_app(config, clock=clock))
    headers = {"Session-Token": await make_token(client.app[STORE], "admin", roles=["site-admin"])}
    status, body = await post_events(client, headers, [event(time="1969-12-31T23:59:00Z")])
    assert (status, body["validations"][0]["field"]) == (400, "events[0].time")
    item = event(time="1969-12-31T23:58:00Z", end_time="1970-01-01T00:02:00Z")
    status, body = await post_events(client, headers, [item])
    assert (status, body["minutes"]) == (200, 2)


async def test_exactly_five_minutes_in_the_future_is_accepted(
    client: Client, admin_headers: Headers
) -> None:
    """12:05:00 with the clock at 12:00:00 is at the limit and accepted."""
    status, body = await post_events(client, admin_headers, [event(time=at(12, 5))])
    assert (status, body["minutes"]) == (200, 1)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (event(time=at(12, 5, 1)), "events[0].time"),
        (event(time=at(11, 50), end_time=at(12, 5, 1)), "events[0].end_time"),
        (event(time="2027-01-01T00:00:00Z"), "events[0].time"),
    ],
)
async def test_more_than_five_minutes_in_the_future_is_refused(
    client: Client, admin_headers: Headers, item: dict[str, Any], field: str
) -> None:
    """A time or end time past now + 5 min is refused with the field named."""
    before = await whole_state(client.app[STORE])
    status, body = await post_events(client, admin_headers, [item])
    assert status == 400
    assert [v["field"] for v in body["validations"]] == [field]
    assert "future" in body["validations"][0]["detail"]
    assert await whole_state(client.app[STORE]) == before


async def test_session_of_exactly_24_hours_is_accepted(
    client: Client, admin_headers: Headers
) -> None:
    """A 24 h session covers 1440 minutes."""
    start = T0 - dt.timedelta(days=1)
    item = event(time=iso(start), end_time=iso(T0))
    status, body = await post_events(client, admin_headers, [item])
    assert (status, body) == (200, {"accepted": 1, "minutes": 1440, "new_minutes": 1440})
    assert await stored_totals(client.app[STORE]) == {("o1", IDE): 1440}


@pytest.mark.parametrize(
    ("start", "end", "detail"),
    [
        (T0 - dt.timedelta(days=1, seconds=1), T0, "24h"),
        (T0, T0 - dt.timedelta(seconds=1), "before"),
    ],
)
async def test_session_longer_than_24_hours_or_reversed_is_refused(
    client: Client, admin_headers: Headers, start: dt.datetime, end: dt.datetime, detail: str
) -> None:
    """A session over 24 h, or ending before it starts, is refused on ``end_time``."""
    status, body = await post_events(
        client, admin_headers, [event(time=iso(start), end_time=iso(end))]
    )
    assert status == 400
    assert [v["field"] for v in body["validations"]] == ["events[0].end_time"]
    assert detail in body["validations"][0]["detail"]
    assert await stored_activity(client.app[STORE]) == {}


def _many(count: int) -> list[dict[str, Any]]:
    """``count`` point events of distinct users, all in minute 10:00."""
    return [event(f"u{index}", at(10)) for index in range(count)]


@pytest.mark.parametrize("ndjson", [False, True])
async def test_ten_thousand_events_are_accepted(
    client: Client, admin_headers: Headers, ndjson: bool
) -> None:
    """The batch limit itself, 10,000 events, is accepted whole."""
    status, body = await post_events(client, admin_headers, _many(10_000), ndjson=ndjson)
    assert (status, body) == (200, {"accepted": 10_000, "minutes": 10_000, "new_minutes": 10_000})
    assert await stored_totals(client.app[STORE]) == {("o1", IDE): 10_000}


@pytest.mark.parametrize("ndjson", [False, True])
async def test_ten_thousand_and_one_events_are_refused(
    client: Client, admin_headers: Headers, ndjson: bool
) -> None:
    """One event over the limit refuses the batch; nothing and nobody is stored."""
    before = await whole_state(client.app[STORE])
    status, body = await post_events(client, admin_headers, _many(10_001), ndjson=ndjson)
    assert status == 400
    assert "10001" in body["message"]
    assert "10000" in body["message"]
    assert await whole_state(client.app[STORE]) == before


async def test_body_over_16_mib_is_413(client: Client, admin_headers: Headers) -> None:
    """A body of 16 MiB + 1 byte (with Content-Length) is refused with 413."""
    before = await whole_state(client.app[STORE])
    prefix = json.dumps({"events": [event()]})[:-1] + ', "padding": "'
    size = 16 * 1024 * 1024 + 1
    data = (prefix + "x" * (size - len(prefix) - 2) + '"}').encode()
    assert len(data) == size
    status, body = await post_raw(client, admin_headers, data)
    assert status == 413
    assert "limit" in body["message"]
    assert await whole_state(client.app[STORE]) == before


async def test_chunked_body_over_16_mib_is_413(client: Client, admin_headers: Headers) -> None:
    """A chunked body without Content-Length is counted as it arrives and refused at 16 MiB."""
    before = await whole_state(client.app[STORE])

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"events": [], "padding": "'
        for _ in range(17):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    response = await client.post(
        "/api/v1/activity",
        data=chunks(),
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert "limit" in (await response.json())["message"]
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/octet-stream", "application/xml"]
)
async def test_unlisted_content_type_is_415(
    client: Client, admin_headers: Headers, content_type: str
) -> None:
    """Only application/json and application/x-ndjson are read."""
    data = json.dumps({"events": [event()]}).encode()
    status, body = await post_raw(client, admin_headers, data, content_type)
    assert status == 415
    assert content_type in body["message"]
    assert await stored_activity(client.app[STORE]) == {}


# --- bad input: 400, and nothing stored -------------------------------------------------------

BAD_BODIES = [
    pytest.param(b'{"events": [', "application/json", "not valid JSON", id="truncated-json"),
    pytest.param(b"", "application/json", "not valid JSON", id="empty-json"),
    pytest.param(b"[]", "application/json", "JSON object", id="array-instead-of-object"),
    pytest.param(b'{"events": {}}', "application/json", "JSON object", id="events-not-a-list"),
    pytest.param(b'{"event": []}', "application/json", "JSON object", id="no-events-key"),
    pytest.param(b"null", "application/json", "JSON object", id="null"),
    pytest.param(
        b'{"events": [{"user_id": "\xff"}]}', "application/json", "UTF-8", id="invalid-utf8"
    ),
    pytest.param(b"\xef\xbb\xbf\xc3\x28", "application/json", "UTF-8", id="invalid-utf8-2"),
    pytest.param(b"[" * 100_000, "application/json", "nested", id="nesting-bomb"),
    pytest.param(
        b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "application/json",
        "nested",
        id="nested-events-bomb",
    ),
    pytest.param(b"[" * 100_000, "application/x-ndjson", "nested", id="ndjson-nesting-bomb"),
    pytest.param(
        b'{"user_id": "u1", "category": "ide", "time": "2026-11-24T10:00:00Z"}\n{oops\n',
        "application/x-ndjson",
        "Line 2",
        id="ndjson-bad-line",
    ),
    pytest.param(b"\xc3\x28\n", "application/x-ndjson", "UTF-8", id="ndjson-invalid-utf8"),
    pytest.param(
        b'{"events": [' + b"1" * 5000 + b"]}", "application/json", "not valid JSON", id="huge-int"
    ),
    pytest.param(b"9" * 5000, "application/x-ndjson", "Line 1", id="ndjson-huge-int"),
]


@pytest.mark.parametrize(("data", "content_type", "message"), BAD_BODIES)
async def test_malformed_body_is_400_and_stores_nothing(
    client: Client, admin_headers: Headers, data: bytes, content_type: str, message: str
) -> None:
    """Bodies that are not a batch of events are 400 with a one-line message."""
    before = await whole_state(client.app[STORE])
    status, body = await post_raw(client, admin_headers, data, content_type)
    assert status == 400
    assert message in body["message"]
    assert "\n" not in body["message"]
    assert await whole_state(client.app[STORE]) == before


GOOD = event("good-user", organization_id="good-org")

BAD_EVENTS = [
    pytest.param("not an object", "events[1]", id="string"),
    pytest.param(["u1", "ide"], "events[1]", id="list"),
    pytest.param(42, "events[1]", id="number"),
    pytest.param(None, "events[1]", id="null"),
    pytest.param({**GOOD, "seconds": 60}, "events[1].seconds", id="unknown-field"),
    pytest.param({**GOOD, "category": "IDE"}, "events[1].category", id="upper-case-category"),
    pytest.param({**GOOD, "category": "any"}, "events[1].category", id="any-category"),
    pytest.param({**GOOD, "category": "ssh"}, "events[1].category", id="unknown-category"),
    pytest.param({**GOOD, "category": 1}, "events[1].category", id="numeric-category"),
    pytest.param({**GOOD, "category": ""}, "events[1].category", id="empty-category"),
    pytest.param({"user_id": "u", "time": at(10)}, "events[1].category", id="no-category"),
    pytest.param({"category": "ide", "time": at(10)}, "events[1].user_id", id="no-user"),
    pytest.param({"user_id": "u", "category": "ide"}, "events[1].time", id="no-time"),
    pytest.param({**GOOD, "user_id": 'u"1'}, "events[1].user_id", id="quote-in-id"),
    pytest.param({**GOOD, "user_id": "u\x001"}, "events[1].user_id", id="nul-in-id"),
    pytest.param({**GOOD, "user_id": "u" * 65}, "events[1].user_id", id="65-characters"),
    pytest.param({**GOOD, "user_id": "joe smith"}, "events[1].user_id", id="space-in-id"),
    pytest.param({**GOOD, "user_id": ""}, "events[1].user_id", id="empty-id"),
    pytest.param({**GOOD, "user_id": "u1\n"}, "events[1].user_id", id="newline-in-id"),
    pytest.param({**GOOD, "user_id": "jöe"}, "events[1].user_id", id="non-ascii-id"),
    pytest.param({**GOOD, "user_id": 7}, "events[1].user_id", id="numeric-id"),
    pytest.param({**GOOD, "organization_id": "a/b"}, "events[1].organization_id", id="slash-org"),
    pytest.param({**GOOD, "organization_id": ""}, "events[1].organization_id", id="empty-org"),
    pytest.param({**GOOD, "organization_id": "*"}, "events[1].organization_id", id="star-org"),
    pytest.param({**GOOD, "time": "2026-11-24T10:00:00"}, "events[1].time", id="no-offset"),
    pytest.param({**GOOD, "time": "yesterday"}, "events[1].time", id="junk-time"),
    pytest.param({**GOOD, "time": "2026-11-24"}, "events[1].time", id="date-only"),
    pytest.param({**GOOD, "time": "2026-13-01T00:00:00Z"}, "events[1].time", id="month-13"),
    pytest.param({**GOOD, "time": 1795000000}, "events[1].time", id="epoch-number"),
    pytest.param(
        {**GOOD, "time": "\u0662\u0660\u0662\u0666-11-24T10:00:00Z"},
        "events[1].time",
        id="arabic-digits",
    ),
    pytest.param({**GOOD, "end_time": "soon"}, "events[1].end_time", id="junk-end-time"),
    pytest.param({**GOOD, "end_time": 5}, "events[1].end_time", id="numeric-end-time"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_EVENTS)
async def test_bad_event_refuses_the_batch_naming_the_field(
    client: Client, admin_headers: Headers, bad: object, field: str
) -> None:
    """One bad event: 400, one validation naming it, no activity and no placeholder."""
    before = await whole_state(client.app[STORE])
    for ndjson in (False, True):
        status, body = await post_events(client, admin_headers, [GOOD, bad, GOOD], ndjson=ndjson)
        assert status == 400
        assert [v["field"] for v in body["validations"]] == [field]
        assert body["validations"][0]["detail"]
        assert body["message"] == "1 event is invalid; nothing was stored."
    assert await whole_state(client.app[STORE]) == before
    assert await user_row(client.app[STORE], "good-user") is None
    assert await organization_row(client.app[STORE], "good-org") is None


async def test_each_bad_event_gets_one_validation(client: Client, admin_headers: Headers) -> None:
    """Several bad events: one entry each, in order, even when an event has two bad fields."""
    items: list[object] = [GOOD] * 14
    items[2] = {**GOOD, "category": "nope", "user_id": "bad id"}
    items[5] = "oops"
    items[12] = {**GOOD, "category": "shell"}
    status, body = await post_events(client, admin_headers, items)
    assert status == 400
    fields = [v["field"] for v in body["validations"]]
    assert fields[0] in ("events[2].user_id", "events[2].category")
    assert fields[1:] == ["events[5]", "events[12].category"]
    assert body["message"] == "3 events are invalid; nothing was stored."
    assert await stored_activity(client.app[STORE]) == {}


async def test_error_fields_of_long_unknown_keys_are_bounded(
    client: Client, admin_headers: Headers
) -> None:
    """An absurd unknown key is cut in the validation's field name."""
    status, body = await post_events(client, admin_headers, [{**GOOD, "k" * 10_000: 1}])
    assert status == 400
    assert len(body["validations"][0]["field"]) < 100


async def test_non_writer_may_not_ingest(client: Client) -> None:
    """A site-member's batch is 403 and stores nothing."""
    token = await make_token(client.app[STORE], "member", roles=["site-member"])
    before = await whole_state(client.app[STORE])
    status, body = await post_events(client, {"Session-Token": token}, [GOOD])
    assert status == 403
    assert "activity-writer" in body["message"]
    assert await whole_state(client.app[STORE]) == before


# --- the organization limit -------------------------------------------------------------------


@dataclasses.dataclass
class Limited:
    """A client whose configuration allows two organizations (the default and one more)."""

    client: Client
    headers: Headers


@pytest.fixture
async def limited(aiohttp_client: Any, database_url: str, clock: FakeClock) -> Limited:
    """The app with ``max_organizations=2``."""
    config = Config(database_url=database_url, max_organizations=2)
    client = await aiohttp_client(create_app(config, clock=clock))
    token = await make_token(client.app[STORE], "admin", roles=["site-admin"])
    return Limited(client, {"Session-Token": token})


async def test_event_creating_one_organization_too_many_is_refused(limited: Limited) -> None:
    """With default + o1 at the limit of 2, an event for o2 is 400 and stores nothing."""
    client, headers = limited.client, limited.headers
    status, _ = await post_events(client, headers, [event(organization_id="o1")])
    assert status == 200
    before = await whole_state(client.app[STORE])
    status, body = await post_events(
        client, headers, [event("u2", organization_id="o1"), event("u2", organization_id="o2")]
    )
    assert status == 400
    assert "limit of 2" in body["message"]
    assert "MAX_ORGANIZATIONS" in body["detail"]
    assert await whole_state(client.app[STORE]) == before
    assert await user_row(client.app[STORE], "u2") is None
    status, _ = await post_events(client, headers, [event("u2", organization_id="default")])
    assert status == 200


async def test_put_creating_one_organization_too_many_is_refused(limited: Limited) -> None:
    """A PUT of a third organization is refused; replacing an existing one is not."""
    client, headers = limited.client, limited.headers
    first = await client.put("/api/v1/organizations/o1", json={"name": "one"}, headers=headers)
    assert first.status == 201
    second = await client.put("/api/v1/organizations/o2", json={"name": "two"}, headers=headers)
    assert second.status == 400
    assert "limit of 2" in (await second.json())["message"]
    assert await organization_row(client.app[STORE], "o2") is None
    again = await client.put("/api/v1/organizations/o1", json={"name": "uno"}, headers=headers)
    assert again.status == 200


async def test_user_put_naming_one_organization_too_many_is_refused(limited: Limited) -> None:
    """A user's ``organizations`` map may not create organizations past the limit either."""
    client, headers = limited.client, limited.headers
    await client.put("/api/v1/organizations/o1", json={"name": "one"}, headers=headers)
    body = {"username": "joe", "organizations": {"o2": ["organization-member"]}}
    response = await client.put("/api/v1/users/u1", json=body, headers=headers)
    assert response.status == 400
    assert await user_row(client.app[STORE], "u1") is None
    assert await organization_row(client.app[STORE], "o2") is None


async def test_undeleting_an_organization_past_the_limit_is_refused(limited: Limited) -> None:
    """Deleting o1, creating o2, then PUT o1 again would make three: refused."""
    client, headers = limited.client, limited.headers
    await client.put("/api/v1/organizations/o1", json={"name": "one"}, headers=headers)
    assert (await client.delete("/api/v1/organizations/o1", headers=headers)).status == 204
    created = await client.put("/api/v1/organizations/o2", json={"name": "two"}, headers=headers)
    assert created.status == 201
    response = await client.put("/api/v1/organizations/o1", json={"name": "one"}, headers=headers)
    assert response.status == 400
    assert (await organization_row(client.app[STORE], "o1")).deleted_at is not None


async def test_ndjson_lines_split_only_on_newlines(client: Client, admin_headers: Headers) -> None:
    """A raw U+2028 inside a string is not a line break: the bad field is named, not 'Line 2'."""
    line = '{"user_id": "a\u2028b", "category": "ide", "time": "2026-11-24T10:00:00Z"}'
    good = json.dumps(event())
    data = f"{good}\n{line}\n{good}\n".encode()
    status, body = await post_raw(client, admin_headers, data, "application/x-ndjson")
    assert status == 400
    assert [v["field"] for v in body["validations"]] == ["events[1].user_id"]


async def test_store_takes_an_empty_batch(store: Store) -> None:
    """Storing no events changes nothing and answers zeros (an empty import file, say)."""
    before = await whole_state(store)
    result = await store.ingest([])
    assert (result.accepted, result.minutes, result.new_minutes) == (0, 0, 0)
    assert await whole_state(store) == before


@pytest.mark.parametrize("values", [["a", "b,c"], [""]])
def test_joined_arrays_refuse_values_that_would_shift(values: list[str]) -> None:
    """PostgreSQL's ingest arrays travel comma-joined; a value that would shift them is refused."""
    with pytest.raises(ValueError, match="comma"):
        array_parameter(values)


def test_joined_arrays_round_trip() -> None:
    """Ids, ``*`` and integers join into what ``string_to_array`` splits back."""
    assert array_parameter(["org-1", "*", 7]).split(",") == ["org-1", "*", "7"]


async def test_a_store_another_version_reshaped_answers_503(
    client: Client, admin_headers: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    """Ingest and reports over tables of another shape answer 503 in JSON and store nothing.

    As when a replica runs on after another version migrated the store: a column or table
    that is not there is the store's state, not a fault of the request. PostgreSQL's errors
    are logged in full for the operator.
    """
    store = client.app[STORE]
    await post_events(client, admin_headers, [event(time=at(10, 0))])
    before = await whole_state(store)

    async def alter(statement: str) -> None:
        async with store.write() as connection:
            await connection.exec_driver_sql(statement)

    await alter("ALTER TABLE last_seen RENAME COLUMN last_ide TO last_ide_elsewhere")
    status, body = await post_events(client, admin_headers, [event("u2", at(10, 5))])
    assert status == 503
    assert "detail" not in body  # no Python class names for the client; the log has the cause
    assert "last_ide" in caplog.text
    await alter("ALTER TABLE last_seen RENAME COLUMN last_ide_elsewhere TO last_ide")
    assert await whole_state(store) == before

    await alter("ALTER TABLE activity_days RENAME TO activity_days_elsewhere")
    status, body = await get_report(
        client, admin_headers, start=iso(T0 - dt.timedelta(days=3)), end=iso(T0)
    )
    assert status == 503
    assert body["message"]
