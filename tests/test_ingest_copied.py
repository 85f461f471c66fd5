"""``Store.ingest_copied`` on PostgreSQL stores exactly what ``ingest_minutes`` stores.

Each test fills two stores, one through each call, with the same cells, and compares every
table that ingest writes (hourly rows with their ``added_*`` counts, day blocks, "last seen",
totals, the directory's placeholders) and the answers. Batches of users the store has never
seen take plain inserts, the others the upsert; both are covered, and a race between them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import Config
from exporter.model import DAY, HOUR, Category
from exporter.store import Store
from exporter.store.ingest import Minutes, ensure_placeholders, store_minutes
from exporter.store.schema import activity, activity_days, activity_totals, last_seen
from tests.conftest import PostgresDatabases
from tests.support import T0, FakeClock, directory_state, open_days_from

IDE = int(Category.IDE)
LOGIN = int(Category.LOGIN)
TUNNEL = int(Category.TUNNEL)
HOUR_0 = int(T0.timestamp()) // DAY * DAY  # midnight of the clock's day
REAL = [int(category) for category in Category if category is not Category.ANY]


def copy_rows(minutes: Minutes) -> list[str]:
    """The COPY text rows of ``minutes``: user, organization, category, hour, mask."""
    return [
        f"{user}\t{organization}\t{category}\t{hour}\t{mask}\n"
        for (organization, category, hour, user), mask in minutes.items()
    ]


async def state(store: Store, prefix: str = "") -> dict[str, Any]:
    """Every row that ingest writes, of the ids starting ``prefix``, with the prefix taken out."""
    found: dict[str, Any] = {}
    async with store.read() as connection:
        for table in (activity, activity_days, last_seen):
            rows = await connection.execute(
                sa.select(table).where(table.c.user_id.startswith(prefix))
            )
            found[table.name] = sorted(
                tuple(str(value).removeprefix(prefix) for value in row) for row in rows
            )
        rows = await connection.execute(
            sa.select(activity_totals).where(activity_totals.c.organization_id.startswith(prefix))
        )
        found["totals"] = sorted(tuple(str(v).removeprefix(prefix) for v in row) for row in rows)
    if not prefix:
        found["directory"] = await directory_state(store)
    return found


@pytest.fixture
async def stores(
    postgres_databases: PostgresDatabases, clock: FakeClock
) -> AsyncIterator[tuple[Store, Store]]:
    """Two migrated stores on fresh PostgreSQL databases, one clock."""
    pair = []
    for _ in range(2):
        opened = Store.open(Config(database_url=postgres_databases.create()), clock=clock)
        await opened.migrate()
        pair.append(opened)
    yield pair[0], pair[1]
    for opened in pair:
        await opened.close()


def cells(*items: tuple[str, int, int, str, int]) -> Minutes:
    """Cells keyed (organization, category, hour, user)."""
    return {(org, category, hour, user): mask for org, category, hour, user, mask in items}


FIRST = cells(
    ("o1", IDE, HOUR_0 - 3 * DAY, "u1", 0b1111),
    ("o1", TUNNEL, HOUR_0 - 3 * DAY, "u1", 0b110000),
    ("o2", IDE, HOUR_0 - 3 * DAY + HOUR, "u1", 1 << 59),
    ("o1", LOGIN, HOUR_0 - 40 * DAY, "u2", 1),
)
SECOND = cells(
    ("o1", IDE, HOUR_0 - 3 * DAY, "u1", 0b111100),  # overlaps the first's minutes 2-3
    ("o2", TUNNEL, HOUR_0 - 3 * DAY, "u1", 0b11),  # a minute of o1's tunnel, now in o2
    ("o3", IDE, HOUR_0 + 2 * HOUR, "u3", 1 << 30),  # today
    ("o1", LOGIN, HOUR_0 - 40 * DAY, "u2", 1),  # stored already
)


async def test_copied_cells_store_what_ingest_minutes_stores(stores: tuple[Store, Store]) -> None:
    """Cells on closed days, with and without stored rows under them, store the same rows."""
    by_minutes, by_copy = stores
    first = await by_minutes.ingest_minutes(FIRST)
    assert await by_copy.ingest_copied(copy_rows(FIRST)) == first
    assert (first.minutes, first.new_minutes) == (8, 8)
    second = await by_minutes.ingest_minutes(SECOND)
    assert await by_copy.ingest_copied(copy_rows(SECOND)) == second
    assert (second.minutes, second.new_minutes) == (8, 5)
    assert await state(by_copy) == await state(by_minutes)


async def test_an_element_may_hold_a_cells_rows(stores: tuple[Store, Store]) -> None:
    """Rows joined per (user, organization, hour), as the Coder source sends them, store the same.

    ``accepted`` counts the rows, not the elements.
    """
    by_minutes, by_copy = stores
    joined: dict[tuple[str, str, int], str] = {}
    for row in copy_rows(FIRST):
        user, organization, _, hour, _ = row.split("\t")
        key = (user, organization, int(hour))
        joined[key] = joined.get(key, "") + row
    assert len(joined) < len(FIRST)
    result = await by_copy.ingest_copied(list(joined.values()))
    assert result == await by_minutes.ingest_minutes(FIRST)
    assert result.accepted == len(FIRST)
    assert await state(by_copy) == await state(by_minutes)


async def test_open_days_are_left_to_the_hourly_rows(stores: tuple[Store, Store]) -> None:
    """With the clock's day open, only the closed days' minutes reach the day blocks."""
    for store in stores:
        await open_days_from(store, HOUR_0 // DAY)
    by_minutes, by_copy = stores
    assert await by_copy.ingest_copied(copy_rows(SECOND)) == await by_minutes.ingest_minutes(SECOND)
    copied = await state(by_copy)
    assert copied == await state(by_minutes)
    assert any(row[0] == "o3" for row in copied["activity"])
    assert not any(row[0] == "o3" for row in copied["activity_days"])


async def test_a_replay_changes_nothing(stores: tuple[Store, Store]) -> None:
    """Copying the same cells again adds no minute and writes nothing new."""
    _, store = stores
    await store.ingest_copied(copy_rows(FIRST))
    before = await state(store)
    again = await store.ingest_copied(copy_rows(FIRST))
    assert (again.accepted, again.minutes, again.new_minutes) == (4, 8, 0)
    assert await state(store) == before


async def _wait_for_lock_wait(store: Store, statement_start: str) -> None:
    """Return once a session of ``store`` waits for a lock in a statement so beginning."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND ltrim(query) LIKE :start"
    )
    for _ in range(500):
        async with store.read() as connection:
            if (await connection.execute(query, {"start": f"{statement_start}%"})).scalar_one():
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no session waited for a lock in {statement_start!r}")


async def test_a_key_stored_meanwhile_is_upserted_on_the_next_attempt(
    stores: tuple[Store, Store], clock: FakeClock
) -> None:
    """A batch of unseen users whose key another writer stores first is upserted after all.

    The other writer's transaction is still open when the batch checks its users, so the
    batch takes plain inserts; they wait on the key and meet it once that transaction
    commits. The batch is tried again with the upsert, counting only the minutes it adds.
    """
    pairs = {(org, user) for org, _, _, user in FIRST}
    for store in stores:  # the directory first, so that only the activity rows are contended
        async with store.write() as connection:
            await ensure_placeholders(connection, pairs, now=clock(), max_organizations=100)
    by_minutes, by_copy = stores
    earlier = cells(("o1", IDE, HOUR_0 - 3 * DAY, "u1", 0b1111))
    assert (await by_minutes.ingest_minutes(earlier)).new_minutes == 4
    async with by_copy.write() as connection:
        await store_minutes(connection, earlier, accepted=1, now=clock(), max_organizations=100)
        copying = asyncio.create_task(by_copy.ingest_copied(copy_rows(FIRST)))
        await _wait_for_lock_wait(by_copy, "WITH written AS")
    result = await copying
    assert result == await by_minutes.ingest_minutes(FIRST)
    assert (result.minutes, result.new_minutes) == (8, 4)
    assert await state(by_copy) == await state(by_minutes)


async def test_a_retry_upserts_whatever_last_seen_says(stores: tuple[Store, Store]) -> None:
    """Plain inserts that meet a stored key are not tried again: the retry upserts.

    Here the store holds u1's hours but, unlike any store that ingest wrote, no "last seen"
    row of u1, so every check would find u1 unseen.
    """
    later = cells(("o1", IDE, HOUR_0 - 3 * DAY, "u1", 0b111100))
    for store in stores:
        await store.ingest_minutes(FIRST)
        async with store.write() as connection:
            await connection.execute(sa.delete(last_seen).where(last_seen.c.user_id == "u1"))
    by_minutes, by_copy = stores
    result = await by_copy.ingest_copied(copy_rows(later))
    assert result == await by_minutes.ingest_minutes(later)
    assert (result.minutes, result.new_minutes) == (4, 2)
    assert await state(by_copy) == await state(by_minutes)


async def test_no_rows_store_nothing(stores: tuple[Store, Store]) -> None:
    """An empty batch is answered without a write."""
    _, store = stores
    before = await state(store)
    result = await store.ingest_copied([])
    assert (result.accepted, result.minutes, result.new_minutes) == (0, 0, 0)
    assert await state(store) == before


async def test_sqlite_refuses_copied_cells(tmp_path: Any, clock: FakeClock) -> None:
    """COPY is PostgreSQL's: a SQLite store says so rather than store another way."""
    store = Store.open(Config(database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}"), clock=clock)
    try:
        with pytest.raises(ValueError, match="PostgreSQL"):
            await store.ingest_copied(copy_rows(FIRST))
    finally:
        await store.close()


cell_keys = st.tuples(
    st.integers(0, 2),  # user
    st.integers(0, 2),  # organization
    st.sampled_from(REAL),
    st.integers(-50, 3),  # hours from the clock's hour: closed days and today
)
batches = st.dictionaries(cell_keys, st.integers(1, (1 << 60) - 1), min_size=1, max_size=20)


def _prefixed(batch: dict[tuple[int, int, int, int], int], prefix: str) -> Minutes:
    start = int(T0.timestamp())
    return {
        (f"{prefix}o{org}", category, start + hours * HOUR, f"{prefix}u{user}"): mask
        for (user, org, category, hours), mask in batch.items()
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(batches, min_size=1, max_size=3))
async def test_any_cells_store_alike_either_way(
    stores: tuple[Store, Store], batches: list[dict[tuple[int, int, int, int], int]]
) -> None:
    """Any sequence of batches stores the same rows and answers through either call."""
    by_minutes, by_copy = stores
    prefix = f"p{uuid.uuid4().hex[:10]}-"
    for batch in batches:
        minutes = _prefixed(batch, prefix)
        assert await by_copy.ingest_copied(copy_rows(minutes)) == (
            await by_minutes.ingest_minutes(minutes)
        )
    assert await state(by_copy, prefix) == await state(by_minutes, prefix)
