"""The activity report's read: each user's profile and active minutes per bucket.

Buckets arrive as epoch-minute edges ``M_0 < … < M_n``: minute *m* is in bucket *i* when
``M_i ≤ m < M_(i+1)``. A bucket is read at the coarsest grain that fits:

* closed UTC days wholly inside a bucket from the day blocks ``activity_days``, a column per
  day (open days, today in a running service, from their hourly masks);
* a closed day that one edge cuts as its day total, less the hours of its shorter side (and the
  edge's hour), which go to their own bucket (``_OneSidedDay``);
* the other hours wholly inside a bucket, on the days edges cut, from the popcounts of
  their masks;
* the at most ``n + 1`` hours that an edge cuts (edges off the hour) from their masks, each
  joined to its pieces (bucket, minute mask) and counted as ``popcount(mask & piece)``.

The answer comes back pivoted: one row per user, its profile and a column per bucket, from
one statement per run of up to 32 buckets. A block row gives each bucket the sum of its day
columns that lie in that bucket; an hour row (bucket, user, minutes) fills the column of its
bucket; ``GROUP BY user`` adds them up, and the user's profile is joined to the sums. For
buckets of equal length (every unit but months and years) an hour's bucket is arithmetic on
its start, ``(start / 60 - M_0) / step``; for calendar buckets it is a binary search written
as nested ``CASE``s over the buckets' first hours. So a report whose edges fall on closed UTC
midnights reads day blocks only: two rows per user for 30 days.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import itertools
import operator
from collections import defaultdict
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import DAY, HOUR, SERVICE_ROLE, minute_mask
from exporter.store import day_blocks, driver
from exporter.store.schema import (
    DAY_COLUMNS,
    DAYS_PER_BLOCK,
    MASK_COLUMNS,
    activity,
    activity_days,
    site_roles,
    users,
)
from exporter.store.sql import joined_text, one_of, popcount

Span = tuple[int, int, int]
"""(bucket, first, end): a run of whole hours or days (epoch seconds) inside one bucket."""

_PIVOT_BUCKETS = 32  # bucket columns per statement
_WORK_MEM = "64MB"  # for the report's transaction on PostgreSQL
_BATCH_ROWS = 10_000


class Profile(NamedTuple):
    """What the report shows of a user: the last-known profile, deleted or not.

    A named tuple: the report makes one per active user, and a frozen dataclass took more
    than twice as long to build (0.6 against 0.25 µs).
    """

    username: str
    name: str
    avatar_hash: str
    roles: tuple[str, ...]


PROFILE_COLUMNS = 4
"""Columns of a ``bucket_minutes`` row between the user id and the minutes: username, name,
avatar hash and site roles (see ``profile_of``)."""


def profile_of(row: Sequence[Any]) -> Profile:
    """The profile in a ``bucket_minutes`` row; a user the directory lacks shows its id."""
    user_id, username, name, avatar_hash, roles = row[: 1 + PROFILE_COLUMNS]
    if username is None:
        return Profile(user_id, "", "", ())
    return Profile(username, name, avatar_hash, tuple(sorted(roles.split(" "))) if roles else ())


async def bucket_minutes(
    connection: AsyncConnection, *, organization_key: str, category: int, edges: Sequence[int]
) -> AsyncGenerator[tuple[int, Sequence[Sequence[Any]]], None]:
    """Active minutes of one (organization, category) slice, per user and bucket.

    Yields ``(first, rows)``: each row is (user id, the ``PROFILE_COLUMNS``, minutes in bucket
    ``first``, in ``first + 1``, …) for a run of at most 32 buckets. Rows come in batches (on
    PostgreSQL from a server-side cursor), so they never all sit in memory at once, sorted by
    user id as Python sorts strings, zeros included. The profile rides along with the minutes
    rather than costing a query of its own.
    """
    if connection.dialect.name == "postgresql":
        # One hash of the users over a few hundred thousand rows: in memory, not on disk.
        await connection.exec_driver_sql(f"SET LOCAL work_mem = '{_WORK_MEM}'")
    open_from = await day_blocks.first_open_day(connection) * DAY
    for first in range(0, len(edges) - 1, _PIVOT_BUCKETS):
        statement = _per_user(
            _Slice(organization_key, category, connection.dialect.name),
            edges[first : first + _PIVOT_BUCKETS + 1],
            open_from,
        )
        if statement is None:
            continue
        if connection.dialect.name == "postgresql":
            batches = driver.batches(connection, statement, size=_BATCH_ROWS)
            async with contextlib.aclosing(batches):
                async for batch in batches:
                    yield first, batch
        else:
            result = await connection.stream(statement)
            async for partition in result.partitions(_BATCH_ROWS):
                yield first, partition


@dataclasses.dataclass(frozen=True, slots=True)
class _Slice:
    """What a statement reads: one organization's (or ``*``'s) minutes of one category."""

    organization_key: str
    category: int
    dialect: str

    def mask(self) -> sa.Column[int]:
        """The hourly rows' minute mask of the category."""
        return activity.c[MASK_COLUMNS[self.category]]

    def hourly(self) -> tuple[sa.ColumnElement[bool], ...]:
        """The conditions on hourly rows of the slice with activity."""
        return activity.c.organization_id == self.organization_key, self.mask() != 0

    def code_point_order(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        """``column`` ordered as Python orders strings (UTF-8 bytes: SQLite's own order)."""
        return column.collate("C") if self.dialect == "postgresql" else column

    def one_of(self, column: sa.ColumnElement[int], values: Iterable[int]) -> Any:
        """``column`` equal to one of ``values``, however many: one parameter on PostgreSQL.

        An ``IN`` list's SQL depends on its length, which SQLAlchemy's cache key leaves out,
        so ``driver.compiled`` would compile a statement holding one every time.
        """
        return one_of(column, list(values), self.dialect)


def _per_user(slice_: _Slice, edges: Sequence[int], open_from: int) -> sa.Select[Any] | None:
    """(user, profile, minutes of each bucket) over ``edges``' buckets; ``None`` when none read.

    ``open_from`` is the start (epoch seconds) of the first open day: from there on, whole
    days come from the hourly rows too.
    """
    buckets = len(edges) - 1
    cut = _cut_hours(edges)
    day_ranges, hour_parts = _plan(slice_, edges, set(cut), open_from)
    if cut:
        hour_parts.append(_cut_pieces(slice_, cut))
    parts: list[sa.Select[Any]] = []
    if any(day_ranges):
        parts.append(_day_columns(slice_, day_ranges))
    if hour_parts:
        hours = (hour_parts[0] if len(hour_parts) == 1 else sa.union_all(*hour_parts)).subquery()
        parts.append(
            sa.select(
                hours.c.user_id,
                *(
                    sa.case((hours.c.bucket == bucket, hours.c.minutes), else_=0).label(
                        f"b{bucket}"
                    )
                    for bucket in range(buckets)
                ),
            )
        )
    if not parts:
        return None
    rows = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("parts")
    per_user = (
        sa.select(
            rows.c.user_id,
            *(sa.func.sum(rows.c[f"b{bucket}"]).label(f"b{bucket}") for bucket in range(buckets)),
        )
        .group_by(rows.c.user_id)
        .subquery("per_user")
    )
    roles = _site_roles()
    return (
        sa.select(
            per_user.c.user_id,
            users.c.username,
            users.c.name,
            users.c.avatar_hash,
            roles.c.roles,
            *(per_user.c[f"b{bucket}"] for bucket in range(buckets)),
        )
        .select_from(
            per_user.outerjoin(users, users.c.id == per_user.c.user_id).outerjoin(
                roles, roles.c.user_id == per_user.c.user_id
            )
        )
        .order_by(slice_.code_point_order(per_user.c.user_id))
    )


def _site_roles() -> sa.Subquery:
    """(user, site roles space-separated in no order), ``activity-writer`` left out.

    Joined to the active users rather than asked per user: a handful of users hold site roles,
    and one probe per active user cost more than the rest of the join.
    """
    return (
        sa.select(site_roles.c.user_id, joined_text(site_roles.c.role, " ").label("roles"))
        .where(site_roles.c.role != SERVICE_ROLE)
        .group_by(site_roles.c.user_id)
        .subquery("roles")
    )


def _day_columns(slice_: _Slice, day_ranges: Sequence[list[tuple[int, int]]]) -> sa.Select[Any]:
    """(user, b0, b1, …) of the block rows: each bucket's sum of the day columns inside it.

    ``day_ranges[bucket]`` holds [first, end) ranges of day numbers. A block wholly inside a
    range adds all its columns, a block a range ends in the columns on its side.
    """
    blocks = activity_days.c.block
    columns = []
    for bucket, ranges in enumerate(day_ranges):
        terms = []
        for first, end in ranges:
            first_block, last_block = first // DAYS_PER_BLOCK, (end - 1) // DAYS_PER_BLOCK
            low, high = first % DAYS_PER_BLOCK, (end - 1) % DAYS_PER_BLOCK + 1
            if first_block == last_block:
                terms.append((blocks == first_block, _days_sum(low, high)))
                continue
            terms.append((blocks == first_block, _days_sum(low, DAYS_PER_BLOCK)))
            if first_block + 1 < last_block:
                inside = sa.and_(blocks > first_block, blocks < last_block)
                terms.append((inside, _days_sum(0, DAYS_PER_BLOCK)))
            terms.append((blocks == last_block, _days_sum(0, high)))
        summed: list[sa.ColumnElement[Any]] = [sa.case(term, else_=0) for term in terms]
        if not summed:
            summed.append(sa.literal_column("0"))
        columns.append(functools.reduce(operator.add, summed).label(f"b{bucket}"))
    reach = [day for ranges in day_ranges for span in ranges for day in span]
    return sa.select(activity_days.c.user_id, *columns).where(
        activity_days.c.organization_id == slice_.organization_key,
        activity_days.c.category == slice_.category,
        blocks >= min(reach) // DAYS_PER_BLOCK,
        blocks <= (max(reach) - 1) // DAYS_PER_BLOCK,
    )


def _days_sum(low: int, high: int) -> sa.ColumnElement[int]:
    """The sum of day columns ``low`` to ``high - 1``, as an integer (a smallint overflows)."""
    days = [activity_days.c[name] for name in DAY_COLUMNS[low:high]]
    return functools.reduce(operator.add, days[1:], sa.cast(days[0], sa.Integer))


def _cut_pieces(slice_: _Slice, cut: dict[int, list[tuple[int, int]]]) -> sa.Select[Any]:
    """(bucket, user, minutes) of the cut hours' masks, split into their buckets' pieces."""
    hours, buckets, masks = zip(
        *((hour, bucket, piece) for hour, split in cut.items() for bucket, piece in split),
        strict=True,
    )
    pieces: sa.FromClause
    if slice_.dialect == "postgresql":  # three arrays, whatever their length: one shape
        pieces = (
            sa.func.unnest(
                _array(hours, sa.BigInteger),
                _array(buckets, sa.Integer),
                _array(masks, sa.BigInteger),
            )
            .table_valued(
                sa.column("hour", sa.BigInteger),
                sa.column("bucket", sa.Integer),
                sa.column("piece", sa.BigInteger),
                name="pieces",
            )
            .render_derived()
        )
    else:  # rows of literals: SQLAlchemy caches no statement holding ``VALUES`` data
        rows = [
            sa.select(
                sa.literal(hour, sa.BigInteger).label("hour"),
                sa.literal(bucket, sa.Integer).label("bucket"),
                sa.literal(mask, sa.BigInteger).label("piece"),
            )
            for hour, bucket, mask in zip(hours, buckets, masks, strict=True)
        ]
        pieces = (rows[0] if len(rows) == 1 else sa.union_all(*rows)).cte("pieces")
    return (
        sa.select(
            pieces.c.bucket.label("bucket"),
            activity.c.user_id,
            _bits(slice_.mask().op("&")(pieces.c.piece)).label("minutes"),
        )
        .select_from(activity.join(pieces, activity.c.hour == pieces.c.hour))
        .where(*slice_.hourly(), slice_.one_of(activity.c.hour, sorted(cut)))
    )


def _array(values: Sequence[int], item: type[sa.Integer]) -> sa.BindParameter[Any]:
    """``values`` as one PostgreSQL array parameter."""
    array: postgresql.ARRAY[Any] = postgresql.ARRAY(item)
    return sa.bindparam(None, list(values), type_=array)


def _bits(mask: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """The minutes in ``mask``, as narrow as a day column, so that SUM stays an integer sum."""
    return sa.cast(popcount(mask), sa.SmallInteger)


@dataclasses.dataclass(frozen=True, slots=True)
class _OneSidedDay:
    """A UTC day that one edge cuts, read as its daily total and the hours of its shorter side.

    With the edge's hour ``C``, the longer side ``L`` and the shorter side ``S`` (hours, ``C``
    in neither): ``L = day - S - C``. So the day's total goes to ``L``'s bucket, ``S`` and
    ``C`` are read from the hourly rows and taken off it, ``S`` goes to its own bucket (none
    when it lies outside the report), and ``C`` is split by the cut pieces as everywhere.
    """

    day: int
    total_bucket: int
    side_bucket: int | None
    side: tuple[int, int]  # [first, end) in epoch seconds: S and C


def _plan_cut_days(
    edges: Sequence[int], first_hour: int, end_hour: int, open_from: int
) -> tuple[list[_OneSidedDay], list[tuple[int, int]]]:
    """Cut days: one-sided where that reads fewer hours, else as hour ranges read whole.

    An open day (from ``open_from`` on) has no day total to start from: it is read whole.
    """
    edges_in: dict[int, list[int]] = defaultdict(list)
    for index, edge in enumerate(edges):
        if edge % 1440:
            edges_in[edge // 1440 * DAY].append(index)
    one_sided: list[_OneSidedDay] = []
    whole: list[tuple[int, int]] = []
    for day, indexes in sorted(edges_in.items()):
        low, high = max(day, first_hour), min(day + DAY, end_hour)
        if len(indexes) == 1 and day < open_from:
            plan = _one_sided(day, indexes[0], edges)
            if plan.side[1] - plan.side[0] < high - low:
                one_sided.append(plan)
                continue
        if low < high:
            whole.append((low, high))
    return one_sided, _merged(whole)


def _one_sided(day: int, index: int, edges: Sequence[int]) -> _OneSidedDay:
    """How to read ``day``, cut by edge ``index`` alone, from its shorter side."""
    edge = edges[index] * 60
    left = index - 1 if index > 0 else None
    right = index if index < len(edges) - 1 else None
    before = (day, -(-edge // HOUR) * HOUR)  # the hours left of the edge and the cut hour
    after = (edge // HOUR * HOUR, day + DAY)  # the cut hour and the hours right of it
    options = []
    if right is not None:
        options.append(_OneSidedDay(day, right, left, before))
    if left is not None:
        options.append(_OneSidedDay(day, left, right, after))
    return min(options, key=lambda plan: plan.side[1] - plan.side[0])


def _plan(
    slice_: _Slice, edges: Sequence[int], cut: set[int], open_from: int
) -> tuple[list[list[tuple[int, int]]], list[sa.Select[Any]]]:
    """Per bucket, its ranges of whole day numbers; and the (bucket, user, minutes) hour reads.

    Every day the buckets touch is whole inside one (read as a day, or as hours when it is
    open) or cut by an edge off midnight (one-sided, or read as hours), so the plan leaves no
    hour out.
    """
    hour_spans = _whole_spans(edges, 60)
    day_ranges: list[list[tuple[int, int]]] = [[] for _ in edges[1:]]
    if not hour_spans:
        return day_ranges, []
    first_hour, end_hour = hour_spans[0][1], hour_spans[-1][2]
    one_sided, hour_ranges = _plan_cut_days(edges, first_hour, end_hour, open_from)
    for bucket, first, end in _whole_spans(edges, 1440):
        if first < open_from:
            day_ranges[bucket].append((first // DAY, min(end, open_from) // DAY))
        if end > open_from:
            hour_ranges.append((max(first, open_from), end))
    hour_ranges = _merged(hour_ranges)
    for plan in one_sided:
        day_ranges[plan.total_bucket].append((plan.day // DAY, plan.day // DAY + 1))
    day_ranges = [_merged(ranges) for ranges in day_ranges]
    parts = []
    if hour_ranges:
        hours = _minutes(slice_, hour_spans, edges).where(
            *slice_.hourly(),
            _in_ranges(activity.c.hour, hour_ranges),
        )
        inside = sorted(hour for hour in cut if first_hour <= hour < end_hour)
        if inside:
            hours = hours.where(sa.not_(slice_.one_of(activity.c.hour, inside)))
        parts.append(hours)
    if one_sided:
        parts += _one_sided_parts(slice_, one_sided, cut)
    return day_ranges, parts


def _one_sided_parts(
    slice_: _Slice, plans: Sequence[_OneSidedDay], cut: set[int]
) -> list[sa.Select[Any]]:
    """The hours of one-sided days' sides, and those taken off the days' totals.

    (The totals themselves are day columns, read with the whole days.) The side's hours are
    summed per (day, user) once and then used twice, so each user adds two rows per day to
    the final sum however many hours the side holds.
    """
    day = activity.c.hour - activity.c.hour % DAY
    minutes = _bits(slice_.mask())
    not_cut = (
        sa.case((slice_.one_of(activity.c.hour, sorted(cut)), 0), else_=minutes) if cut else minutes
    )
    sides = (
        sa.select(
            day.label("day"),
            activity.c.user_id,
            sa.cast(sa.func.sum(not_cut), sa.Integer).label("side"),
            sa.cast(sa.func.sum(minutes), sa.Integer).label("taken"),
        )
        .where(
            *slice_.hourly(),
            # Ranges, not a list of hours: each range is a scan of the organization's index.
            _in_ranges(activity.c.hour, [plan.side for plan in plans]),
        )
        .group_by(day, activity.c.user_id)
        .cte("sides")
    )
    total_spans = [(plan.total_bucket, plan.day, plan.day + DAY) for plan in plans]
    side_spans = [
        (plan.side_bucket, plan.day, plan.day + DAY)
        for plan in plans
        if plan.side_bucket is not None
    ]
    parts = [
        sa.select(
            _search(total_spans, sides.c.day).label("bucket"),
            sides.c.user_id,
            (-sides.c.taken).label("minutes"),
        ),
    ]
    if side_spans:
        parts.append(
            sa.select(
                _search(side_spans, sides.c.day).label("bucket"),
                sides.c.user_id,
                sides.c.side.label("minutes"),
            ).where(slice_.one_of(sides.c.day, [span[1] for span in side_spans]))
        )
    return parts


def _in_ranges(column: sa.ColumnElement[int], ranges: Iterable[tuple[int, int]]) -> Any:
    """``column`` in one of the [low, high) ranges."""
    return sa.or_(*(sa.and_(column >= low, column < high) for low, high in ranges))


def _minutes(slice_: _Slice, spans: Sequence[Span], edges: Sequence[int]) -> sa.Select[Any]:
    """(bucket, user, minutes) of the slice's hourly rows, each inside one of ``spans``."""
    start = activity.c.hour
    step = _equal_step(edges)
    bucket = _search(spans, start) if step is None else (start // 60 - edges[0]) // step
    return sa.select(
        bucket.label("bucket"), activity.c.user_id, _bits(slice_.mask()).label("minutes")
    )


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with the touching ones joined."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _search(spans: Sequence[Span], start: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """The bucket of a row starting at ``start`` inside one of ``spans`` (sorted, disjoint).

    Spans that start at equal intervals, with buckets at equal steps, give arithmetic;
    others a binary search written as nested ``CASE``s.
    """
    if len(spans) == 1:
        return sa.literal(spans[0][0], sa.Integer)
    bucket, first, _ = spans[0]
    interval, step = spans[1][1] - first, spans[1][0] - bucket
    evenly = all(
        span == (bucket + i * step, first + i * interval, span[2]) for i, span in enumerate(spans)
    )
    if evenly and spans[-1][2] - spans[-1][1] <= interval:
        return (start - first) // interval * step + bucket
    middle = len(spans) // 2
    return sa.case(
        (start < spans[middle][1], _search(spans[:middle], start)),
        else_=_search(spans[middle:], start),
    )


def _equal_step(edges: Sequence[int]) -> int | None:
    """The common length in minutes of the buckets when every one but a shorter last has it."""
    step, buckets = edges[1] - edges[0], len(edges) - 1
    if step <= 0 or edges[-1] - edges[0] > buckets * step:
        return None
    if all(edge == edges[0] + i * step for i, edge in enumerate(edges[:-1])):
        return step
    return None


def _whole_spans(edges: Sequence[int], unit: int) -> list[Span]:
    """(bucket, first, end) in epoch seconds of the whole ``unit``-minute steps inside a bucket."""
    spans = []
    for bucket, (first, end) in enumerate(itertools.pairwise(edges)):
        first_unit, end_unit = -(-first // unit), end // unit
        if first_unit < end_unit:
            spans.append((bucket, first_unit * unit * 60, end_unit * unit * 60))
    return spans


def _cut_hours(edges: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
    """Hours (epoch seconds) an edge cuts, each with its (bucket, minute mask) pieces."""
    cut: dict[int, list[tuple[int, int]]] = {}
    for hour in sorted({edge // 60 for edge in edges if edge % 60}):
        first, end = hour * 60, hour * 60 + 60
        pieces = []
        bucket = max(bisect.bisect_right(edges, first) - 1, 0)
        while bucket < len(edges) - 1 and edges[bucket] < end:
            low, high = max(edges[bucket], first), min(edges[bucket + 1], end)
            if low < high:
                pieces.append((bucket, minute_mask(low - first, high - first)))
            bucket += 1
        if pieces:
            cut[hour * HOUR] = pieces
    return cut
