"""The day blocks ``activity_days``: exact at ingest, pruned, backfilled, read by reports.

The store is not reset between Hypothesis examples, so each example works under fresh user
and organization ids and compares only the rows of those ids.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import itertools
import uuid
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.events import Event
from exporter.model import DAY, Category
from exporter.refresh import Refresher
from exporter.report import build_report, parse_parameters
from exporter.store import Store, bulk_postgresql, day_blocks, ingest
from exporter.store.gauges import prune
from exporter.store.listing import list_users
from exporter.store.schema import (
    DAY_COLUMNS,
    DAYS_PER_BLOCK,
    LAST_SEEN_COLUMNS,
    MASK_COLUMNS,
    activity,
    activity_days,
    last_seen,
)
from exporter.store.sql import popcount_sql
from tests.support import T0, FakeClock, RawEvent, open_days_from, raw_to_events

FIRST_MINUTE = int(T0.timestamp()) // 60 - 3 * 1440  # events start in the three days before T0

# (user, organization, category, start minute after FIRST_MINUTE, minutes; 0 = point event)
raw_events = st.tuples(
    st.integers(0, 2),
    st.integers(0, 1),
    st.sampled_from([c for c in Category if c is not Category.ANY]),
    st.integers(0, 2 * 1440 - 1),
    st.integers(0, 60) | st.integers(0, 1440),  # sessions last at most a day
)
batches = st.lists(raw_events, min_size=1, max_size=15)


def _events_of(store: Store, raw: list[RawEvent], prefix: str) -> list[Event]:
    return raw_to_events(store, raw, prefix, FIRST_MINUTE)


async def _daily_and_hourly_sums(
    store: Store, prefix: str
) -> tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...], int]]:
    """The non-zero days of a prefix's day blocks, and its hourly minutes summed per day."""
    async with store.read() as connection:
        daily = {}
        for r in await connection.execute(
            sa.select(activity_days).where(activity_days.c.user_id.startswith(prefix))
        ):
            for index, name in enumerate(DAY_COLUMNS):
                if minutes := r._mapping[name]:
                    day = (r.block * DAYS_PER_BLOCK + index) * DAY
                    daily[(r.organization_id, r.category, day, r.user_id)] = minutes
        sums: dict[tuple[Any, ...], int] = defaultdict(int)
        for r in await connection.execute(
            sa.select(activity).where(activity.c.user_id.startswith(prefix))
        ):
            for category, name in enumerate(MASK_COLUMNS):
                if minutes := r._mapping[name].bit_count():
                    key = (r.organization_id, category, r.hour - r.hour % DAY, r.user_id)
                    sums[key] += minutes
    return daily, dict(sums)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=batches,
    cuts=st.lists(st.integers(0, 15), max_size=3),
    replays=st.lists(st.integers(0, 3), max_size=3),
    chunk=st.sampled_from([None, 3]),
)
async def test_daily_rows_are_the_hourly_minutes_summed_per_day(
    store: Store, raw: list[RawEvent], cuts: list[int], replays: list[int], chunk: int | None
) -> None:
    """After parts ingested at once, one by one and replayed, each day holds its hours' sum."""
    prefix = f"p{uuid.uuid4().hex[:10]}-"
    bounds = sorted({0, len(raw), *(min(c, len(raw)) for c in cuts)})
    parts = [raw[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    with pytest.MonkeyPatch.context() as patch:
        if chunk is not None:  # the path for batches larger than one statement
            patch.setattr(bulk_postgresql, "_CHUNK", chunk)
            patch.setattr(ingest, "_CHUNK", chunk)
        await asyncio.gather(*(store.ingest(_events_of(store, part, prefix)) for part in parts))
        for index in replays:
            again = await store.ingest(_events_of(store, parts[index % len(parts)], prefix))
            assert again.new_minutes == 0
    daily, sums = await _daily_and_hourly_sums(store, prefix)
    assert daily == sums
    assert all(0 < minutes <= 1440 for minutes in daily.values())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=batches,
    late=batches,
    first_open=st.integers(0, 3),
    closed=st.integers(0, 3),
    chunk=st.sampled_from([None, 3]),
)
async def test_open_days_wait_for_closing(
    store: Store,
    *,
    raw: list[RawEvent],
    late: list[RawEvent],
    first_open: int,
    closed: int,
    chunk: int | None,
) -> None:
    """Open days stay out of the blocks until closed; then they, and later events, are exact."""
    prefix = f"o{uuid.uuid4().hex[:10]}-"
    first_day = FIRST_MINUTE // 1440
    await open_days_from(store, first_day + first_open)
    with pytest.MonkeyPatch.context() as patch:
        if chunk is not None:
            patch.setattr(bulk_postgresql, "_CHUNK", chunk)
            patch.setattr(ingest, "_CHUNK", chunk)
        await store.ingest(_events_of(store, raw, prefix))
        daily, sums = await _daily_and_hourly_sums(store, prefix)
        open_from = (first_day + first_open) * DAY
        assert daily == {key: minutes for key, minutes in sums.items() if key[2] < open_from}
        async with store.write() as connection:
            before = first_day + first_open + closed
            assert await day_blocks.close_days(connection, before=before) == max(
                before, first_day + first_open
            )
            assert await day_blocks.first_open_day(connection) == before
        await store.ingest(_events_of(store, late + raw, prefix))  # late events, and replays
    daily, sums = await _daily_and_hourly_sums(store, prefix)
    assert daily == {key: minutes for key, minutes in sums.items() if key[2] < before * DAY}


async def test_closing_rewrites_a_day_the_blocks_held_already(store: Store) -> None:
    """A day that was closed, then opened again (the migration opens a day already begun).

    Closing it sets its column to the hours' total rather than adding to it, and zeroes the
    column of a row whose hours are gone.
    """
    prefix = "reopen-"
    raw = [(0, 0, Category.IDE, 600, 30), (1, 0, Category.APP, 700, 5)]
    await store.ingest(_events_of(store, raw, prefix))  # a closed day: written at ingest
    day = (FIRST_MINUTE + 600) // 1440
    async with store.write() as connection:
        await connection.execute(sa.delete(activity).where(activity.c.user_id == f"{prefix}u1"))
    await open_days_from(store, day)
    await store.ingest(_events_of(store, [(0, 0, Category.IDE, 620, 30)], prefix))
    async with store.write() as connection:
        await day_blocks.close_days(connection, before=day + 1)
    daily, sums = await _daily_and_hourly_sums(store, prefix)
    assert daily == sums
    assert sums[(f"{prefix}o0", Category.IDE, day * DAY, f"{prefix}u0")] == 50


async def test_the_refresher_closes_the_days_that_ended(store: Store, clock: FakeClock) -> None:
    """Once a UTC day has ended, the background task writes it into the blocks."""
    prefix = "refresher-"
    first_day = FIRST_MINUTE // 1440
    await open_days_from(store, first_day)
    await store.ingest(_events_of(store, [(0, 0, Category.TUNNEL, 100, 1000)], prefix))
    daily, _ = await _daily_and_hourly_sums(store, prefix)
    assert daily == {}
    refresher = Refresher(store, interval=3600)
    await refresher.close_days_if_due()
    daily, sums = await _daily_and_hourly_sums(store, prefix)
    assert daily == sums
    assert len(sums) == 2 * 4  # two days, each with the real row and three unions
    async with store.read() as connection:
        assert await day_blocks.first_open_day(connection) == int(clock() // DAY)


async def test_ingest_and_closing_at_once_lose_nothing(store: Store) -> None:
    """Batches on a day while it closes: each lands in its hours or, after, in its block.

    On PostgreSQL a batch holds an advisory lock shared, so closing waits for the batches that
    saw the day open, and those after it see it closed.
    """
    prefix = "race-"
    first_day = FIRST_MINUTE // 1440
    for round_ in range(3):
        await open_days_from(store, first_day)
        batches_ = [
            _events_of(store, [(user, 0, Category.IDE, 60 * round_ + user, 20)], prefix)
            for user in range(6)
        ]

        async def close() -> None:
            async with store.write() as connection:
                await day_blocks.close_days(connection, before=first_day + 1)

        await asyncio.gather(
            *(store.ingest(batch) for batch in batches_[:3]),
            close(),
            *(store.ingest(batch) for batch in batches_[3:]),
        )
        daily, sums = await _daily_and_hourly_sums(store, prefix)
        assert daily == sums


@pytest.mark.parametrize("days_apart", [1, DAYS_PER_BLOCK])
async def test_one_batch_over_two_blocks(store: Store, days_apart: int) -> None:
    """A batch on the last day of a block and a later day lands in both blocks' columns.

    One day later is the next block's first column; 32 days later the same column of the next
    block, which a batch writes with one column for all its rows.
    """
    prefix = f"blocks{days_apart}-"
    last_of_block = (int(T0.timestamp()) // DAY - 40) // DAYS_PER_BLOCK * DAYS_PER_BLOCK - 1
    first_minute = last_of_block * 1440
    raw = [
        (0, 0, Category.IDE, 600, 30),
        (0, 0, Category.IDE, days_apart * 1440 + 600, 45),
        (1, 0, Category.APP, 1400, 90),  # over midnight into the next day
    ]
    await store.ingest(raw_to_events(store, raw, prefix, first_minute))
    daily, sums = await _daily_and_hourly_sums(store, prefix)
    assert daily == sums
    blocks = {key[2] // DAY // DAYS_PER_BLOCK for key in daily}
    assert blocks == {last_of_block // DAYS_PER_BLOCK, last_of_block // DAYS_PER_BLOCK + 1}


async def test_pruning_deletes_days_wholly_older_than_the_retention(
    store: Store, clock: FakeClock
) -> None:
    """Days that ended before now - retention go; the day the horizon falls in stays.

    (The fixed T0 puts the three days into one block, whose older days are zeroed.)
    """
    prefix = "prune-"
    raw = [(0, 0, Category.IDE, 0, 10), (0, 0, Category.IDE, 2 * 1440 + 600, 10)]
    await store.ingest(_events_of(store, raw, prefix))
    first_day = FIRST_MINUTE * 60 // DAY * DAY
    clock.set(dt.datetime.fromtimestamp(first_day + 2 * DAY + 3600, dt.UTC))
    async with store.write() as connection:
        await prune(connection, now=clock(), retention=DAY)  # the horizon: day 1, 01:00
    daily, sums = await _daily_and_hourly_sums(store, prefix)
    assert {key[2] for key in daily} == {first_day + 2 * DAY}
    assert daily == sums
    async with store.write() as connection:
        await prune(connection, now=clock() + DAYS_PER_BLOCK * DAY, retention=DAY)
        left = await connection.execute(
            sa.select(sa.func.count()).where(activity_days.c.user_id.startswith(prefix))
        )
        assert left.scalar_one() == 0  # the whole block went


async def test_migrations_backfill_the_day_blocks(store: Store) -> None:
    """Upgrading from revision 0002 fills the daily rows from the hours, then the blocks."""
    raw = [(0, 0, Category.IDE, 100, 1440), (1, 1, Category.APP, 1400, 90)]
    await store.ingest(_events_of(store, raw, "mig-"))
    before, _ = await _daily_and_hourly_sums(store, "mig-")
    assert before
    async with store.write() as connection:
        await connection.execute(sa.text("DROP TABLE activity_days"))
        # Undo what 0005 to 0007 did as well: a table and a dropped index, columns, rows.
        await connection.execute(sa.text("DROP TABLE day_blocks_state"))
        await _before_0007(connection)  # first: it reads the wide "last seen"
        await _narrow_last_seen(connection)
        await connection.execute(
            sa.text("CREATE INDEX ix_last_seen_last_minute ON last_seen (last_minute)")
        )
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0002'"))
    await store.migrate()
    after, sums = await _daily_and_hourly_sums(store, "mig-")
    assert after == before == sums


async def _narrow_last_seen(connection: AsyncConnection) -> None:
    """Give ``last_seen`` its shape before 0006 (a row per category), with the same minutes."""
    unpivoted = " UNION ALL ".join(
        f"SELECT organization_id, {category} AS category, user_id, {name} AS last_minute "
        f"FROM last_seen WHERE {name} IS NOT NULL"
        for category, name in enumerate(LAST_SEEN_COLUMNS)
    )
    await _rebuild(
        connection,
        "last_seen",
        unpivoted,
        "CREATE TABLE last_seen (organization_id VARCHAR(64) NOT NULL, "
        "category SMALLINT NOT NULL, user_id VARCHAR(64) NOT NULL, "
        "last_minute BIGINT NOT NULL, "
        "CONSTRAINT pk_last_seen PRIMARY KEY (organization_id, category, user_id))",
    )


async def _rebuild(connection: AsyncConnection, table: str, rows: str, create: str) -> None:
    """Replace ``table`` with the one that ``create`` makes, holding the rows of ``rows``."""
    await connection.execute(sa.text(f"CREATE TABLE narrow_copy AS {rows}"))
    await connection.execute(sa.text(f"DROP TABLE {table}"))
    await connection.execute(sa.text(create))
    await connection.execute(sa.text(f"INSERT INTO {table} SELECT * FROM narrow_copy"))
    await connection.execute(sa.text("DROP TABLE narrow_copy"))


async def _before_0007(connection: AsyncConnection) -> None:
    """Give ``activity``, its reader view and ``users`` their shape before 0007.

    A row per category, and each user's last activity in a column of ``users``.
    """
    await connection.execute(sa.text("ALTER TABLE users ADD COLUMN last_activity_at BIGINT"))
    await connection.execute(
        sa.text(
            "UPDATE users SET last_activity_at = (SELECT last_any FROM last_seen "
            "WHERE organization_id = '*' AND last_seen.user_id = users.id)"
        )
    )
    unpivoted = " UNION ALL ".join(
        f"SELECT organization_id, {category} AS category, hour, user_id, {name} AS mask, "
        f"{popcount_sql(name, connection.dialect.name)} AS minutes, 0 AS added "
        f"FROM activity WHERE {name} <> 0"
        for category, name in enumerate(MASK_COLUMNS)
    )
    await connection.execute(sa.text("DROP VIEW usage_activity_hourly"))
    await connection.execute(sa.text("DROP VIEW usage_organizations"))
    await _before_0008(connection)
    await _rebuild(
        connection,
        "activity",
        unpivoted,
        "CREATE TABLE activity (organization_id VARCHAR(64) NOT NULL, "
        "category SMALLINT NOT NULL, hour BIGINT NOT NULL, user_id VARCHAR(64) NOT NULL, "
        "mask BIGINT NOT NULL, minutes SMALLINT NOT NULL, added SMALLINT NOT NULL, "
        "CONSTRAINT pk_activity PRIMARY KEY (organization_id, category, hour, user_id))",
    )
    await connection.execute(sa.text("CREATE INDEX ix_activity_hour ON activity (hour)"))
    await connection.run_sync(_reader_views_of_0002)


async def _before_0008(connection: AsyncConnection) -> None:
    """Take away what 0008 added: users' status and sources, the sources' positions."""
    for table, column in (("users", "status"), ("users", "source"), ("organizations", "source")):
        await connection.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    await connection.execute(sa.text("DROP TABLE source_positions"))
    await connection.execute(sa.text("DROP TABLE source_passes"))


def _reader_views_of_0002(connection: sa.Connection) -> None:
    """The reader views as migration 0002 made them: 0007 replaces one in place."""
    migration = importlib.import_module("exporter.store.migrations.versions.0002_reader_views")
    with Operations.context(MigrationContext.configure(connection)):
        migration.upgrade()


async def test_migration_0007_keeps_every_minute(store: Store) -> None:
    """A mask column per category: every hour's minutes come through, reports unchanged."""
    raw = [
        (0, 0, Category.IDE, 100, 30),
        (0, 0, Category.LOGIN, 110, 0),
        (0, 1, Category.APP, 1400, 90),
        (1, 1, Category.TUNNEL, 600, 5),
        (1, 1, Category.WEB_TERMINAL, 590, 20),
    ]
    await store.ingest(_events_of(store, raw, "hours-"))
    wanted = activity.c.user_id.startswith("hours-")
    columns = [activity.c[name] for name in ("organization_id", "hour", "user_id", *MASK_COLUMNS)]
    params = {"start": "2026-11-10T00:00:00Z", "end": "2026-11-25T00:00:00Z", "interval": "1 day"}
    async with store.read() as connection:
        before = sorted(map(tuple, await connection.execute(sa.select(*columns).where(wanted))))
    report = await _report(store, params)
    last_activity = await _users_last_activity(store, "hours-")
    assert sorted(moment for moment in last_activity.values() if moment is not None) == [
        FIRST_MINUTE * 60 + (590 + 19) * 60,  # u1's web terminal, after the tunnel
        FIRST_MINUTE * 60 + (1400 + 89) * 60,  # u0's app session, over midnight
    ]
    assert len(before) == 2 * 6  # six (organization, hour, user) rows, as many under "*"
    async with store.write() as connection:
        await _before_0007(connection)
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
    await store.migrate()
    async with store.read() as connection:
        after = sorted(map(tuple, await connection.execute(sa.select(*columns).where(wanted))))
    assert after == before
    assert await _report(store, params) == report
    assert await _users_last_activity(store, "hours-") == last_activity


async def test_migration_0007_keeps_what_was_granted_on_the_reader_view(store: Store) -> None:
    """PostgreSQL replaces ``usage_activity_hourly`` in place: a reader's grant survives."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no grants")
    reader = f"um_reader_{uuid.uuid4().hex[:8]}"
    can_read = sa.text("SELECT has_table_privilege(:reader, 'usage_activity_hourly', 'SELECT')")
    async with store.write() as connection:
        await connection.execute(sa.text(f"CREATE ROLE {reader}"))
    try:
        async with store.write() as connection:
            await _before_0007(connection)
            await connection.execute(sa.text(f"GRANT SELECT ON usage_activity_hourly TO {reader}"))
            await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
        await store.migrate()
        async with store.read() as connection:
            assert (await connection.execute(can_read, {"reader": reader})).scalar_one()
    finally:
        async with store.write() as connection:
            # Its grants: on the view, and on the functions that 0009 grants the view's readers.
            await connection.execute(sa.text(f"DROP OWNED BY {reader}"))
            await connection.execute(sa.text(f"DROP ROLE {reader}"))


async def _users_last_activity(store: Store, prefix: str) -> dict[str, int | None]:
    async with store.read() as connection:
        listed = await list_users(connection, now=store.clock(), dormancy=DAY)
    return {
        user["id"]: user["last_activity_at"]
        and int(dt.datetime.fromisoformat(user["last_activity_at"]).timestamp())
        for user in listed
        if user["id"].startswith(prefix)
    }


async def test_migration_0006_keeps_every_newest_minute(store: Store) -> None:
    """A column per category: each (organization, user)'s minutes come through, NULL for none."""
    raw = [
        (0, 0, Category.IDE, 100, 30),
        (0, 1, Category.APP, 1400, 90),
        (1, 1, Category.TUNNEL, 600, 5),
        (1, 1, Category.LOGIN, 2000, 0),
    ]
    await store.ingest(_events_of(store, raw, "wide-"))
    wanted = last_seen.c.user_id.startswith("wide-")
    async with store.read() as connection:
        before = sorted(map(tuple, await connection.execute(sa.select(last_seen).where(wanted))))
    # (organization, user) rows: each user's own organizations and "*"
    assert len(before) == 5
    assert all(row[2] is not None for row in before)  # everybody has an "any" minute
    async with store.write() as connection:
        await _before_0007(connection)  # first: it reads the wide "last seen"
        await _narrow_last_seen(connection)
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0005'"))
    await store.migrate()
    async with store.read() as connection:
        after = sorted(map(tuple, await connection.execute(sa.select(last_seen).where(wanted))))
    assert after == before


async def _report(store: Store, params: dict[str, str]) -> dict[str, Any]:
    request = parse_parameters(params)
    async with store.read() as connection:
        return await build_report(connection, request, organization_id=None)


@pytest.mark.parametrize(
    ("start", "end", "interval"),
    [
        ("2026-11-01T00:00:00Z", "2026-11-25T00:00:00Z", "1 day"),
        ("2026-11-02T00:00:00Z", "2026-11-30T00:00:00Z", "1 week"),
        ("2026-09-01T00:00:00Z", "2026-12-01T00:00:00Z", "1 month"),
        ("2026-11-01T00:00:00Z", "2026-11-24T10:30:00Z", "3 days"),
    ],
)
async def test_reports_of_whole_days_read_the_day_blocks(
    store: Store, start: str, end: str, interval: str
) -> None:
    """Deleting the hourly rows of days that no edge cuts leaves a midnight report unchanged."""
    raw = [
        (user, user % 2, category, offset, length)
        for user, category, offset, length in [
            (0, Category.IDE, 10, 1400),
            (1, Category.APP, 700, 90),
            (2, Category.TUNNEL, 1500, 1440),
            (0, Category.LOGIN, 4000, 0),
        ]
    ]
    await store.ingest(_events_of(store, raw, "rep-"))
    params = {"start": start, "end": end, "interval": interval}
    before = await _report(store, params)
    assert before["users"]
    request = parse_parameters(params)
    cut = {int(edge.timestamp()) // DAY * DAY for edge in request.edges if edge.timestamp() % DAY}
    kept = [day + hour * 3600 for day in cut for hour in range(24)]
    async with store.write() as connection:
        deleted = await connection.execute(sa.delete(activity).where(activity.c.hour.not_in(kept)))
        assert deleted.rowcount
    assert await _report(store, params) == before
    async with store.write() as connection:
        await connection.execute(sa.delete(activity_days))
    hours_only = await _report(store, params)
    assert [b["duration"] for b in hours_only["activity"]] == [
        b["duration"] for b in before["activity"]
    ]
    total = sum(user["total_count"] for user in before["users"].values())
    left = sum(user["total_count"] for user in hours_only["users"].values())
    assert left < total
    assert left == 0 or cut
