"""Writing active minutes per UTC day into ``activity_days``, a block of 32 days per row.

A day number *n* (days since the epoch) lives in column ``DAY_COLUMNS[n % 32]`` of block
``n // 32``. Ingest only ever adds minutes to a closed day, in key order (organization,
category, block, user), the order in which every writer locks the rows (prune too, when it
zeroes the days older than the retention, and ``close_days``).

The days from ``first_open_day`` on are open: ingest leaves them to the hourly rows, and
``close_days`` later writes each one's totals at once. On PostgreSQL an ingest holds a shared
advisory lock from before it looks at ``first_open_day`` until it commits, and closing takes
the same lock exclusively first: so closing waits for every batch that may have left a day
open to it, and a batch that starts meanwhile waits and then, in a statement of its own (a
new snapshot), sees the new first open day. Both take it before any other lock, so they
cannot deadlock over it. (A share lock on the state row did the same, but every batch then
wrote a new multixact into that one row: sessions ingest lost a third of its speed.)
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import DAY
from exporter.store.ordering import in_key_order
from exporter.store.schema import (
    DAY_COLUMNS,
    DAYS_PER_BLOCK,
    MASK_COLUMNS,
    activity,
    activity_days,
    day_blocks_state,
)
from exporter.store.sql import popcount_sql
from exporter.store.upsert import insert

DayKey = tuple[str, int, int, str]
"""organization_id, category, day (epoch seconds of its UTC midnight), user_id"""

_KEY = "organization_id, category, block, user_id"
_CHUNK = 1000


class NewMinutes:
    """The minutes an hourly upsert's returned rows added.

    Per (organization, category), and per closed day (before ``open_from``, epoch seconds): the
    minutes the day blocks must add too.
    """

    def __init__(self, open_from: int) -> None:
        self.open_from = open_from
        self.per_group: dict[tuple[str, int], int] = defaultdict(int)
        self.days: dict[DayKey, int] = defaultdict(int)

    def count(self, rows: Iterable[Sequence[Any]]) -> None:
        """Count rows of (organization, hour, user, new minutes per category in column order)."""
        per_group, days, open_from = self.per_group, self.days, self.open_from
        for organization_id, hour, user_id, *counts in rows:
            for category, count in enumerate(counts):
                if count:
                    per_group[(organization_id, category)] += int(count)
                    if hour < open_from:
                        days[(organization_id, category, hour - hour % DAY, user_id)] += int(count)


def upsert_sql(
    source: str,
    *,
    day: str,
    minutes: str,
    where: str = "TRUE",
    only_column: int | None = None,
    insert_only: bool = False,
) -> str:
    """PostgreSQL: ``INSERT … SELECT … ON CONFLICT`` adding ``source``'s minutes to their days.

    ``source`` has the columns organization_id, category and user_id; ``day`` is SQL for a
    row's (non-negative) day number and ``minutes`` for the minutes it adds to that day. Rows
    are summed per block row and written in key order (``COLLATE "C"``: the code point order
    in which Python sorts the hourly rows, and no locale to consult).

    When every row of ``source`` lies on days of one column (``only_column``, a day number
    modulo 32; in practice one day), only that column is summed and written, not all 32.
    ``insert_only``: a plain ``INSERT`` of block rows expected to be new, which fails with a
    unique violation on a stored one.
    """
    block = f"{day} / {DAYS_PER_BLOCK}"
    if only_column is None:
        columns = DAY_COLUMNS
        sums = [
            f"sum(CASE WHEN {day} % {DAYS_PER_BLOCK} = {index} THEN {minutes} ELSE 0 END)"
            for index in range(DAYS_PER_BLOCK)
        ]
    else:
        columns = (DAY_COLUMNS[only_column],)
        sums = [f"sum({minutes})"]
    upsert = f" ON CONFLICT ({_KEY}) DO UPDATE SET " + ", ".join(
        f"{name} = days.{name} + excluded.{name}" for name in columns
    )
    return (
        f"INSERT INTO activity_days AS days ({_KEY}, {', '.join(columns)}) "  # noqa: S608  (only constants and the callers' SQL)
        f"SELECT organization_id, category, {block}, user_id, {', '.join(sums)} "
        f"FROM {source} WHERE {where} "
        f"GROUP BY organization_id, category, {block}, user_id "
        f'ORDER BY organization_id COLLATE "C", category, {block}, user_id COLLATE "C"'
        + ("" if insert_only else upsert)
    )


def place(moment: int) -> tuple[int, int]:
    """The block and the column index of the day that ``moment`` (epoch seconds) falls on."""
    return divmod(moment // DAY, DAYS_PER_BLOCK)


def only_column(times: Iterable[int]) -> int | None:
    """The one day column that the days of ``times`` (epoch seconds) share, if they share one."""
    columns = {place(moment)[1] for moment in times}
    return columns.pop() if len(columns) == 1 else None


async def add_days(connection: AsyncConnection, days: Mapping[DayKey, int]) -> None:
    """Add minutes to days, through SQLAlchemy (the path of SQLite)."""
    if not days:
        return
    statement = insert(activity_days, connection.dialect.name)
    statement = statement.on_conflict_do_update(
        index_elements=[column.name for column in activity_days.primary_key.columns],
        set_={name: activity_days.c[name] + statement.excluded[name] for name in DAY_COLUMNS},
    )
    rows = await asyncio.to_thread(_block_rows, days)  # CPU-bound for large batches
    for start in range(0, len(rows), _CHUNK):
        await connection.execute(statement, rows[start : start + _CHUNK])


def _block_rows(days: Mapping[DayKey, int]) -> list[dict[str, object]]:
    """The ``activity_days`` rows that add ``days``' minutes, in key order."""
    blocks: dict[tuple[str, int, int, str], dict[str, int]] = defaultdict(dict)
    for (organization_id, category, day, user_id), minutes in days.items():
        block, index = place(day)
        columns = blocks[(organization_id, int(category), block, user_id)]
        columns[DAY_COLUMNS[index]] = columns.get(DAY_COLUMNS[index], 0) + minutes
    return [
        {
            "organization_id": organization_id,
            "category": category,
            "block": block,
            "user_id": user_id,
            **{name: columns.get(name, 0) for name in DAY_COLUMNS},
        }
        for (organization_id, category, block, user_id), columns in in_key_order(blocks)
    ]


CLOSING_LOCK = 0x75736167_65646179
"""The advisory lock key that ingest takes shared and closing exclusively (ASCII "usageday")."""


async def first_open_day(connection: AsyncConnection, *, for_ingest: bool = False) -> int:
    """The first day number whose minutes the day blocks do not hold yet.

    ``for_ingest`` keeps it from moving until the caller's transaction ends (PostgreSQL; a
    SQLite writer has the database to itself).
    """
    if for_ingest and connection.dialect.name == "postgresql":
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(CLOSING_LOCK)))
    return await _read_first_open_day(connection)


async def _read_first_open_day(connection: AsyncConnection) -> int:
    statement = sa.select(day_blocks_state.c.first_open_day).where(day_blocks_state.c.id == 1)
    return int((await connection.execute(statement)).scalar_one())


async def close_days(connection: AsyncConnection, *, before: int) -> int:
    """Close every open day before day number ``before``; the first open day afterwards.

    The days closed are the first open day and the later ones that have hourly rows; an open
    day after the first is never written at ingest, so one without hours has nothing to
    close. Each is rewritten whole from the hourly rows, including rows whose column held
    minutes already (set to the hours' total, or to zero when the hours hold none).
    """
    first_open = await _read_first_open_day(connection)
    # Nothing to close is the usual answer: given without the lock, ingest is not held back.
    if first_open < before and connection.dialect.name == "postgresql":
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(CLOSING_LOCK)))
        first_open = await _read_first_open_day(connection)  # another replica may have closed
    if first_open >= before:
        return first_open
    # Only days with hours can have minutes: a service that was stopped for a month closes
    # the days it was away in a handful of statements, not thirty. The first open day may
    # hold minutes written before it opened (the migration opened a day already begun).
    hours = (
        sa.select(activity.c.hour // DAY)
        .where(activity.c.hour >= first_open * DAY, activity.c.hour < before * DAY)
        .distinct()
    )
    days = {first_open, *(int(day) for day in (await connection.execute(hours)).scalars())}
    for day in sorted(days):
        await connection.execute(_close_day_sql(day, connection.dialect.name))
    await connection.execute(
        sa.update(day_blocks_state).where(day_blocks_state.c.id == 1).values(first_open_day=before)
    )
    return before


def _close_day_sql(day: int, dialect: str) -> sa.TextClause:
    """Set one day's column of every block row to that day's total of hourly minutes."""
    block, index = divmod(day, DAYS_PER_BLOCK)
    column = DAY_COLUMNS[index]
    order = (
        'ORDER BY organization_id COLLATE "C", category, user_id COLLATE "C" '
        if dialect == "postgresql"
        else ""
    )
    hours = " UNION ALL ".join(
        f"SELECT organization_id, {category} AS category, user_id, "  # noqa: S608
        f"CAST({popcount_sql(mask, dialect)} AS SMALLINT) AS minutes FROM activity "
        f"WHERE hour >= {day * DAY} AND hour < {(day + 1) * DAY} AND {mask} <> 0"
        for category, mask in enumerate(MASK_COLUMNS)
    )
    return sa.text(
        f"INSERT INTO activity_days AS days ({_KEY}, {column}) "  # noqa: S608  (constants only)
        f"SELECT organization_id, category, {block}, user_id, sum(minutes) FROM ("
        f"{hours} UNION ALL "
        f"SELECT organization_id, category, user_id, 0 FROM activity_days "
        f"WHERE block = {block} AND {column} <> 0"
        f") AS day_minutes WHERE TRUE "  # WHERE: SQLite's INSERT … SELECT … ON CONFLICT needs one
        f"GROUP BY organization_id, category, user_id {order}"
        f"ON CONFLICT ({_KEY}) DO UPDATE SET {column} = excluded.{column}"
    )
