"""The activity report's reads: active minutes per (bucket, user) and the users' profiles.

Buckets arrive as epoch-minute edges ``M_0 < … < M_n``: minute *m* is in bucket *i* when
``M_i ≤ m < M_(i+1)``. Rollup rows are hours, so each bucket splits into

* the hours wholly inside a bucket, summed in the database in one statement,
  ``SUM(minutes) GROUP BY bucket, user``: for buckets of equal length (every unit but months
  and years) the bucket is arithmetic on the hour, ``(hour / 60 - M_0) / step``; for calendar
  buckets it is a binary search written as nested ``CASE``s over the buckets' first hours;
* the at most ``n + 1`` hours that an edge cuts (edges off the hour), fetched as masks and
  split between their buckets here with bit masks.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import HOUR, SERVICE_ROLE, minute_mask
from exporter.store.schema import activity, site_roles, users

BucketCounts = dict[tuple[int, str], int]
"""Active minutes keyed (bucket index, user id)."""

_CHUNK = 500


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
    rows = sa.and_(activity.c.organization_id == organization_key, activity.c.category == category)
    cut = _cut_hours(edges)
    whole = _whole_hours(rows, edges, set(cut))
    if whole is not None:
        for bucket, user_id, minutes in await connection.execute(whole):
            counts[(int(bucket), user_id)] += int(minutes)
    if cut:
        masks = sa.select(activity.c.hour, activity.c.user_id, activity.c.mask).where(
            rows, activity.c.hour.in_(sorted(cut))
        )
        for hour, user_id, mask in await connection.execute(masks):
            for bucket, piece in cut[int(hour)]:
                minutes = (int(mask) & piece).bit_count()
                if minutes:
                    counts[(bucket, user_id)] += minutes
    return dict(counts)


def _whole_hours(
    rows: sa.ColumnElement[bool], edges: Sequence[int], cut: set[int]
) -> sa.Select[int, str, int] | None:
    """``SUM(minutes)`` by (bucket, user) over the hours no edge cuts, or ``None`` for none."""
    spans = _whole_hour_spans(edges)
    if not spans:
        return None
    first_hour, end_hour = spans[0][1], spans[-1][2]
    step = _equal_step(edges)
    bucket = _search(spans) if step is None else (activity.c.hour // 60 - edges[0]) // step
    inner = sa.select(bucket.label("bucket"), activity.c.user_id, activity.c.minutes).where(
        rows, activity.c.hour >= first_hour, activity.c.hour < end_hour
    )
    inside = sorted(hour for hour in cut if first_hour <= hour < end_hour)
    if inside:
        inner = inner.where(activity.c.hour.not_in(inside))
    hours = inner.subquery("whole_hours")
    return sa.select(hours.c.bucket, hours.c.user_id, sa.func.sum(hours.c.minutes)).group_by(
        hours.c.bucket, hours.c.user_id
    )


def _search(spans: Sequence[tuple[int, int, int]]) -> sa.ColumnElement[int]:
    """The bucket of a whole hour by binary search over the spans: nested ``CASE``s."""
    if len(spans) == 1:
        return sa.literal(spans[0][0], sa.Integer)
    middle = len(spans) // 2
    return sa.case(
        (activity.c.hour < spans[middle][1], _search(spans[:middle])),
        else_=_search(spans[middle:]),
    )


def _equal_step(edges: Sequence[int]) -> int | None:
    """The common length in minutes of the buckets when every one but a shorter last has it."""
    step, buckets = edges[1] - edges[0], len(edges) - 1
    if step <= 0 or edges[-1] - edges[0] > buckets * step:
        return None
    if all(edge == edges[0] + i * step for i, edge in enumerate(edges[:-1])):
        return step
    return None


def _whole_hour_spans(edges: Sequence[int]) -> list[tuple[int, int, int]]:
    """(bucket, first hour, end hour) in epoch seconds for the hours wholly inside a bucket."""
    spans = []
    for bucket, (first, end) in enumerate(itertools.pairwise(edges)):
        first_hour, end_hour = -(-first // 60), end // 60
        if first_hour < end_hour:
            spans.append((bucket, first_hour * HOUR, end_hour * HOUR))
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
