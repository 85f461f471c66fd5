"""Writing active minutes per UTC day into ``activity_days``, a block of 32 days per row.

A day number *n* (days since the epoch) lives in column ``DAY_COLUMNS[n % 32]`` of block
``n // 32``. Writers only ever add minutes to a day, and in key order (organization,
category, block, user), the order in which concurrent writers lock the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import DAY
from exporter.store.schema import DAY_COLUMNS, DAYS_PER_BLOCK, activity_days
from exporter.store.upsert import insert

DayKey = tuple[str, int, int, str]
"""organization_id, category, day (epoch seconds of its UTC midnight), user_id"""

_KEY = "organization_id, category, block, user_id"
_CHUNK = 1000

ADD_ON_CONFLICT = f"ON CONFLICT ({_KEY}) DO UPDATE SET " + ", ".join(
    f"{name} = days.{name} + excluded.{name}" for name in DAY_COLUMNS
)
"""The conflict clause of ``INSERT INTO activity_days AS days …``: add every day's minutes."""


def pivot_sql(source: str, *, day: str, minutes: str, where: str = "TRUE") -> str:
    """SQL turning ``source``'s rows into block rows, one per key, in key order.

    ``source`` has the columns organization_id, category and user_id; ``day`` is SQL for a
    row's (non-negative) day number and ``minutes`` for the minutes it adds to that day.
    """
    sums = ", ".join(
        f"sum(CASE WHEN {day} % {DAYS_PER_BLOCK} = {index} THEN {minutes} ELSE 0 END)"
        for index in range(DAYS_PER_BLOCK)
    )
    return (
        f"SELECT organization_id, category, {day} / {DAYS_PER_BLOCK} AS block, user_id, {sums} "  # noqa: S608  (only constants and the callers' SQL)
        f"FROM {source} WHERE {where} "
        f"GROUP BY organization_id, category, {day} / {DAYS_PER_BLOCK}, user_id "
        f"ORDER BY organization_id, category, {day} / {DAYS_PER_BLOCK}, user_id"
    )


INSERT_COLUMNS = f"({_KEY}, {', '.join(DAY_COLUMNS)})"
"""The column list of an insert of ``pivot_sql``'s rows."""


async def add_days(connection: AsyncConnection, days: Mapping[DayKey, int]) -> None:
    """Add minutes to days, through SQLAlchemy (the path of SQLite)."""
    blocks: dict[tuple[str, int, int, str], dict[str, int]] = defaultdict(dict)
    for (organization_id, category, day, user_id), minutes in days.items():
        block, index = divmod(day // DAY, DAYS_PER_BLOCK)
        columns = blocks[(organization_id, int(category), block, user_id)]
        columns[DAY_COLUMNS[index]] = columns.get(DAY_COLUMNS[index], 0) + minutes
    if not blocks:
        return
    statement = insert(activity_days, connection.dialect.name)
    statement = statement.on_conflict_do_update(
        index_elements=[column.name for column in activity_days.primary_key.columns],
        set_={name: activity_days.c[name] + statement.excluded[name] for name in DAY_COLUMNS},
    )
    rows = [
        {
            "organization_id": organization_id,
            "category": category,
            "block": block,
            "user_id": user_id,
            **{name: columns.get(name, 0) for name in DAY_COLUMNS},
        }
        for (organization_id, category, block, user_id), columns in sorted(blocks.items())
    ]
    for start in range(0, len(rows), _CHUNK):
        await connection.execute(statement, rows[start : start + _CHUNK])
