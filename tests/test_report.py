"""``GET /api/private/metrics/activity``: the seed's example, semantics, permissions, errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yarl
from aiohttp.test_utils import TestClient

from exporter.store import Store, directory
from exporter.store.tokens import revoke_token
from exporter.web.keys import STORE
from tests.report_helpers import (
    NS_PER_MINUTE,
    REPORT,
    counts,
    get_report,
    ingest,
    put_organization,
    put_user,
)
from tests.support import FakeClock, make_token

Client = TestClient[Any, Any]
UTC = dt.UTC
JOE = "6004ad77-a7a69a24d779dd9f44357014"
ALICE = "5f905429-ba6e4ac480eb4c0ead160b47"
BOB = "627935e2-838713a0437b43f006b26244"
JOE_AVATAR = "671b4b1db753a55396036354ff526c8df02e0a53bb4ce4990010a96ab8782ffd"
BOB_AVATAR = "51fb9f8ed9f17d919c62055a81db00015662af958edd91e52e14149f64aae434"
ALICE_AVATAR = "970ee9aa01c30411825a1f90208c2ce5cffffda643973260bf10fa35b4a188c4"
WEEKS = (dt.date(2022, 8, 1), dt.date(2022, 8, 8), dt.date(2022, 8, 15), dt.date(2022, 8, 22))
BUCKET_STARTS = (*WEEKS, dt.date(2022, 8, 29))
IDE_MINUTES = {  # per bucket; the first bucket is the seed's, the totals are the seed's
    JOE: (1200, 1100, 1000, 900, 513),  # 4713
    ALICE: (513, 900, 800, 755, 500),  # 3468
    BOB: (46, 1200, 1100, 900, 462),  # 3708
}
SEED_QUERY = {
    "start": "2022-08-01T00:00:00.000000Z",
    "end": "2022-08-31T00:00:00.000000Z",
    "category": "ide",
    "interval": "1 week",
}


def _sessions(user: str, first_day: dt.date, minutes: int, **extra: str) -> list[dict[str, str]]:
    """Daily IDE sessions from 09:00 UTC, at most 8 h a day, adding up to ``minutes``."""
    events = []
    day = first_day
    while minutes:
        length = min(minutes, 480)
        start = dt.datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        end = start + dt.timedelta(minutes=length)
        events.append(
            {"user_id": user, "category": "ide", "time": _z(start), "end_time": _z(end), **extra}
        )
        minutes -= length
        day += dt.timedelta(days=1)
    return events


def _z(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _seed_example(store: Store, clock: FakeClock) -> None:
    """The seed document's three users and their August 2022 IDE activity, plus noise."""
    clock.set(dt.datetime(2022, 9, 1, 12, tzinfo=UTC))  # August 2022 inside the retention
    await put_organization(store, "acme-id", "acme")
    await put_organization(store, "beta-id", "beta")
    await put_user(
        store,
        JOE,
        username="joe2",
        name="Joe",
        avatar_hash=JOE_AVATAR,
        roles=["site-member", "site-manager"],
    )
    await put_user(
        store, BOB, username="bob12", name="Bob", avatar_hash=BOB_AVATAR, roles=["site-member"]
    )
    await put_user(
        store,
        ALICE,
        username="alice92",
        name="Alice",
        avatar_hash=ALICE_AVATAR,
        roles=["site-member"],
    )
    events: list[dict[str, str]] = []
    for user, per_bucket in IDE_MINUTES.items():
        for first_day, minutes in zip(BUCKET_STARTS, per_bucket, strict=True):
            events += _sessions(user, first_day, minutes, organization_id="acme-id")
    # The same minutes again in another organization: across organizations they count once.
    events += _sessions(JOE, WEEKS[0], 1200, organization_id="beta-id")
    # Other actions in the same minutes and at other times: category=ide leaves them out.
    events += [
        {**event, "category": category}
        for event in _sessions(ALICE, WEEKS[1], 300)
        for category in ("login", "app")
    ]
    # IDE activity just outside [start, end).
    events += _sessions(BOB, dt.date(2022, 7, 31), 60)
    events += _sessions(JOE, dt.date(2022, 8, 31), 25, organization_id="acme-id")
    await ingest(store, events)


def _bucket(day: dt.date, days: int, *users: tuple[str, int]) -> dict[str, Any]:
    return {
        "time": f"{day.isoformat()}T00:00:00Z",
        "duration": days * 86400 * 10**9,
        "user_activity": [
            {"user_id": user, "duration": count * NS_PER_MINUTE, "count": count}
            for user, count in users
        ],
    }


def _user(
    user_id: str, name: str, username: str, roles: list[str], avatar: str, *, total: int
) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name,
        "username": username,
        "roles": roles,
        "avatar_hash": avatar,
        "total_count": total,
        "total_duration": total * NS_PER_MINUTE,
    }


EXPECTED_SEED_REPORT = {
    "activity": [
        _bucket(WEEKS[0], 7, (JOE, 1200), (ALICE, 513), (BOB, 46)),
        _bucket(WEEKS[1], 7, (BOB, 1200), (JOE, 1100), (ALICE, 900)),
        _bucket(WEEKS[2], 7, (BOB, 1100), (JOE, 1000), (ALICE, 800)),
        _bucket(WEEKS[3], 7, (JOE, 900), (BOB, 900), (ALICE, 755)),  # a tie: by user id
        _bucket(dt.date(2022, 8, 29), 2, (JOE, 513), (ALICE, 500), (BOB, 462)),
    ],
    "users": {
        ALICE: _user(ALICE, "Alice", "alice92", ["site-member"], ALICE_AVATAR, total=3468),
        JOE: _user(JOE, "Joe", "joe2", ["site-manager", "site-member"], JOE_AVATAR, total=4713),
        BOB: _user(BOB, "Bob", "bob12", ["site-member"], BOB_AVATAR, total=3708),
    },
}


async def test_seed_example(
    client: Client, clock: FakeClock, admin_headers: dict[str, str]
) -> None:
    """The seed's "IDE users in August, by week" request answers the corrected example."""
    await _seed_example(client.app[STORE], clock)
    status, body = await get_report(client, admin_headers, **SEED_QUERY)
    assert status == 200, body
    assert body == EXPECTED_SEED_REPORT
    first = body["activity"][0]
    assert first["duration"] == 604800000000000
    assert first["user_activity"][0] == {
        "user_id": JOE,
        "duration": 72000000000000,
        "count": 1200,
    }
    assert body["users"][JOE]["total_duration"] == 282780000000000


@pytest.mark.parametrize("space", ["+", "%20", "%20%20"])
async def test_seed_url_spellings(
    client: Client, clock: FakeClock, admin_headers: dict[str, str], space: str
) -> None:
    """``interval=1+week`` and ``interval=1%20week`` in the raw query string both work."""
    await _seed_example(client.app[STORE], clock)
    query = (
        "start=2022-08-01T00:00:00.000000Z&end=2022-08-31T00:00:00.000000Z"
        f"&category=ide&interval=1{space}week&unknown=ignored"
    )
    url = yarl.URL(f"{REPORT}?{query}", encoded=True)
    response = await client.get(url, headers=admin_headers)
    assert response.status == 200
    assert await response.json() == EXPECTED_SEED_REPORT


async def test_whole_august_ends_with_three_days(
    client: Client, clock: FakeClock, admin_headers: dict[str, str]
) -> None:
    """Ending at September 1 makes the last weekly bucket three days and takes in Aug 31."""
    await _seed_example(client.app[STORE], clock)
    status, body = await get_report(
        client, admin_headers, **{**SEED_QUERY, "end": "2022-09-01T00:00:00Z"}
    )
    assert status == 200
    assert body["activity"][4]["duration"] == 3 * 86400 * 10**9
    assert counts(body)[4] == {JOE: 513 + 25, ALICE: 500, BOB: 462}
    assert body["users"][JOE]["total_count"] == 4713 + 25


async def test_unions_over_categories_and_organizations(
    client: Client, clock: FakeClock, admin_headers: dict[str, str]
) -> None:
    """``any`` counts a minute once across actions; ``org`` narrows to one organization."""
    await _seed_example(client.app[STORE], clock)
    week = {"start": "2022-08-08T00:00:00Z", "end": "2022-08-15T00:00:00Z", "interval": "1 week"}
    _, login = await get_report(client, admin_headers, **week, category="login")
    _, every = await get_report(client, admin_headers, **week)
    _, beta = await get_report(client, admin_headers, **week, category="ide", org="beta")
    _, first_week_beta = await get_report(
        client, admin_headers, **{**SEED_QUERY, "org": "beta-id", "end": "2022-08-08T00:00:00Z"}
    )
    assert counts(login) == [{ALICE: 300}]
    # Alice's login, app and IDE minutes overlap: 900 IDE minutes cover the 300 others.
    assert counts(every) == [{BOB: 1200, JOE: 1100, ALICE: 900}]
    assert counts(beta) == [{}]
    assert beta["users"] == {}
    assert counts(first_week_beta) == [{JOE: 1200}]


async def test_bucket_boundaries_inside_minutes(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """A minute belongs to the bucket holding its start; a start inside a minute skips it."""
    await ingest(
        store,
        [
            {
                "user_id": "u1",
                "category": "app",
                "time": "2026-11-24T10:00:00Z",
                "end_time": "2026-11-24T10:10:00Z",
            }
        ],
    )
    cases = [
        ("2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", "1 hour", [{"u1": 10}]),
        ("2026-11-24T10:00:30Z", "2026-11-24T11:00:00Z", "1 hour", [{"u1": 9}]),
        ("2026-11-24T10:00:00.000001Z", "2026-11-24T11:00:00Z", "1 hour", [{"u1": 9}]),
        ("2026-11-24T10:00:00.0000001Z", "2026-11-24T11:00:00Z", "1 hour", [{"u1": 9}]),
        ("2026-11-24T09:00:00Z", "2026-11-24T10:05:30Z", "1 hour", [{}, {"u1": 6}]),
        ("2026-11-24T10:02:30Z", "2026-11-24T10:06:00Z", "1 minute", [{"u1": 1}] * 3 + [{}]),
        (
            "2026-11-24T15:32:00+05:30",
            "2026-11-24T10:10:00Z",
            "3 minutes",
            [{"u1": 3}] * 2 + [{"u1": 2}],
        ),
    ]
    for start, end, interval, expected in cases:
        status, body = await get_report(
            client, admin_headers, start=start, end=end, interval=interval
        )
        assert status == 200, body
        assert counts(body) == expected, (start, end, interval)
        total = sum(sum(bucket.values()) for bucket in expected)
        assert body["users"]["u1"]["total_count"] == total


async def test_months_of_unequal_length(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """A last bucket longer than the first (February, then March) still gets its minutes."""
    events = [
        {"user_id": "u1", "category": "ide", "time": time}
        for time in ("2026-02-28T23:59:00Z", "2026-03-01T00:00:00Z", "2026-03-30T10:00:00Z")
    ]
    await ingest(store, events)
    status, body = await get_report(
        client,
        admin_headers,
        start="2026-02-01T00:00:00Z",
        end="2026-03-31T12:00:00Z",
        interval="1 month",
    )
    assert status == 200
    assert [(b["time"], b["duration"] // (86400 * 10**9)) for b in body["activity"]] == [
        ("2026-02-01T00:00:00Z", 28),
        ("2026-03-01T00:00:00Z", 30),
    ]
    assert counts(body) == [{"u1": 1}, {"u1": 2}]


async def test_buckets_in_start_offset(client: Client, admin_headers: dict[str, str]) -> None:
    """Days count from start in its own offset; times are shown in UTC; the last is shorter."""
    status, body = await get_report(
        client,
        admin_headers,
        start="2026-11-20T00:00:00+05:30",
        end="2026-11-22T12:00:00Z",
        interval="1 Days",
    )
    assert status == 200
    assert [(b["time"], b["duration"]) for b in body["activity"]] == [
        ("2026-11-19T18:30:00Z", 86400 * 10**9),
        ("2026-11-20T18:30:00Z", 86400 * 10**9),
        ("2026-11-21T18:30:00Z", (17 * 3600 + 1800) * 10**9),
    ]
    assert all(b["user_activity"] == [] for b in body["activity"])
    assert body["users"] == {}


async def test_range_beyond_retention_and_future(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """Buckets before the retention or in the future are listed, empty."""
    await ingest(store, [{"user_id": "u1", "category": "tunnel", "time": "2026-11-24T11:59:00Z"}])
    status, body = await get_report(
        client,
        admin_headers,
        start="2024-01-01T00:00:00Z",
        end="2028-01-01T00:00:00Z",
        interval="1 month",
    )
    assert status == 200
    assert len(body["activity"]) == 48
    assert body["activity"][-1]["time"] == "2027-12-01T00:00:00Z"
    nonempty = [(b["time"], c) for b, c in zip(body["activity"], counts(body), strict=True) if c]
    assert nonempty == [("2026-11-01T00:00:00Z", {"u1": 1})]


async def test_bucket_of_centuries(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """A bucket whose nanoseconds exceed 64 bits is still answered exactly."""
    await ingest(store, [{"user_id": "u1", "category": "tunnel", "time": "2026-11-24T11:59:00Z"}])
    status, body = await get_report(
        client,
        admin_headers,
        start="0001-01-01T00:00:00Z",
        end="9999-01-01T00:00:00Z",
        interval="10000 year",
    )
    assert status == 200, body
    (bucket,) = body["activity"]
    assert (
        bucket["duration"]
        == (dt.datetime(9999, 1, 1, tzinfo=UTC) - dt.datetime(1, 1, 1, tzinfo=UTC))
        // dt.timedelta(microseconds=1)
        * 1000
    )
    assert bucket["duration"] > 2**64
    assert counts(body) == [{"u1": 1}]


async def test_ties_sorted_by_user_id_and_profiles(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """Equal durations sort by user id; roles are sorted without activity-writer."""
    await put_user(store, "zed", username="zed", name="Zed", roles=["site-member", "site-admin"])
    await put_user(store, "svc", username="svc", roles=["activity-writer", "site-auditor"])
    events = [
        {"user_id": user, "category": "ide", "time": "2026-11-24T10:00:00Z"}
        for user in ("zed", "svc", "anna")
    ]
    await ingest(store, [*events, {**events[0], "time": "2026-11-24T10:01:00Z"}])
    status, body = await get_report(
        client, admin_headers, start="2026-11-24T00:00:00Z", end="2026-11-25T00:00:00Z"
    )
    assert status == 200
    assert [e["user_id"] for e in body["activity"][0]["user_activity"]] == ["zed", "anna", "svc"]
    assert body["users"]["zed"]["roles"] == ["site-admin", "site-member"]
    assert body["users"]["svc"]["roles"] == ["site-auditor"]
    assert body["users"]["anna"] == {  # a placeholder: username = id, nothing else known
        "id": "anna",
        "name": "",
        "username": "anna",
        "roles": [],
        "avatar_hash": "",
        "total_count": 1,
        "total_duration": NS_PER_MINUTE,
    }


async def test_profiles_of_users_first_seen_after_32_buckets(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """Past 32 buckets a second statement reads on; its users get their profiles too."""
    await put_user(store, "late", username="late-one", name="Late", roles=["site-auditor"])
    events = [
        {"user_id": "early", "category": "ide", "time": "2026-11-23T01:00:00Z"},
        {"user_id": "late", "category": "ide", "time": "2026-11-24T10:00:00Z"},  # bucket 34
    ]
    await ingest(store, events)
    status, body = await get_report(
        client,
        admin_headers,
        start="2026-11-23T00:00:00Z",
        end="2026-11-24T12:00:00Z",
        interval="1 hour",
    )
    assert status == 200
    assert len(body["activity"]) == 36
    assert body["activity"][34]["user_activity"][0]["user_id"] == "late"
    assert body["users"]["late"]["username"] == "late-one"
    assert body["users"]["late"]["name"] == "Late"
    assert body["users"]["late"]["roles"] == ["site-auditor"]
    assert body["users"]["early"]["username"] == "early"


async def test_deleted_users_still_appear(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """A deleted user's history stays in the report with the last-known profile."""
    await put_user(store, "gone", username="gone", name="Gone Girl", roles=["site-member"])
    await ingest(store, [{"user_id": "gone", "category": "ide", "time": "2026-11-24T10:00:00Z"}])
    async with store.write() as connection:
        await directory.delete_user(connection, "gone", now=store.clock())
    await put_user(store, "newcomer", username="gone")  # the username is free again
    status, body = await get_report(
        client, admin_headers, start="2026-11-24T00:00:00Z", end="2026-11-25T00:00:00Z"
    )
    assert status == 200
    assert counts(body) == [{"gone": 1}]
    assert body["users"]["gone"]["name"] == "Gone Girl"
    assert body["users"]["gone"]["username"] == "gone"
    assert body["users"]["gone"]["roles"] == ["site-member"]


async def test_exact_organization_id_wins(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """``org`` names an organization by id, else by name (case-insensitive); ``any`` is all.

    A live organization's name never equals another's id; a placeholder's id can (it yields
    its name to the PUT), and then the exact id match wins.
    """
    await put_organization(store, "zeta-org", "zeta")
    events = [
        {"user_id": "in-beta", "organization_id": "beta", "category": "ide", "time": t}
        for t in ("2026-11-24T10:00:00Z", "2026-11-24T10:01:00Z")
    ]
    events.append(
        {
            "user_id": "in-other",
            "organization_id": "other",
            "category": "ide",
            "time": "2026-11-24T10:00:00Z",
        }
    )
    events.append(dict(events[-1], user_id="in-zeta", organization_id="zeta-org"))
    await ingest(store, events)
    await put_organization(store, "other", "beta")  # the placeholder "beta" yields its name
    day = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
    everyone = {"in-beta": 2, "in-other": 1, "in-zeta": 1}
    expected = {
        "beta": {"in-beta": 2},
        "ZETA": {"in-zeta": 1},
        "other": {"in-other": 1},
        "any": everyone,
        "": everyone,
    }
    for org, users in expected.items():
        status, body = await get_report(client, admin_headers, **day, org=org)
        assert status == 200, body
        assert counts(body) == [users], org


async def test_deleted_organization_keeps_its_history(
    store: Store, client: Client, admin_headers: dict[str, str]
) -> None:
    """An organization deleted from the directory can still be reported on."""
    await put_organization(store, "old", "old")
    await ingest(
        store,
        [
            {
                "user_id": "u",
                "organization_id": "old",
                "category": "ide",
                "time": "2026-11-24T10:00:00Z",
            }
        ],
    )
    async with store.write() as connection:
        await directory.delete_organization(connection, "old", now=store.clock())
    day = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
    status, body = await get_report(client, admin_headers, **day, org="old")
    assert status == 200
    assert counts(body) == [{"u": 1}]


PERMISSIONS = [
    # site roles, organization roles, org parameter, status
    (["site-admin"], {}, None, 200),
    (["site-manager"], {}, None, 200),
    (["site-auditor"], {}, None, 200),
    (["site-auditor"], {}, "beta", 200),
    ([], {"acme-id": ["organization-admin"]}, "acme", 200),
    ([], {"acme-id": ["organization-manager"]}, "acme-id", 200),
    (["site-member"], {"acme-id": ["organization-member", "organization-admin"]}, "acme", 200),
    ([], {"acme-id": ["organization-admin"]}, None, 403),
    ([], {"acme-id": ["organization-admin"]}, "beta", 403),
    ([], {"acme-id": ["organization-admin"]}, "any", 403),
    ([], {"acme-id": ["organization-member"]}, "acme", 403),
    (["site-member"], {}, None, 403),
    (["site-member"], {}, "acme", 403),
    (["activity-writer"], {}, None, 403),
    (["activity-writer"], {}, "acme", 403),
]


@pytest.mark.parametrize(("site", "organizations", "org", "status"), PERMISSIONS)
async def test_permissions(  # noqa: PLR0917  (pytest passes fixtures and parameters by name)
    store: Store,
    client: Client,
    site: list[str],
    organizations: dict[str, list[str]],
    org: str | None,
    status: int,
) -> None:
    """Site readers read everything; organization admins and managers only their own."""
    await put_organization(store, "acme-id", "acme")
    await put_organization(store, "beta-id", "beta")
    await ingest(
        store,
        [
            {"user_id": "in-acme", "organization_id": "acme-id", "category": "ide", "time": t}
            for t in ("2026-11-24T10:00:00Z", "2026-11-24T10:01:00Z")
        ]
        + [
            {
                "user_id": "in-beta",
                "organization_id": "beta-id",
                "category": "ide",
                "time": "2026-11-24T10:00:00Z",
            }
        ],
    )
    token = await make_token(client.app[STORE], "reader", roles=site, organizations=organizations)
    params = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
    if org is not None:
        params["org"] = org
    got, body = await get_report(client, {"Session-Token": token}, **params)
    assert got == status, body
    if status == 403:
        assert set(body) == {"message"}
        assert "activity" not in body
        return
    expected = {
        None: {"in-acme": 2, "in-beta": 1},
        "acme": {"in-acme": 2},
        "acme-id": {"in-acme": 2},
        "beta": {"in-beta": 1},
    }
    assert counts(body) == [expected[org]]


@pytest.mark.parametrize(
    "header", ["Session-Token", "Coder-Session-Token", "Authorization"], ids=str.lower
)
async def test_token_headers(client: Client, header: str) -> None:
    """The token is read from each accepted header."""
    token = await make_token(client.app[STORE], "auditor", roles=["site-auditor"])
    value = f"Bearer {token}" if header == "Authorization" else token
    status, body = await get_report(
        client, {header: value}, start="2026-11-24T00:00:00Z", end="2026-11-25T00:00:00Z"
    )
    assert status == 200
    assert len(body["activity"]) == 1


async def test_unauthenticated(client: Client) -> None:
    """No token, a malformed, unknown or revoked one, or a deleted user's: 401."""
    store = client.app[STORE]
    revoked = await make_token(store, "revoked-user", roles=["site-admin"])
    async with store.write() as connection:
        await revoke_token(connection, revoked.split("_")[1], now=store.clock())
    deleted = await make_token(store, "deleted-user", roles=["site-admin"])
    async with store.write() as connection:
        await directory.delete_user(connection, "deleted-user", now=store.clock())
    valid = await make_token(store, "other", roles=["site-admin"])
    unknown = valid[:-4] + ("aaaa" if not valid.endswith("aaaa") else "bbbb")
    params = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
    for headers in (
        {},
        {"Session-Token": "nonsense"},
        {"Session-Token": unknown},
        {"Session-Token": revoked},
        {"Session-Token": deleted},
    ):
        status, body = await get_report(client, headers, **params)
        assert status == 401, headers
        assert body["message"]
        assert "activity" not in body


async def test_unauthenticated_before_bad_parameters(client: Client) -> None:
    """Without a token the answer is 401 even when the parameters are bad too."""
    status, _ = await get_report(client, {}, start="nonsense")
    assert status == 401


async def test_forbidden_before_bad_parameters(client: Client) -> None:
    """A user who may never read the report gets 403, whatever the parameters."""
    token = await make_token(client.app[STORE], "member", roles=["site-member"])
    status, _ = await get_report(client, {"Session-Token": token}, interval="0 day")
    assert status == 403


DAY = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
BAD_PARAMETERS = [
    ({"end": DAY["end"]}, ["start"]),
    ({"start": DAY["start"]}, ["end"]),
    ({}, ["end", "start"]),
    ({**DAY, "start": "yesterday"}, ["start"]),
    ({**DAY, "start": "2026-11-24"}, ["start"]),
    ({**DAY, "start": "2026-11-24T00:00:00"}, ["start"]),
    ({**DAY, "start": "2026-02-30T00:00:00Z"}, ["start"]),
    ({**DAY, "start": ""}, ["start"]),
    ({**DAY, "start": "0001-01-01T00:00:00+05:00"}, ["start"]),
    ({**DAY, "end": "9999-12-31T23:00:00-05:00"}, ["end"]),
    ({**DAY, "end": DAY["start"]}, ["end"]),
    ({"start": DAY["end"], "end": DAY["start"]}, ["end"]),
    ({**DAY, "category": "IDE"}, ["category"]),
    ({**DAY, "category": "editor"}, ["category"]),
    ({**DAY, "category": ""}, ["category"]),
    ({**DAY, "interval": "0 day"}, ["interval"]),
    ({**DAY, "interval": "1 fortnight"}, ["interval"]),
    ({**DAY, "interval": "1day"}, ["interval"]),
    ({**DAY, "interval": ""}, ["interval"]),
    ({**DAY, "interval": "1 minute", "end": "2026-11-25T00:00:01Z"}, ["interval"]),
    ({**DAY, "interval": "1 second"}, ["interval"]),
    ({**DAY, "org": "not an id!"}, ["org"]),
    ({**DAY, "org": "x" * 65}, ["org"]),
    (
        {"start": "soon", "category": "nope", "interval": "-1 day"},
        ["category", "end", "interval", "start"],
    ),
]


@pytest.mark.parametrize(("params", "fields"), BAD_PARAMETERS)
async def test_bad_parameters(
    client: Client, admin_headers: dict[str, str], params: dict[str, str], fields: list[str]
) -> None:
    """Each bad parameter is a 400 whose validations name it."""
    status, body = await get_report(client, admin_headers, **params)
    assert status == 400, body
    assert sorted({v["field"] for v in body["validations"]}) == fields
    assert all(v["detail"] for v in body["validations"])
    assert body["message"].startswith("Invalid report parameter")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=%FF%FE&end=2026-11-25T00:00:00Z", "start"),
        ("start=2026-11-24T00:00:00Z&end=2026-11-25T00:00:00Z&interval=%00", "interval"),
        ("start=2026-11-24T00:00:00Z&end=2026-11-25T00:00:00Z&org=%00", "org"),
        ("start=2026-11-24T00:00:00Z&end=2026-11-25T00:00:00Z&category=%C3%A9", "category"),
        ("start=2026-11-24T00:00:00Z&start=2026-11-23T00:00:00Z&end=2026-11-25T00:00:00Z", "start"),
    ],
)
async def test_junk_query_strings(
    client: Client, admin_headers: dict[str, str], query: str, field: str
) -> None:
    """Undecodable bytes, NULs and repeated parameters are 400s, never 500s."""
    response = await client.get(yarl.URL(f"{REPORT}?{query}", encoded=True), headers=admin_headers)
    body = await response.json()
    assert response.status == 400, body
    assert [v["field"] for v in body["validations"]] == [field]


async def test_unknown_organization(client: Client, admin_headers: dict[str, str]) -> None:
    """An ``org`` naming no organization is a 404."""
    status, body = await get_report(client, admin_headers, **DAY, org="nope")
    assert status == 404
    assert body == {"message": "Organization 'nope' does not exist."}


async def test_plus_offset_sent_unencoded(client: Client, admin_headers: dict[str, str]) -> None:
    """A ``+05:30`` offset whose ``+`` arrived as a space (unencoded) is still understood."""
    query = "start=2026-11-24T00:00:00+05:30&end=2026-11-25T00:00:00+05:30"
    response = await client.get(yarl.URL(f"{REPORT}?{query}", encoded=True), headers=admin_headers)
    assert response.status == 200
    body = await response.json()
    assert [b["time"] for b in body["activity"]] == ["2026-11-23T18:30:00Z"]
