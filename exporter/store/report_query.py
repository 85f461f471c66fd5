"""The activity report's reads: active minutes per (bucket, user) and the users' profiles.

Buckets arrive as epoch-minute edges ``M_0 < … < M_n``: minute *m* is in bucket *i* when
``M_i ≤ m < M_(i+1)``. A bucket is read at the coarsest grain that fits:

* UTC days wholly inside a bucket from the daily rollup ``activity_daily``;
* hours wholly inside a bucket, on the days an edge cuts, from the hourly ``minutes``;
* the at most ``n + 1`` hours that an edge cuts (edges off the hour), fetched as masks and
  split between their buckets here with bit masks.

The first two are summed in the database in one statement (``UNION ALL``, then
``SUM(minutes) GROUP BY bucket, user``): for buckets of equal length (every unit but months and
years) the bucket is arithmetic on the row's start, ``(start / 60 - M_0) / step``; for calendar
buckets it is a binary search written as nested ``CASE``s over the buckets' first hours or days.
So a report whose edges fall on UTC midnight reads days only.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import DAY, HOUR, SERVICE_ROLE, minute_mask
from exporter.store.schema import activity, activity_daily, site_roles, users

BucketCounts = dict[tuple[int, str], int]
"""Active minutes keyed (bucket index, user id)."""

Span = tuple[int, int, int]
"""(bucket, first, end): a run of whole hours or days (epoch seconds) inside one bucket."""

_CHUNK = 500
_MAX_HOUR_RANGES = 64


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """What the report shows of a user: the last-known profile, deleted or not."""

    username: str
    name: str
    avatar_hash: str
    roles: tuple[str, ...]


async def bucket_minutes(
    connection: AsyncConnection, *, organization_key: str, category: int, edges: Sequence[int]
) -> BucketCounts:
    """Active minutes of one (organization, category) slice per bucket and user."""
    counts: BucketCounts = defaultdict(int)
    cut = _cut_hours(edges)
    whole = _whole(organization_key, category, edges, set(cut))
    if whole is not None:
        for bucket, user_id, minutes in await connection.execute(whole):
            counts[(int(bucket), user_id)] += int(minutes)
    if cut:
        masks = sa.select(activity.c.hour, activity.c.user_id, activity.c.mask).where(
            activity.c.organization_id == organization_key,
            activity.c.category == category,
            activity.c.hour.in_(sorted(cut)),
        )
        for hour, user_id, mask in await connection.execute(masks):
            for bucket, piece in cut[int(hour)]:
                minutes = (int(mask) & piece).bit_count()
                if minutes:
                    counts[(bucket, user_id)] += minutes
    return dict(counts)


def _whole(
    organization_key: str, category: int, edges: Sequence[int], cut: set[int]
) -> sa.Select[int, str, int] | None:
    """``SUM(minutes)`` by (bucket, user) over whole days and the other whole hours, or None."""
    hour_spans = _whole_spans(edges, 60)
    if not hour_spans:
        return None
    day_spans = _whole_spans(edges, 1440)
    first_hour, end_hour = hour_spans[0][1], hour_spans[-1][2]
    hour_ranges = [(first_hour, end_hour)]
    if day_spans:
        cut_days = sorted({edge // 1440 * DAY for edge in edges if edge % 1440})
        hour_ranges = _merged(
            (max(day, first_hour), min(day + DAY, end_hour))
            for day in cut_days
            if day < end_hour and first_hour < day + DAY
        )
        if len(hour_ranges) > _MAX_HOUR_RANGES:  # many buckets of days cut off midnight
            day_spans, hour_ranges = [], [(first_hour, end_hour)]
    parts = []
    if hour_ranges:
        parts.append(
            _minutes(activity, activity.c.hour, hour_spans, edges).where(
                activity.c.organization_id == organization_key,
                activity.c.category == category,
                sa.or_(
                    *(sa.and_(activity.c.hour >= a, activity.c.hour < b) for a, b in hour_ranges)
                ),
            )
        )
        inside = sorted(hour for hour in cut if first_hour <= hour < end_hour)
        if inside:
            parts[0] = parts[0].where(activity.c.hour.not_in(inside))
    if day_spans:
        first_day, end_day = day_spans[0][1], day_spans[-1][2]
        days = _minutes(activity_daily, activity_daily.c.day, day_spans, edges).where(
            activity_daily.c.organization_id == organization_key,
            activity_daily.c.category == category,
            activity_daily.c.day >= first_day,
            activity_daily.c.day < end_day,
        )
        cut_inside = sorted(
            {edge // 1440 * DAY for edge in edges if edge % 1440}
            & set(range(first_day, end_day, DAY))
        )
        if cut_inside:
            days = days.where(activity_daily.c.day.not_in(cut_inside))
        parts.append(days)
    rows = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("whole")
    return sa.select(rows.c.bucket, rows.c.user_id, sa.func.sum(rows.c.minutes)).group_by(
        rows.c.bucket, rows.c.user_id
    )


def _minutes(
    table: sa.Table, start: sa.ColumnElement[int], spans: Sequence[Span], edges: Sequence[int]
) -> sa.Select[int, str, int]:
    """(bucket, user, minutes) of ``table``'s rows, each wholly inside one of ``spans``."""
    step = _equal_step(edges)
    bucket = _search(spans, start) if step is None else (start // 60 - edges[0]) // step
    return sa.select(bucket.label("bucket"), table.c.user_id, table.c.minutes)


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
    """The bucket of a row starting at ``start``: binary search over the spans, nested ``CASE``s."""
    if len(spans) == 1:
        return sa.literal(spans[0][0], sa.Integer)
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


async def profiles(connection: AsyncConnection, user_ids: Sequence[str]) -> dict[str, Profile]:
    """Last-known profiles and site roles (sorted, ``activity-writer`` left out) by user id."""
    found: dict[str, Profile] = {}
    for start in range(0, len(user_ids), _CHUNK):
        chunk = list(user_ids[start : start + _CHUNK])
        roles: dict[str, list[str]] = defaultdict(list)
        for user_id, role in await connection.execute(
            sa.select(site_roles.c.user_id, site_roles.c.role).where(
                site_roles.c.user_id.in_(chunk), site_roles.c.role != SERVICE_ROLE
            )
        ):
            roles[user_id].append(role)
        for row in await connection.execute(
            sa.select(users.c.id, users.c.username, users.c.name, users.c.avatar_hash).where(
                users.c.id.in_(chunk)
            )
        ):
            found[row.id] = Profile(
                username=row.username,
                name=row.name,
                avatar_hash=row.avatar_hash,
                roles=tuple(sorted(roles[row.id])),
            )
    return found
