"""Ingest's limits: sizes, times, retention, the organization limit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.model import Category
from exporter.store import Store
from exporter.store.sql import array_parameter
from exporter.web import create_app
from exporter.web.keys import STORE
from tests.report_helpers import get_report
from tests.support import (
    T0,
    FakeClock,
    at,
    bits,
    event,
    iso,
    make_token,
    masks,
    organization_row,
    post_events,
    post_raw,
    stored_activity,
    stored_totals,
    user_row,
    whole_state,
)

Client = TestClient[Any, Any]
Headers = dict[str, str]
IDE = int(Category.IDE)


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
    aiohttp_client: AiohttpClient, database_url: str, clock: FakeClock
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
    aiohttp_client: AiohttpClient, database_url: str, clock: FakeClock
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


# --- the organization limit -------------------------------------------------------------------


@dataclasses.dataclass
class Limited:
    """A client whose configuration allows two organizations (the default and one more)."""

    client: Client
    headers: Headers


@pytest.fixture
async def limited(aiohttp_client: AiohttpClient, database_url: str, clock: FakeClock) -> Limited:
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
