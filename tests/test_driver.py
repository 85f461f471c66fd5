"""Reads straight from psycopg give SQLAlchemy's rows and raise SQLAlchemy's errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from exporter.config import Config
from exporter.errors import StoreUnavailable
from exporter.store import Store, driver
from exporter.store.schema import users
from tests.conftest import PostgresDatabases
from tests.support import FakeClock, make_token


async def _drain(connection: Any, statement: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """Every row that ``driver.batches`` yields, the iterator closed as the report closes it."""
    async with contextlib.aclosing(driver.batches(connection, statement, size=3)) as read:
        return [row async for batch in read for row in batch]


@pytest.fixture
async def postgres_store(
    postgres_databases: PostgresDatabases, clock: FakeClock
) -> AsyncIterator[Store]:
    """A migrated store on a fresh PostgreSQL database (the driver path is PostgreSQL's)."""
    opened = Store.open(Config(database_url=postgres_databases.create()), clock=clock)
    await opened.migrate()
    yield opened
    await opened.close()


async def test_batches_hold_the_rows_sqlalchemy_reads(postgres_store: Store) -> None:
    """Every row comes back once, as the same values, however small the batches."""
    for index in range(7):
        await make_token(postgres_store, f"user-{index}", roles=[])
    statement = sa.select(users.c.id, users.c.username, users.c.created_at).where(
        users.c.id.in_([f"user-{index}" for index in range(5)])
    )
    async with postgres_store.read() as connection:
        expected = sorted(tuple(row) for row in await connection.execute(statement))
        batches = [batch async for batch in driver.batches(connection, statement, size=2)]
        everything = await _drain(connection, statement)
    assert len(expected) == 5
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert sorted(row for batch in batches for row in batch) == expected
    assert sorted(everything) == expected


async def test_a_cancelled_statement_is_an_unavailable_store(postgres_store: Store) -> None:
    """A statement timeout inside the driver read surfaces as ``StoreUnavailable`` (a 503)."""

    async def sleep_past_the_timeout() -> None:
        async with postgres_store.read() as connection:
            await connection.exec_driver_sql("SET LOCAL statement_timeout = '20ms'")
            await _drain(connection, sa.select(sa.func.pg_sleep(2)))

    with pytest.raises(StoreUnavailable):
        await sleep_past_the_timeout()


async def test_a_bad_statement_is_sqlalchemys_error(postgres_store: Store) -> None:
    """An error of the statement itself keeps its SQLAlchemy class, with the original inside."""
    async with postgres_store.read() as connection:
        with pytest.raises(sa.exc.DataError) as raised:
            await _drain(connection, sa.select(sa.literal(1) / sa.literal(0)))
    assert raised.value.orig is not None


async def test_statements_of_one_shape_read_their_own_values(postgres_store: Store) -> None:
    """A shape is compiled once; each statement of it still reads with its own parameters."""
    for index in range(6):
        await make_token(postgres_store, f"user-{index}", roles=[])

    def between(low: int, high: int) -> sa.Select[Any]:
        return sa.select(users.c.id).where(users.c.id >= f"user-{low}", users.c.id < f"user-{high}")

    async with postgres_store.read() as connection:
        first = await _drain(connection, between(0, 2))
        second = await _drain(connection, between(3, 6))
    # The very string of one compilation, not an equal one compiled again.
    sql = driver.compiled(between(0, 2), connection.dialect)[0]
    assert driver.compiled(between(3, 6), connection.dialect)[0] is sql
    assert sorted(first) == [("user-0",), ("user-1",)]
    assert sorted(second) == [("user-3",), ("user-4",), ("user-5",)]


async def test_in_lists_of_any_length_read_their_own_values(postgres_store: Store) -> None:
    """An ``IN`` list's SQL depends on its length: such statements are compiled every time."""
    for index in range(4):
        await make_token(postgres_store, f"user-{index}", roles=[])

    def among(*indexes: int) -> sa.Select[Any]:
        return sa.select(users.c.id).where(users.c.id.in_([f"user-{i}" for i in indexes]))

    async with postgres_store.read() as connection:
        one = await _drain(connection, among(1))
        three = await _drain(connection, among(0, 2, 3))
    assert one == [("user-1",)]
    assert sorted(three) == [("user-0",), ("user-2",), ("user-3",)]
