"""Storing accepted events as active minutes (docs/api.md), exactly once.

A batch becomes rollup rows keyed (organization, hour, user) holding a minute mask per category.
The upsert ORs masks in; its ``added_*`` columns record how many bits each write set that were
not set before, so the number of *new* minutes is exact even with concurrent writers, and the
monotonic totals grow by exactly that. A write that sets no new bit leaves its row as it is (a
replay rewrites no hourly row). Rows are written in key order, so concurrent batches lock in the
same order and cannot deadlock. The day blocks of closed days grow by the same new bits, per
(organization, category, UTC day, user), after all of a batch's hourly rows; open days (today)
are left to the hourly rows until they close (``day_blocks``). Last come the newest minutes of
``last_seen``, per (organization, user) and category, and the totals.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.events import Event
from exporter.model import ALL_ORGANIZATIONS_KEY, DAY, Category, split_minutes
from exporter.store import bulk_postgresql, day_blocks, placeholders
from exporter.store.hourly import (
    Groups,
    HourKey,
    Minutes,
    Row,
    RowKey,
    built_chunks,
    hourly_groups,
    newest_minutes,
)
from exporter.store.schema import (
    ADDED_COLUMNS,
    LAST_SEEN_COLUMNS,
    MASK_COLUMNS,
    activity,
    activity_totals,
    last_seen,
)
from exporter.store.sql import greatest, popcount
from exporter.store.upsert import insert

__all__ = [
    "HourKey",
    "IngestResult",
    "Minutes",
    "RowKey",
    "add_totals",
    "ensure_placeholders",
    "rollup",
    "store_minutes",
]
_CHUNK = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class IngestResult:
    """What ``POST /api/v1/activity`` answers."""

    accepted: int
    minutes: int
    new_minutes: int


def rollup(events: Iterable[Event]) -> Minutes:
    """Masks of the real (organization, category) slices that the events cover, per hour."""
    masks: dict[RowKey, int] = defaultdict(int)
    for event in events:
        for hour, mask in split_minutes(event.first_minute, event.end_minute):
            masks[(event.organization_id, event.category, hour, event.user_id)] |= mask
    return dict(masks)


async def store_minutes(
    connection: AsyncConnection,
    minutes: Minutes,
    *,
    accepted: int,
    now: float,
    max_organizations: int,
) -> IngestResult:
    """Store a batch's active minutes (``rollup``) inside the caller's transaction."""
    if not minutes:
        return IngestResult(accepted=accepted, minutes=0, new_minutes=0)
    # First of all its locks (see ``day_blocks``): which days are still open.
    first_open_day = await day_blocks.first_open_day(connection, for_ingest=True)
    # CPU-bound for large batches: a worker thread builds the rows, so the event loop keeps
    # answering /healthz and /metrics meanwhile.
    groups = await asyncio.to_thread(hourly_groups, minutes)
    pairs = {(organization_id, user_id) for organization_id, _, _, user_id in minutes}
    await ensure_placeholders(connection, pairs, now=now, max_organizations=max_organizations)
    if connection.dialect.name == "postgresql":  # "last seen" too
        added = await bulk_postgresql.upsert_hours(
            connection, groups, first_open_day=first_open_day
        )
    else:
        added = await _upsert_activity(connection, groups, first_open_day=first_open_day)
        await _update_last_seen(connection, groups)
    new_minutes = await add_totals(connection, added)
    return IngestResult(
        accepted=accepted,
        minutes=sum(mask.bit_count() for mask in minutes.values()),
        new_minutes=new_minutes,
    )


async def ensure_placeholders(
    connection: AsyncConnection,
    pairs: set[tuple[str, str]],
    *,
    now: float,
    max_organizations: int,
) -> None:
    """Placeholders and implicit memberships for a batch's (organization, user) pairs."""
    await placeholders.ensure_organizations(
        connection,
        {organization_id for organization_id, _ in pairs},
        now=now,
        max_organizations=max_organizations,
    )
    await placeholders.ensure_users(connection, {user_id for _, user_id in pairs}, now=now)
    await placeholders.add_implicit_memberships(connection, pairs)


async def _upsert_activity(
    connection: AsyncConnection, groups: Groups, *, first_open_day: int
) -> dict[tuple[str, int], int]:
    """OR the masks in (SQLite), a chunk at a time; return the new minutes per group."""
    statement = insert(activity, connection.dialect.name)
    new_bits = {
        name: statement.excluded[name].op("&")(activity.c[name].bitwise_not())
        for name in MASK_COLUMNS
    }
    statement = statement.on_conflict_do_update(
        index_elements=[c.name for c in activity.primary_key.columns],
        set_={
            **{name: activity.c[name].op("|")(statement.excluded[name]) for name in MASK_COLUMNS},
            **{
                added: popcount(new_bits[name])
                for name, added in zip(MASK_COLUMNS, ADDED_COLUMNS, strict=True)
            },
        },
        # A bit new in one category need not be new in ``any`` (another category may have had
        # that minute), so every mask is tested.
        where=sa.or_(*(bits != 0 for bits in new_bits.values())),
    ).returning(
        activity.c.organization_id,
        activity.c.hour,
        activity.c.user_id,
        *(activity.c[name] for name in ADDED_COLUMNS),
    )
    added = day_blocks.NewMinutes(open_from=first_open_day * DAY)
    # Each chunk's parameters are built in a worker thread and dropped once sent.
    async for params in built_chunks(groups, _CHUNK, _activity_params):
        added.count(await connection.execute(statement, params))
    await day_blocks.add_days(connection, added.days)
    return added.per_group


def _activity_params(rows: list[Row]) -> list[dict[str, object]]:
    """The ``activity`` upsert's parameters of ``rows``."""
    return [
        {
            "organization_id": org,
            "hour": hour,
            "user_id": user,
            **dict(zip(MASK_COLUMNS, masks, strict=True)),
            **{name: mask.bit_count() for name, mask in zip(ADDED_COLUMNS, masks, strict=True)},
        }
        for (org, hour, user), masks in rows
    ]


async def add_totals(connection: AsyncConnection, added: dict[tuple[str, int], int]) -> int:
    """Add the new minutes per (organization, category) to the totals; their sum.

    ``added`` is what the hourly upsert counted; the unions (``any``, ``*``) have no totals.
    """
    new_minutes = {
        key: count
        for key, count in added.items()
        if key[1] != Category.ANY and key[0] != ALL_ORGANIZATIONS_KEY and count
    }
    if not new_minutes:
        return 0
    statement = insert(activity_totals, connection.dialect.name)
    statement = statement.on_conflict_do_update(
        index_elements=["organization_id", "category"],
        set_={"minutes": activity_totals.c.minutes + statement.excluded.minutes},
    )
    await connection.execute(
        statement,
        [
            {"organization_id": org, "category": category, "minutes": count}
            for (org, category), count in sorted(new_minutes.items())
        ],
    )
    return sum(new_minutes.values())


async def _update_last_seen(connection: AsyncConnection, groups: Groups) -> None:
    """Keep the newest active minute per (organization, user) and category (SQLite)."""
    statement = insert(last_seen, connection.dialect.name)
    statement = statement.on_conflict_do_update(
        index_elements=["organization_id", "user_id"],
        # Either side may be NULL (no minute of that category): each falls back to the other.
        set_={
            name: greatest(
                sa.func.coalesce(last_seen.c[name], statement.excluded[name]),
                sa.func.coalesce(statement.excluded[name], last_seen.c[name]),
            )
            for name in LAST_SEEN_COLUMNS
        },
    )
    params = await asyncio.to_thread(_last_seen_params, groups)  # CPU-bound, like the masks
    for start in range(0, len(params), _CHUNK):
        await connection.execute(statement, params[start : start + _CHUNK])


def _last_seen_params(groups: Groups) -> list[dict[str, object]]:
    """The newest minute per (organization, user) and category of ``groups``, in key order."""
    return [
        {"organization_id": org, "user_id": user, **dict(zip(LAST_SEEN_COLUMNS, seen, strict=True))}
        for (org, user), seen in newest_minutes(groups)
    ]
