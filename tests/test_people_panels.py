"""The people dashboard's SQL panels, run as Grafana runs them, count what was active.

Every SQL target of the generated dashboard is filled in with Grafana's macros and variables
and run on a real PostgreSQL store; its rows must equal the panel's numbers computed here from
the events themselves: hours counted by their start (``from`` ≤ start ≤ ``to``), ``any`` as
the union over organizations or categories.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from exporter.config import Config
from exporter.events import Event
from exporter.model import Category
from exporter.store import Store
from tests.conftest import PostgresDatabases
from tests.grafana_macros import expand
from tests.report_helpers import put_organization, put_user
from tests.support import T0, FakeClock, open_days_from

DASHBOARD = Path(__file__).resolve().parent.parent / "grafana/dashboards/usage-metrics-people.json"
DAY = 86400
FIRST_DAY = int(T0.timestamp()) // DAY - 6  # six closed days, then T0's day (open)
ORGANIZATIONS = {"o-alpha": "alpha", "o-beta": "beta"}
USERS = {"u1": ("ada", "Ada"), "u2": ("alan", "Alan"), "u3": ("grace", "Grace")}
CATEGORIES = [Category.IDE, Category.LOGIN, Category.APP, Category.TUNNEL, Category.WEB_TERMINAL]

Minutes = dict[tuple[str, str, str, int], set[int]]
"""(organization name or ``any``, category token or ``any``, user, hour start) -> minutes"""


def _events() -> list[Event]:
    """Sessions of every kind on seven days, at night, in the working day and late at night."""
    rng = random.Random(27)
    events = []
    for day in range(FIRST_DAY, FIRST_DAY + 7):
        for user in USERS:
            for start_hour in (0, 1, 7, 9, 13, 16, 21, 23):
                start = day * DAY + start_hour * 3600
                if rng.random() < 0.35 or start > T0.timestamp() - 3600:
                    continue
                organization = rng.choice(list(ORGANIZATIONS))
                first = day * 1440 + start_hour * 60 + rng.randrange(60)
                for category in rng.sample(CATEGORIES, rng.randint(1, 3)):
                    length = 1 if category is Category.LOGIN else rng.randint(5, 150)
                    begin = first + rng.randrange(30)
                    events.append(Event(user, organization, category, begin, begin + length))
    return events


def _minutes(events: list[Event]) -> Minutes:
    """Active minutes per slice, user and hour, with the ``any`` unions."""
    minutes: Minutes = defaultdict(set)
    for event in events:
        for minute in range(event.first_minute, event.end_minute):
            hour = minute // 60 * 3600
            for organization in (ORGANIZATIONS[event.organization_id], "any"):
                for category in (event.category.token, "any"):
                    minutes[(organization, category, event.user_id, hour)].add(minute)
    return minutes


@dataclasses.dataclass(frozen=True)
class Case:
    """A dashboard time range and variables."""

    start: dt.datetime
    end: dt.datetime
    organization: str = "any"
    action: str = "any"


def _at(day: int, hour: int, minute: int = 0, second: float = 0) -> dt.datetime:
    """A moment on day ``FIRST_DAY + day``."""
    return dt.datetime.fromtimestamp((FIRST_DAY + day) * DAY, dt.UTC) + dt.timedelta(
        hours=hour, minutes=minute, seconds=second
    )


CASES = [
    Case(_at(0, 0), _at(7, 0)),  # whole days; the last instant is the start of an hour
    Case(_at(0, 14, 30, 0.25), _at(5, 9, 10, 59.999)),  # cut days: closed, read whole
    Case(_at(1, 2, 10), _at(4, 22, 15)),  # cut days: closed, read from their shorter side
    Case(_at(1, 20, 0, 0.5), _at(6, 3, 59)),  # an hour's start just before from; an open day
    Case(_at(2, 9, 0), _at(2, 17, 0)),  # within one day, both ends on an hour
    Case(_at(3, 21, 45), _at(6, 11, 0), "alpha", "any"),
    Case(_at(0, 13, 0), _at(6, 12, 0), "beta", "tunnel"),
    Case(_at(0, 0), _at(7, 0), "any", "ide"),
    Case(_at(2, 0, 30), _at(5, 23, 30), "alpha", "login"),
    Case(_at(-9, 0), _at(-2, 0)),  # nothing active
]


def _expected(minutes: Minutes, case: Case) -> dict[str, list[tuple[Any, ...]]]:
    """Each panel's rows, computed from the minutes."""
    low, high = case.start.timestamp(), case.end.timestamp()
    per_user: dict[str, int] = defaultdict(int)
    days: dict[str, set[int]] = defaultdict(set)
    last: dict[str, int] = {}
    day_users: dict[int, set[str]] = defaultdict(set)
    day_minutes: dict[int, int] = defaultdict(int)
    for (organization, category, user, hour), active in minutes.items():
        if (organization, category) != (case.organization, case.action) or not low <= hour <= high:
            continue
        per_user[user] += len(active)
        days[user].add(hour // DAY)
        last[user] = max(last.get(user, hour), hour)
        day_users[hour // DAY * DAY].add(user)
        day_minutes[hour // DAY * DAY] += len(active)
    total = sum(per_user.values())
    ranked = sorted(per_user, key=lambda user: (-per_user[user], USERS[user][0]))
    return {
        "Active users": [(len(per_user),)],
        "Active hours": [(_hours(total) if per_user else None,)],
        "Hours per active user": [(_hours(total) / len(per_user) if per_user else None,)],
        "Top 10 users by active hours": [
            (USERS[user][0], _hours(per_user[user])) for user in ranked[:10]
        ],
        "Active users per day": [(day, len(day_users[day])) for day in sorted(day_users)],
        "Activity per user": [
            (
                *USERS[user],
                _hours(per_user[user]),
                len(days[user]),
                dt.datetime.fromtimestamp(last[user], dt.UTC),
                user,
            )
            for user in ranked
        ],
        "Active hours per day": [(day, _hours(day_minutes[day])) for day in sorted(day_minutes)],
    }


def _hours(minutes: int) -> Decimal:
    return Decimal(minutes) / 60


def _panels() -> Iterator[tuple[str, str]]:
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["rawSql"]


def _comparable(value: Any) -> Any:
    """Numbers as exact decimals at a fixed scale, so that 1.5 and 1.500 compare equal."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value).quantize(Decimal("1e-12"))
    if isinstance(value, float):
        return Decimal(value).quantize(Decimal("1e-6"))
    return value


@pytest.fixture
async def people_store(postgres_databases: PostgresDatabases) -> AsyncIterator[Store]:
    """A PostgreSQL store holding ``_events()``: six closed days, then an open one."""
    store = Store.open(Config(database_url=postgres_databases.create()), clock=FakeClock())
    await store.migrate()
    for organization_id, name in ORGANIZATIONS.items():
        await put_organization(store, organization_id, name)
    for user_id, (username, name) in USERS.items():
        await put_user(store, user_id, username=username, name=name)
    await open_days_from(store, FIRST_DAY + 6)
    await store.ingest(_events())
    yield store
    await store.close()


async def test_panels_count_what_was_active(people_store: Store) -> None:
    """Every SQL panel, macros filled in, returns the numbers computed from the events."""
    minutes = _minutes(_events())
    seen = set()
    for case in CASES:
        expected = _expected(minutes, case)
        variables = {"organization": case.organization, "action": case.action}
        async with people_store.read() as connection:
            for title, sql in _panels():
                query = expand(sql, start=case.start, end=case.end, variables=variables)
                rows = (await connection.exec_driver_sql(query)).all()
                got = [tuple(_comparable(value) for value in row) for row in rows]
                want = [tuple(_comparable(value) for value in row) for row in expected[title]]
                assert got == want, (title, case)
                seen.add(title)
    assert seen == set(expected)


async def test_the_cases_cover_what_they_claim(people_store: Store) -> None:
    """The data set has activity on every day and category, open and closed, at night too."""
    minutes = _minutes(_events())
    hours = {hour for (_org, _category, _user, hour) in minutes}
    assert {hour // DAY for hour in hours} == set(range(FIRST_DAY, FIRST_DAY + 7))
    assert {hour % DAY // 3600 for hour in hours} >= {0, 2, 22, 23}
    async with people_store.read() as connection:
        open_rows = await connection.scalar(
            sa.text(f"SELECT count(*) FROM activity_days WHERE d{(FIRST_DAY + 6) % 32:02d} <> 0")
        )
    assert open_rows == 0  # T0's day is in the hourly rows only
    for case in CASES[:-1]:
        assert _expected(minutes, case)["Active users"] != [(0,)], case


async def test_the_readers_of_the_view_may_run_the_functions(
    people_store: Store, postgres_admin_url: str
) -> None:
    """Migrating grants the functions to the roles that may read the view, and to no other."""
    url = people_store.engine.url
    conninfo = psycopg.conninfo.make_conninfo(postgres_admin_url, dbname=url.database)
    reader, stranger = (f"{kind}_{url.database}"[:60] for kind in ("reader", "stranger"))
    per_user = "SELECT count(*) FROM usage_activity_per_user(now() - interval '1 year', now(), "
    per_day = "SELECT count(*) FROM usage_activity_per_day(now() - interval '1 year', now(), "
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{reader}"')
        admin.execute(f'CREATE ROLE "{stranger}"')
        try:
            admin.execute(f'GRANT SELECT ON usage_activity_hourly TO "{reader}"')
            admin.execute("UPDATE alembic_version SET version_num = '0008'")
            await people_store.migrate()  # 0009 again, now that the view has a reader
            admin.execute(f'SET ROLE "{reader}"')
            assert admin.execute(per_user + "'any', 'any')").fetchone() == (len(USERS),)
            assert admin.execute(per_day + "'alpha', 'ide')").fetchone() == (7,)
            admin.execute(f'SET ROLE "{stranger}"')
            for sql in (per_user, per_day):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    admin.execute(sql + "'any', 'any')")
        finally:
            admin.execute("RESET ROLE")
            for role in (reader, stranger):
                admin.execute(f'DROP OWNED BY "{role}"')
                admin.execute(f'DROP ROLE "{role}"')
