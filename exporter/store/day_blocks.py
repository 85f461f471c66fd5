"""Writing active minutes per UTC day into ``activity_days``, a block of 32 days per row.

A day number *n* (days since the epoch) lives in column ``DAY_COLUMNS[n % 32]`` of block
``n // 32``. Ingest only ever adds minutes to a day, in key order (organization, category,
block, user), the order in which every writer locks the rows (prune too, when it zeroes the
days older than the retention).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import DAY
from exporter.store.schema import DAY_COLUMNS, DAYS_PER_BLOCK, activity_days
from exporter.store.upsert import insert

DayKey = tuple[str, int, int, str]
"""organization_id, category, day (epoch seconds of its UTC midnight), user_id"""

_KEY = "organization_id, category, block, user_id"
_CHUNK = 1000


def upsert_sql(
    source: str, *, day: str, minutes: str, where: str = "TRUE", only_column: int | None = None
) -> str:
    """PostgreSQL: ``INSERT … SELECT … ON CONFLICT`` adding ``source``'s minutes to their days.

    ``source`` has the columns organization_id, category and user_id; ``day`` is SQL for a
    row's (non-negative) day number and ``minutes`` for the minutes it adds to that day. Rows
    are summed per block row and written in key order (``COLLATE "C"``: the code point order
    in which Python sorts the hourly rows, and no locale to consult).

    When every row of ``source`` lies on days of one column (``only_column``, a day number
    modulo 32; in practice one day), only that column is summed and written: the general
    form sums and rewrites all 32, which took a heartbeat batch 60 % longer.
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
    return (
        f"INSERT INTO activity_days AS days ({_KEY}, {', '.join(columns)}) "  # noqa: S608  (only constants and the callers' SQL)
        f"SELECT organization_id, category, {block}, user_id, {', '.join(sums)} "
        f"FROM {source} WHERE {where} "
        f"GROUP BY organization_id, category, {block}, user_id "
        f'ORDER BY organization_id COLLATE "C", category, {block}, user_id COLLATE "C" '
        f"ON CONFLICT ({_KEY}) DO UPDATE SET "
        + ", ".join(f"{name} = days.{name} + excluded.{name}" for name in columns)
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
    blocks: dict[tuple[str, int, int, str], dict[str, int]] = defaultdict(dict)
    for (organization_id, category, day, user_id), minutes in days.items():
        block, index = place(day)
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
