"""A pass's activity as one query: every table's cells merged per (user, organization, hour).

The tables' queries (``TableReader.select``) run as one statement in the pass's snapshot, and
Coder's database ORs their masks per (user, organization, hour), one column per category, and
returns them a user at a time. So a pass sends each cell once however many tables give it
minutes (a login lands mostly in an hour of sessions, and ``api_keys`` and ``audit_logs``
record the same logins), and a batch holds all of a user's organizations for an hour, which
the store's ``*`` rows need. The source rows each table gave are counted per table.

The cells come as ``Minutes`` (``cells``), or, for a first pass into a PostgreSQL store, as
the COPY text rows of ``Store.ingest_copied`` (``copy_rows``), which need no Python object
per cell beyond its line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import EVENT_CATEGORIES, HOUR
from exporter.sources.coder.activity import EVERY_USER, TableReader, UserSlice
from exporter.store.driver import batches
from exporter.store.ingest import Minutes

CHUNK_ROWS = 5000  # rows fetched at once; cells are handed on at a user's end past this many
COPY_CELLS = 50_000  # merged rows handed on as COPY rows at once, at a user's end past this many

_PARAMETER = re.compile(r"(?<![:\w]):([a-z_]+)\b")


def _prefixed(
    sql: str, parameters: dict[str, object], prefix: str
) -> tuple[str, dict[str, object]]:
    """``sql`` and ``parameters`` with every parameter's name prefixed, so that queries combine."""

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        return f":{prefix}{name}" if name in parameters else match.group(0)

    return _PARAMETER.sub(rename, sql), {f"{prefix}{k}": v for k, v in parameters.items()}


def _merged(readers: Sequence[TableReader], users: UserSlice) -> tuple[str, dict[str, object]]:
    """SQL for the merged cells of ``users`` (unordered), and its parameters.

    Columns: user_id (a uuid), organization_id, hour, ``r<n>`` (source rows of reader n),
    ``c<n>`` (the mask of category n).
    """
    arms: list[str] = []
    parameters: dict[str, object] = {}
    for index, reader in enumerate(readers):
        sql, own = _prefixed(*reader.select(users), f"r{index}_")
        parameters.update(own)
        masks = [f"m{column}" for column in range(len(reader.categories()))]
        rows = ", ".join(
            "CAST(source_rows AS integer)" if other == index else "0"
            for other in range(len(readers))
        )
        per_category = ", ".join(
            " | ".join(
                mask
                for mask, category in zip(masks, reader.categories(), strict=True)
                if category == wanted
            )
            or "CAST(0 AS bigint)"
            for wanted in EVENT_CATEGORIES
        )
        arms.append(
            f"SELECT user_id, organization_id, hour, {rows}, {per_category} "
            f"FROM ({sql}) AS t{index} (user_id, organization_id, hour, source_rows, "
            f"{', '.join(masks)})"
        )
    sums = ", ".join(f"sum(r{index}) AS r{index}" for index in range(len(readers)))
    ors = ", ".join(f"bit_or(c{int(c)}) AS c{int(c)}" for c in EVENT_CATEGORIES)
    names = ", ".join(
        [*(f"r{index}" for index in range(len(readers))), *(f"c{int(c)}" for c in EVENT_CATEGORIES)]
    )
    sql = (
        f"SELECT user_id, organization_id, hour, {sums}, {ors} "
        f"FROM ({' UNION ALL '.join(arms)}) AS cells (user_id, organization_id, hour, {names}) "
        "GROUP BY user_id, hour, organization_id"
    )
    return sql, parameters


_ORDER = 'merged.user_id, merged.hour, merged.organization_id COLLATE "C"'
"""A user's rows together (by uuid, the cheapest order), in the order of their hours."""


_MASKS = ", ".join(f"c{int(c)}" for c in EVENT_CATEGORIES)
"""The merged rows' mask columns, one per category."""


def _sums(readers: Sequence[TableReader]) -> str:
    """The merged rows' columns of source rows, one per reader."""
    return ", ".join(f"r{index}" for index in range(len(readers)))


def statement(readers: Sequence[TableReader], users: UserSlice = EVERY_USER) -> sa.TextClause:
    """The merged cells of ``users``, a user's after another.

    Columns: user, organization, hour, source rows per reader, a mask per category.
    """
    sql, parameters = _merged(readers, users)
    return sa.text(
        f"SELECT CAST(user_id AS text), organization_id, hour, {_sums(readers)}, {_MASKS} "
        f"FROM ({sql}) AS merged ORDER BY {_ORDER}"
    ).bindparams(**parameters)


def copy_statement(
    readers: Sequence[TableReader], users: UserSlice, *, recent_hour: int
) -> sa.TextClause:
    """``statement`` with each cell's ``copied`` text rows made by the server.

    Columns: user, organization, hour, source rows per reader, the text of the cell's rows
    (one per category with minutes), then a mask per category. The organization and the
    masks are those of hours from ``recent_hour`` on only, NULL before.
    """
    sql, parameters = _merged(readers, users)
    lines = ", ".join(
        f"CASE WHEN c{int(c)} <> 0 THEN user_id || E'\\t' || organization_id || "
        f"E'\\t{int(c)}\\t' || hour * {HOUR} || E'\\t' || c{int(c)} || E'\\n' END"
        for c in EVENT_CATEGORIES
    )
    recent = ", ".join(
        f"CASE WHEN hour >= :recent_hour THEN c{int(c)} END" for c in EVENT_CATEGORIES
    )
    # Sorted first, then the text made: the sort handles the narrow rows.
    ordered = f"SELECT * FROM ({sql}) AS merged ORDER BY {_ORDER}"
    return sa.text(
        "SELECT user_id, CASE WHEN hour >= :recent_hour THEN organization_id END, hour, "
        f"{_sums(readers)}, concat({lines}), {recent} "
        f"FROM (SELECT CAST(user_id AS text) AS user_id, organization_id, hour, {_sums(readers)}, "
        f"{_MASKS} FROM ({ordered}) AS ordered) AS cells"
    ).bindparams(**parameters, recent_hour=recent_hour)


class _Covered:
    """The source rows each reader gave since the last hand-on."""

    def __init__(self, readers: Sequence[TableReader]) -> None:
        self.readers = readers
        self.rows = [0] * len(readers)

    def add(self, row: Sequence[int]) -> None:
        """Count a merged row's source rows (its columns from the fourth on)."""
        rows = self.rows
        for index in range(len(rows)):
            rows[index] += row[3 + index]

    def hand_on(self) -> int:
        """Count the rows on the readers (``TableReader.count_read``); their sum."""
        for reader, rows in zip(self.readers, self.rows, strict=True):
            reader.count_read(rows)
        total = sum(self.rows)
        self.rows = [0] * len(self.readers)
        return total


async def cells(
    connection: AsyncConnection, readers: Sequence[TableReader]
) -> AsyncGenerator[tuple[Minutes, int], None]:
    """The readers' cells, each batch ending with a user's last cell, and the source rows read.

    Each reader counts its own rows (``TableReader.count_read``) as they are read.
    """
    categories = [int(category) for category in EVENT_CATEGORIES]
    count = len(readers)
    found: Minutes = {}
    covered = _Covered(readers)
    last_user = None
    async for chunk in batches(connection, statement(readers), size=CHUNK_ROWS):
        for row in chunk:
            user_id = row[0]
            if user_id != last_user:
                if len(found) >= CHUNK_ROWS:
                    yield found, covered.hand_on()
                    found = {}
                last_user = user_id
            organization_id = row[1]
            start = row[2] * HOUR
            covered.add(row)
            for category, mask in zip(categories, row[3 + count :], strict=True):
                if mask:
                    found[(organization_id, category, start, user_id)] = mask
    if found or any(covered.rows):
        yield found, covered.hand_on()


@dataclasses.dataclass(slots=True)
class CopiedCells:
    """Cells as ``Store.ingest_copied``'s COPY rows, and those of hours from ``recent_from``.

    ``rows`` holds the text of a merged row's COPY rows (one per category with minutes) per
    element. ``recent`` holds the cells a later pass reads again (``StoredCells``), as
    ``Minutes``.
    """

    rows: list[str]
    recent: Minutes


async def copy_rows(
    connection: AsyncConnection,
    readers: Sequence[TableReader],
    *,
    recent_from: int,
    slices: Sequence[UserSlice],
) -> AsyncGenerator[tuple[CopiedCells, int], None]:
    """``cells`` as COPY text rows, those of ``COPY_CELLS`` or a few more merged rows at a time.

    Cells of hours from ``recent_from`` (epoch seconds) on come also as ``Minutes``. The
    cells are read a slice of users after another (``slices``, which must cover every id
    once): Coder's database aggregates one slice in memory, not all of history at once
    (which spilled to disk), and its rows flow while it aggregates the next one. Coder's
    database also writes the rows' text (``copy_statement``), so that Python only hands it on.
    """
    categories = [int(category) for category in EVENT_CATEGORIES]
    count = len(readers)
    batch = CopiedCells([], {})
    covered = _Covered(readers)
    last_user = None
    recent_hour = -(-recent_from // HOUR)  # the first hour that starts at or after recent_from
    async for chunk in _sliced(connection, readers, slices, recent_hour=recent_hour):
        rows = batch.rows
        for row in chunk:
            user_id = row[0]
            if user_id != last_user:
                if len(rows) >= COPY_CELLS:
                    yield batch, covered.hand_on()
                    batch = CopiedCells([], {})
                    rows = batch.rows
                last_user = user_id
            covered.add(row)
            rows.append(row[3 + count])
            organization_id = row[1]
            if organization_id is not None:  # a recent hour
                start = row[2] * HOUR
                for category, mask in zip(categories, row[4 + count :], strict=True):
                    if mask:
                        batch.recent[(organization_id, category, start, user_id)] = mask
    if batch.rows or any(covered.rows):
        yield batch, covered.hand_on()


async def _sliced(
    connection: AsyncConnection,
    readers: Sequence[TableReader],
    slices: Sequence[UserSlice],
    *,
    recent_hour: int,
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """``copy_statement``'s rows of each slice in turn, in chunks; users in order in a slice."""
    for users in slices:
        query = copy_statement(readers, users, recent_hour=recent_hour)
        chunks = batches(connection, query, size=CHUNK_ROWS)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk
