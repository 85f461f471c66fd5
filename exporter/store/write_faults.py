"""Telling a store that refuses writes (read-only, full) from other failures, and probing it.

A store that can be read but not written (a read-only file or database, a full disk, a
database at its size limit) answers reads as ever, so only a write shows the fault. ``Store``
remembers the cause of the last write that failed so; readiness and ``usage_up`` report it
until ``probe`` (or any other write) succeeds.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.store.schema import activity_totals, day_blocks_state

_SQLITE_PRIMARY_CODES = frozenset({8, 10, 13})  # SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL
_POSTGRESQL_SQLSTATES = frozenset({"25006", "53100", "58030"})  # read-only, disk full, I/O
PROBE_ROWS = 1000
"""Rows a probe writes (and takes back): about 100 kB, more than the free room of a full page."""


def refused_write(error: BaseException) -> BaseException | None:
    """The driver error in ``error``'s chain that says the store refuses writes, if any."""
    seen: BaseException | None = error
    while seen is not None:
        original = getattr(seen, "orig", None)
        code = getattr(original, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_PRIMARY_CODES:
            return original
        if getattr(original, "sqlstate", None) in _POSTGRESQL_SQLSTATES:
            return original
        seen = seen.__cause__
    return None


async def probe(connection: AsyncConnection) -> None:
    """Write as ingest does, committing a row rewritten as it was and taking the rest back.

    The rewrite needs the store to take a commit; the rows taken back need room for new
    pages (a database at its size limit refuses them).
    """
    await connection.execute(
        sa.update(day_blocks_state)
        .where(day_blocks_state.c.id == 1)
        .values(first_open_day=day_blocks_state.c.first_open_day)
    )
    taken_back = await connection.begin_nested()
    await connection.execute(
        sa.insert(activity_totals),
        [
            {"organization_id": f"~probe-{n:06d}".ljust(64, "."), "category": 0, "minutes": 0}
            for n in range(PROBE_ROWS)
        ],
    )
    await taken_back.rollback()
