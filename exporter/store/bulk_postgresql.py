"""PostgreSQL's fast path for ingest: each upsert is one statement over ``unnest`` arrays.

Sending a batch as a handful of array parameters keeps the statement text small and constant,
so neither SQLAlchemy nor psycopg has to build and split a statement with tens of thousands of
placeholders, and the server plans it once. Every statement writes its rows in key order (the
server sorts them), which is the order in which concurrent batches lock them, so they cannot
deadlock.

Each array travels as one comma-separated string that the server splits: psycopg adapts a list
element by element in Python, about 1 µs each, which for the 140,000 values of a batch of
5,000 heartbeats took longer than the statement itself. No value contains a comma: ids are
checked (``exporter.model.check_id``), the rest are ``*`` and integers. For a batch of one
statement "last seen" is computed by the server from the same arrays as the hourly rows, which
took less time than computing it in Python and sending it as arrays of its own. A larger batch
goes in chunks (``exporter.store.hourly``): holding all its arrays at once took more memory
than the rest of the batch, so its "last seen" is computed here, a row per (organization, user).
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import DAY
from exporter.store import day_blocks
from exporter.store.day_blocks import DayKey
from exporter.store.hourly import Groups, Row, built_chunks, newest_minutes, row_count
from exporter.store.schema import ADDED_COLUMNS, LAST_SEEN_COLUMNS, MASK_COLUMNS
from exporter.store.sql import array_parameter


def _split_nullable(name: str) -> str:
    """SQL for the comma-separated parameter ``name`` as a bigint array; empty elements NULL."""
    return f"CAST(string_to_array(:{name}, ',', '') AS bigint[])"


def _split(name: str, sql_type: str = "text") -> str:
    """SQL for the comma-separated parameter ``name`` as an array of ``sql_type``."""
    array = f"string_to_array(:{name}, ',')"
    return array if sql_type == "text" else f"CAST({array} AS {sql_type}[])"


_HOURS = f"""unnest(
        {_split("organizations")}, {_split("hours", "bigint")}, {_split("users")},
        {", ".join(_split(name, "bigint") for name in MASK_COLUMNS)}
    ) AS new (organization_id, hour, user_id, {", ".join(MASK_COLUMNS)})"""
"""A batch's hourly rows, from the parameters that ``_arrays`` makes."""

_NEW_BITS = {name: f"excluded.{name} & ~a.{name}" for name in MASK_COLUMNS}
_COUNT_MASKS = ", ".join(f"bit_count(CAST({name} AS bit(64)))" for name in MASK_COLUMNS)
"""A new row's ``added_*``: all of its bits (counted here rather than sent as six more arrays)."""
_SET_MASKS = ", ".join(f"{name} = a.{name} | excluded.{name}" for name in MASK_COLUMNS)
_SET_ADDED = ", ".join(
    f"{added} = bit_count(CAST({_NEW_BITS[name]} AS bit(64)))"
    for name, added in zip(MASK_COLUMNS, ADDED_COLUMNS, strict=True)
)


def upsert_hours_sql(source: str, *, insert_only: bool = False) -> str:
    """The hourly upsert of ``source``'s rows, returning each written row's new minutes.

    ``source`` is SQL for a table of (organization_id, hour, user_id, a column per
    ``MASK_COLUMNS``): the arrays of a batch, or a temporary table (``copied``). With
    ``insert_only``, a plain ``INSERT`` for rows expected to be new: it fails with a unique
    violation on a stored key, and spares every row the conflict check.
    """
    upsert = f"""
    ON CONFLICT (organization_id, hour, user_id) DO UPDATE SET {_SET_MASKS}, {_SET_ADDED}
    WHERE {" OR ".join(f"{bits} <> 0" for bits in _NEW_BITS.values())}"""
    return f"""
    INSERT INTO activity AS a (
        organization_id, hour, user_id, {", ".join(MASK_COLUMNS)}, {", ".join(ADDED_COLUMNS)}
    )
    SELECT organization_id, hour, user_id, {", ".join(MASK_COLUMNS)}, {_COUNT_MASKS}
    FROM {source}
    ORDER BY organization_id COLLATE "C", hour, user_id COLLATE "C"{"" if insert_only else upsert}
    RETURNING organization_id, hour, user_id, {", ".join(ADDED_COLUMNS)}
    """  # noqa: S608  (only this module's constants and callers' SQL are interpolated, here and below)


_UPSERT_HOURS_SQL = upsert_hours_sql(_HOURS)
_UPSERT_HOURS = sa.text(_UPSERT_HOURS_SQL)

_PER_CATEGORY = ", ".join(f"({category}, {added})" for category, added in enumerate(ADDED_COLUMNS))
_WRITTEN_PER_DAY = f"""(
    SELECT organization_id, category, day, user_id, added
    FROM (
        SELECT organization_id, hour / {DAY} AS day, user_id,
               {", ".join(f"sum({added}) AS {added}" for added in ADDED_COLUMNS)}
        FROM written WHERE hour < :open_from
        GROUP BY organization_id, hour / {DAY}, user_id
    ) AS per_day
    CROSS JOIN LATERAL (VALUES {_PER_CATEGORY}) AS per_category (category, added)
) AS new_bits"""  # noqa: S608
"""The new minutes of the closed days among the rows ``written`` returned, summed per
(organization, day, user) for all categories in one go, then a row per category:
(organization, category, day, user, added)."""

_NEW_DAYS = f"""unnest(
    {_split("organizations")}, {_split("categories", "smallint")}, {_split("days", "bigint")},
    {_split("users")}, {_split("minutes", "smallint")}
) AS new (organization_id, category, day, user_id, minutes)"""


_NEW_PER_GROUP = f"""
    SELECT organization_id, {", ".join(f"sum({added})" for added in ADDED_COLUMNS)}
    FROM written GROUP BY organization_id
"""  # noqa: S608
"""New minutes per organization, a column per category."""


def new_per_group(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, int], int]:
    """``_NEW_PER_GROUP``'s rows as new minutes per (organization, category)."""
    added: dict[tuple[str, int], int] = defaultdict(int)
    for organization_id, *counts in rows:
        for category, count in enumerate(counts):
            added[(organization_id, category)] += int(count)
    return added


_UPSERT_OPEN_HOURS = sa.text(f"WITH written AS ({_UPSERT_HOURS_SQL}) {_NEW_PER_GROUP}")
"""The hourly upsert alone, for a batch wholly on open days; new minutes per group."""


def upsert_activity_sql(source: str, only_column: int | None, *, insert_only: bool = False) -> str:
    """The hourly upsert of ``source`` and, in the same statement, the new bits of closed days.

    The new minutes per organization come back, a column per category. Every activity row
    lock comes before every day-block row lock (the block rows come out of a sort, which
    reads all of ``written`` first), each in key order. ``:open_from`` is the first open
    day's start (epoch seconds). ``insert_only``: plain inserts of both, as in
    ``upsert_hours_sql``.
    """
    days = day_blocks.upsert_sql(
        _WRITTEN_PER_DAY,
        day="day",
        minutes="added",
        where="added > 0",
        only_column=only_column,
        insert_only=insert_only,
    )
    hours = upsert_hours_sql(source, insert_only=insert_only)
    return f"WITH written AS ({hours}), days AS ({days}) {_NEW_PER_GROUP}"


@functools.cache
def _upsert_activity(only_column: int | None) -> sa.TextClause:
    """``upsert_activity_sql`` of a batch's arrays."""
    return sa.text(upsert_activity_sql(_HOURS, only_column))


@functools.cache
def _add_days(only_column: int | None) -> sa.TextClause:
    """Minutes added to days, given as (organization, category, day, user, minutes) arrays."""
    return sa.text(
        day_blocks.upsert_sql(
            _NEW_DAYS, day="day / 86400", minutes="minutes", only_column=only_column
        )
    )


def _newest_minute(mask: str) -> str:
    """SQL: the start (epoch seconds) of the newest minute that ``mask`` holds; NULL for none.

    ``position`` finds the highest set bit in the mask's 64 bits, most significant first.
    """
    return (
        f"max(CASE WHEN {mask} <> 0 "
        f"THEN hour + 60 * (64 - position(B'1' IN CAST({mask} AS bit(64)))) END)"
    )


def upsert_last_seen_sql(source: str) -> str:
    """Newest minutes, from ``source``'s hourly rows (as ``upsert_hours_sql``'s), moved forward.

    ``greatest`` skips NULLs, the categories a batch lacks. The rows are locked in key order,
    as every batch locks them.
    """
    return f"""
    INSERT INTO last_seen AS s (organization_id, user_id, {", ".join(LAST_SEEN_COLUMNS)})
    SELECT organization_id, user_id, {", ".join(map(_newest_minute, MASK_COLUMNS))}
    FROM {source}
    GROUP BY organization_id, user_id
    ORDER BY organization_id COLLATE "C", user_id COLLATE "C"
    ON CONFLICT (organization_id, user_id) DO UPDATE SET
        {", ".join(f"{name} = greatest(s.{name}, excluded.{name})" for name in LAST_SEEN_COLUMNS)}
    WHERE {" OR ".join(f"excluded.{name} > coalesce(s.{name}, -1)" for name in LAST_SEEN_COLUMNS)}
    """  # noqa: S608


_UPSERT_LAST_SEEN = sa.text(upsert_last_seen_sql(_HOURS))
"""Newest minutes from the hourly rows' arrays."""

_UPSERT_NEWEST = sa.text(
    f"""
    INSERT INTO last_seen AS s (organization_id, user_id, {", ".join(LAST_SEEN_COLUMNS)})
    SELECT * FROM unnest(
        {_split("organizations")}, {_split("users")},
        {", ".join(_split_nullable(name) for name in LAST_SEEN_COLUMNS)}
    ) AS new (organization_id, user_id, {", ".join(LAST_SEEN_COLUMNS)})
    ORDER BY organization_id COLLATE "C", user_id COLLATE "C"
    ON CONFLICT (organization_id, user_id) DO UPDATE SET
        {", ".join(f"{name} = greatest(s.{name}, excluded.{name})" for name in LAST_SEEN_COLUMNS)}
    WHERE {" OR ".join(f"excluded.{name} > coalesce(s.{name}, -1)" for name in LAST_SEEN_COLUMNS)}
    """  # noqa: S608
)
"""Newest minutes given per (organization, user) (``_newest_arrays``), moved forward only."""


def _newest_arrays(groups: Groups) -> dict[str, str]:
    """``_UPSERT_NEWEST``'s parameters: an empty element is NULL (no minute of that category)."""
    newest = newest_minutes(groups)
    per_column = zip(*(seen for _, seen in newest), strict=True)
    return {
        "organizations": array_parameter(org for (org, _), _ in newest),
        "users": array_parameter(user for (_, user), _ in newest),
        **{
            name: ",".join("" if minute is None else str(minute) for minute in column)
            for name, column in zip(LAST_SEEN_COLUMNS, per_column, strict=True)
        },
    }


_CHUNK = 50_000


async def upsert_hours(
    connection: AsyncConnection, groups: Groups, *, first_open_day: int
) -> dict[tuple[str, int], int]:
    """Store a batch's hourly rows; the new minutes per (organization, category).

    The masks are ORed in, the new bits added to the closed days, and each (organization,
    user)'s newest minutes moved forward in ``last_seen``. A batch that fits in one statement
    takes the hourly and the day-block upsert together (a batch wholly on open days, as live
    heartbeats are, the hourly one alone), and "last seen" from the same arrays; the server
    puts its rows in key order. A larger one upserts all its hours chunk by chunk in key order
    first, then all its days, then "last seen" from each (organization, user)'s newest minutes,
    so that every transaction still locks all its activity rows before any of its day-block
    rows, and those before its "last seen" rows.
    """
    if row_count(groups) <= _CHUNK:
        arrays = await asyncio.to_thread(_group_arrays, groups)  # CPU-bound: off the event loop
        added = await _upsert_hours_at_once(connection, groups, arrays, first_open_day)
        await connection.execute(_UPSERT_LAST_SEEN, arrays)  # one statement: one lock order
        return added
    added = await _upsert_hours_in_chunks(connection, groups, first_open_day)
    newest = await asyncio.to_thread(_newest_arrays, groups)
    await connection.execute(_UPSERT_NEWEST, newest)  # one statement: one lock order
    return added


async def _upsert_hours_at_once(
    connection: AsyncConnection,
    groups: Groups,
    arrays: dict[str, str],
    first_open_day: int,
) -> dict[tuple[str, int], int]:
    open_from = first_open_day * DAY
    closed = [hour for _, hour in groups if hour < open_from]
    parameters: dict[str, object] = dict(arrays)
    if closed:
        statement = _upsert_activity(day_blocks.only_column(closed))
        parameters["open_from"] = open_from
    else:
        statement = _UPSERT_OPEN_HOURS
    return new_per_group(await connection.execute(statement, parameters))


async def _upsert_hours_in_chunks(
    connection: AsyncConnection, groups: Groups, first_open_day: int
) -> dict[tuple[str, int], int]:
    added = day_blocks.NewMinutes(open_from=first_open_day * DAY)
    async for arrays in built_chunks(groups, _CHUNK, _arrays):
        added.count(await connection.execute(_UPSERT_HOURS, arrays))
    # In block key order, so that the chunks lock each block row in the same order as any
    # other writer does.
    new_days = sorted(added.days.items(), key=_block_order)
    for start in range(0, len(new_days), _CHUNK):
        chunk = new_days[start : start + _CHUNK]
        await connection.execute(
            _add_days(day_blocks.only_column(key[2] for key, _ in chunk)),
            {
                "organizations": array_parameter(key[0] for key, _ in chunk),
                "categories": array_parameter(int(key[1]) for key, _ in chunk),
                "days": array_parameter(key[2] for key, _ in chunk),
                "users": array_parameter(key[3] for key, _ in chunk),
                "minutes": array_parameter(count for _, count in chunk),
            },
        )
    return added.per_group


def _block_order(item: tuple[DayKey, int]) -> tuple[str, int, int, str, int]:
    (organization_id, category, day, user_id), _ = item
    return organization_id, category, day_blocks.place(day)[0], user_id, day


def _group_arrays(groups: Groups) -> dict[str, str]:
    """The array parameters of all of ``groups``' rows, in no order (the statement sorts them)."""
    organizations: list[str] = []
    hours: list[str] = []
    users: list[str] = []
    masks: list[list[int]] = []
    for (organization_id, hour), members in groups.items():
        count = len(members)
        organizations += [organization_id] * count
        hours += [str(hour)] * count
        users += members
        masks += members.values()
    return {
        "organizations": array_parameter(organizations),
        "hours": ",".join(hours),
        "users": array_parameter(users),
        **{
            name: ",".join(map(str, column))
            for name, column in zip(MASK_COLUMNS, zip(*masks, strict=True), strict=True)
        },
    }


def _arrays(chunk: list[Row]) -> dict[str, str]:
    keys, masks = zip(*chunk, strict=True)
    organizations, hours, users = zip(*keys, strict=True)
    per_category = list(zip(*masks, strict=True))
    return {
        "organizations": array_parameter(organizations),
        "hours": array_parameter(hours),
        "users": array_parameter(users),
        **{
            name: array_parameter(column)
            for name, column in zip(MASK_COLUMNS, per_category, strict=True)
        },
    }
