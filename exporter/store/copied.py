"""PostgreSQL: active minutes handed over as COPY text rows, stored as ``store_minutes`` does.

A row is one cell of ``Minutes``: user id, organization id, category (a real one, not
``any``), the hour's start (epoch seconds) and the minute mask, tab-separated, ending in a
newline; ids never hold a tab, a newline or a backslash (``exporter.model.check_id``). The
rows go by COPY into a temporary table; the hourly rows, with the ``any`` masks (OR over
categories) and the rows of organization ``*`` (OR over organizations), are made from it in
SQL; then the same statements as a batch of ``store_minutes`` store them: placeholders, the
hourly upsert with the closed days' blocks, "last seen", the totals. One transaction, the
caller's; its locks come in the same order as every other batch's.

A batch of users the store has never seen (no "last seen" row anywhere: the usual batch of a
first read) may be written by plain inserts, which spare each row the upsert's conflict
check. A key stored after all (a concurrent writer's) fails the batch with a unique
violation; like any lost race it is tried again (``Store.ingest_copied``), by the upsert.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import ALL_ORGANIZATIONS_KEY, DAY, Category
from exporter.store import bulk_postgresql, day_blocks
from exporter.store.ingest import IngestResult, add_totals, ensure_placeholders
from exporter.store.schema import MASK_COLUMNS

COLUMNS = ("user_id", "organization_id", "category", "hour", "mask")
"""The fields of a row, in order."""

_CELLS = "copied_cells"
_HOURS = "copied_hours"
_CREATE_CELLS = sa.text(
    f"CREATE TEMPORARY TABLE {_CELLS} (user_id text NOT NULL, organization_id text NOT NULL, "
    "category smallint NOT NULL, hour bigint NOT NULL, mask bigint NOT NULL) ON COMMIT DROP"
)
_COPY = f"COPY {_CELLS} ({', '.join(COLUMNS)}) FROM STDIN"

_REAL = [category for category in Category if category is not Category.ANY]
_PER_CATEGORY = ", ".join(
    f"coalesce(bit_or(mask) FILTER (WHERE category = {int(category)}), 0) "
    f"AS {MASK_COLUMNS[category]}"
    for category in _REAL
)
_MAKE_HOURS = sa.text(
    f"""
    CREATE TEMPORARY TABLE {_HOURS} ON COMMIT DROP AS
    WITH per_organization AS (
        SELECT organization_id, hour, user_id, bit_or(mask) AS {MASK_COLUMNS[Category.ANY]},
               {_PER_CATEGORY}
        FROM {_CELLS} GROUP BY organization_id, hour, user_id
    )
    SELECT organization_id, hour, user_id, {", ".join(MASK_COLUMNS)} FROM per_organization
    UNION ALL
    SELECT '{ALL_ORGANIZATIONS_KEY}', hour, user_id,
           {", ".join(f"bit_or({name})" for name in MASK_COLUMNS)}
    FROM per_organization GROUP BY hour, user_id
    """  # noqa: S608  (only constants are interpolated, here and below)
)
"""The hourly rows of the copied cells, as ``hourly.hourly_groups`` makes them."""

_PAIRS = sa.text(
    f"""
    SELECT organization_id, user_id,
           sum({" + ".join(f"bit_count(CAST({MASK_COLUMNS[c]} AS bit(64)))" for c in _REAL)})
    FROM {_HOURS} WHERE organization_id <> '{ALL_ORGANIZATIONS_KEY}'
    GROUP BY organization_id, user_id
    """  # noqa: S608
)
"""Each (organization, user) pair of the cells, and the minutes of its cells."""

_SOURCE = f"{_HOURS} AS new"
_UPSERT_ACTIVITY = sa.text(bulk_postgresql.upsert_activity_sql(_SOURCE, only_column=None))
_INSERT_ACTIVITY = sa.text(
    bulk_postgresql.upsert_activity_sql(_SOURCE, only_column=None, insert_only=True)
)
_ANY_SEEN = sa.text(
    f"""SELECT EXISTS (SELECT FROM last_seen
    WHERE organization_id = '{ALL_ORGANIZATIONS_KEY}' AND user_id = ANY (:users))"""  # noqa: S608
)
"""Whether the store has seen any of ``:users`` anywhere (a probe of the key per user)."""
_UPSERT_LAST_SEEN = sa.text(bulk_postgresql.upsert_last_seen_sql(_SOURCE))
_WORK_MEM = sa.text("SET LOCAL work_mem = '64MB'")
"""Room for a batch's sorts and hashes (a few hundred thousand rows), which at PostgreSQL's
default of 4 MB went to temporary files: several MB per statement."""


async def store_copied(
    connection: AsyncConnection,
    rows: Sequence[str],
    *,
    now: float,
    max_organizations: int,
    plain_inserts: bool = True,
) -> IngestResult:
    """Store the cells of ``rows`` inside the caller's transaction; ``accepted`` counts rows.

    An element of ``rows`` may hold several rows.

    ``plain_inserts`` lets a batch of unseen users be written without the upsert.
    """
    if not rows:
        return IngestResult(accepted=0, minutes=0, new_minutes=0)
    # First of all its locks (see ``day_blocks``): which days are still open.
    first_open_day = await day_blocks.first_open_day(connection, for_ingest=True)
    await connection.execute(_WORK_MEM)
    await connection.execute(_CREATE_CELLS)
    copied = await _copy(connection, rows)
    await connection.execute(_MAKE_HOURS)
    pairs = (await connection.execute(_PAIRS)).all()
    await ensure_placeholders(
        connection,
        {(organization_id, user_id) for organization_id, user_id, _ in pairs},
        now=now,
        max_organizations=max_organizations,
    )
    users = sorted({user_id for _, user_id, _ in pairs}) if plain_inserts else None
    added = await _write_activity(connection, users, open_from=first_open_day * DAY)
    await connection.execute(_UPSERT_LAST_SEEN)
    return IngestResult(
        accepted=copied,
        minutes=sum(int(minutes) for _, _, minutes in pairs),
        new_minutes=await add_totals(connection, added),
    )


async def _write_activity(
    connection: AsyncConnection, users: list[str] | None, *, open_from: int
) -> dict[tuple[str, int], int]:
    """Write the hourly rows and closed days; the new minutes per (organization, category).

    Plain inserts when the store has seen none of ``users`` (the cells'), else the upsert;
    ``None``: the upsert.
    """
    seen = users is None or (await connection.execute(_ANY_SEEN, {"users": users})).scalar_one()
    statement = _UPSERT_ACTIVITY if seen else _INSERT_ACTIVITY
    written = await connection.execute(statement, {"open_from": open_from})
    return bulk_postgresql.new_per_group(written)


async def _copy(connection: AsyncConnection, rows: Sequence[str]) -> int:
    """COPY ``rows`` into the cells' table, in the transaction of ``connection``; the rows."""
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None  # a live pooled connection
    try:
        async with raw.cursor() as cursor:
            async with cursor.copy(_COPY) as copy:
                await copy.write("".join(rows))
            return int(cursor.rowcount)
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(
            _COPY, None, error, psycopg.Error, dialect=connection.dialect
        ) from error
