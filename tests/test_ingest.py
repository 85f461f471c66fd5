"""``POST /api/v1/activity`` on SQLite and PostgreSQL: bodies and the minutes they cover."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.events import Event
from exporter.model import Category
from exporter.store import Store, placeholders
from exporter.store.ingest import rollup, store_minutes
from exporter.web.keys import STORE
from tests.support import (
    T0,
    at,
    bits,
    epoch,
    event,
    masks,
    post_events,
    post_raw,
    stored_activity,
    stored_totals,
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
            await store_minutes(
                connection,
                rollup(events),
                accepted=len(events),
                now=T0.timestamp(),
                max_organizations=10,
            )

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
