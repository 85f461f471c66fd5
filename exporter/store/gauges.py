"""The store queries behind the gauges (docs/metrics.md), none of which reads activity history.

Windows come from ``last_seen``, which ingest keeps as the newest active minute per
(organization, user) and category, unions included. A user is active in window W at T when
some active minute M satisfies T' - W < M <= T' (T' = T rounded down to the minute); when
the newest minute N is at most T' that is simply ``N > T' - W``. Only minutes
recorded ahead of T' (producers may send up to 5 minutes into the future) need the rollup,
and then only for those few users and the last 30 days. So a refresh costs in proportion to
the directory and the recently active users, never to the length of history.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import DAY, HOUR, SERVICE_ROLE, SUSPENDED, minute_mask
from exporter.store.listing import LAST_ACTIVITY, USERS_SEEN
from exporter.store.schema import (
    DAY_COLUMNS,
    DAYS_PER_BLOCK,
    LAST_SEEN_COLUMNS,
    MASK_COLUMNS,
    activity,
    activity_days,
    activity_totals,
    last_seen,
    memberships,
    organizations,
    site_roles,
    users,
)
from exporter.store.sql import one_of

WINDOWS: Mapping[str, int] = {"1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
_LONGEST = max(WINDOWS.values())
GroupKey = tuple[str, int]  # organization id (or '*'), category (or 0 for any)


@dataclasses.dataclass(frozen=True, slots=True)
class LiveOrganization:
    """An organization that has series in /metrics."""

    id: str
    name: str
    display_name: str


@dataclasses.dataclass(frozen=True, slots=True)
class GaugeReadings:
    """Everything one refresh reads from the store, keyed by ids."""

    organizations: list[LiveOrganization]
    active_users: dict[tuple[str, int, str], int]  # (org, category, window) -> users
    last_activity: dict[GroupKey, int]  # newest active minute, epoch seconds
    total_minutes: dict[GroupKey, int]  # monotonic, real organizations and categories
    users: dict[str, int]  # org id or '*' -> users not deleted, service accounts excluded
    dormant_users: dict[str, int]
    suspended_users: dict[str, int]


def _service_accounts() -> sa.Select[tuple[str]]:
    """Ids of users whose only site role is ``activity-writer``."""
    others = sa.select(site_roles.c.user_id).where(site_roles.c.role != SERVICE_ROLE)
    return sa.select(site_roles.c.user_id).where(
        site_roles.c.role == SERVICE_ROLE, site_roles.c.user_id.not_in(others)
    )


async def read_gauges(connection: AsyncConnection, *, now: float, dormancy: float) -> GaugeReadings:
    """Read every gauge value as of ``now``."""
    minute_now = int(now // 60) * 60
    active, last = await _windows(connection, minute_now)
    users_count, dormant, suspended = await _seats(connection, now=now, dormancy=dormancy)
    totals = {
        (org, category): minutes
        for org, category, minutes in await connection.execute(sa.select(activity_totals))
    }
    live = await connection.execute(
        sa.select(organizations.c.id, organizations.c.name, organizations.c.display_name)
        .where(organizations.c.deleted_at.is_(None))
        .order_by(organizations.c.name)
    )
    return GaugeReadings(
        organizations=[LiveOrganization(*row) for row in live],
        active_users=active,
        last_activity=last,
        total_minutes=totals,
        users=users_count,
        dormant_users=dormant,
        suspended_users=suspended,
    )


async def _windows(
    connection: AsyncConnection, minute_now: int
) -> tuple[dict[tuple[str, int, str], int], dict[GroupKey, int]]:
    """Distinct active users per group and window, and the newest minute per group.

    One pass over ``last_seen``, a row per (organization, user) with a column per category:
    the newest minute counts everyone, the windows only people. Service accounts come in by
    an outer join, so each row tests that once rather than once per count.
    """
    accounts = _service_accounts().subquery("accounts")
    person = accounts.c.user_id.is_(None)
    counts: list[sa.ColumnElement[Any]] = []
    for category, name in enumerate(LAST_SEEN_COLUMNS):
        seen = last_seen.c[name]
        counts.append(sa.func.max(seen).label(f"newest_{category}"))
        recent = sa.and_(person, seen > minute_now - _LONGEST)
        counts.append(sa.func.count().filter(recent).label(f"recent_{category}"))
        for window, width in WINDOWS.items():
            within = sa.and_(person, seen > minute_now - width, seen <= minute_now)
            counts.append(sa.func.count().filter(within).label(f"{window}_{category}"))
    counted = (
        sa.select(last_seen.c.organization_id, *counts)
        .select_from(last_seen.outerjoin(accounts, accounts.c.user_id == last_seen.c.user_id))
        .group_by(last_seen.c.organization_id)
    )
    active: dict[tuple[str, int, str], int] = defaultdict(int)
    last: dict[GroupKey, int] = {}
    for row in (await connection.execute(counted)).mappings():
        org = row["organization_id"]
        for category in range(len(LAST_SEEN_COLUMNS)):
            newest = row[f"newest_{category}"]
            if newest is None:  # nobody in this organization has this category
                continue
            last[(org, category)] = int(newest)
            if row[f"recent_{category}"]:
                for window in WINDOWS:
                    active[(org, category, window)] += int(row[f"{window}_{category}"])
    if any(newest > minute_now for newest in last.values()):  # else nobody is ahead of now
        await _add_users_ahead_of_now(connection, minute_now, active)
    return dict(active), last


async def _add_users_ahead_of_now(
    connection: AsyncConnection, minute_now: int, active: dict[tuple[str, int, str], int]
) -> None:
    """Count users whose newest minute lies after now by looking at their recent rollup.

    Producers may send minutes up to a few minutes ahead, so there can be many such users; they
    are nearly always active now too, so the last two hours are read first and the rest of the
    longest window only for the few keys those hours leave unresolved.
    """
    columns = [last_seen.c[name] for name in LAST_SEEN_COLUMNS]
    ahead = {
        (org, category, user)
        for org, user, *minutes in await connection.execute(
            sa.select(last_seen.c.organization_id, last_seen.c.user_id, *columns)
            .where(sa.or_(*(column > minute_now for column in columns)))
            .where(last_seen.c.user_id.not_in(_service_accounts()))
        )
        for category, minute in enumerate(minutes)
        if minute is not None and minute > minute_now
    }
    newest: dict[tuple[str, int, str], int] = {}
    recent_hour = (minute_now - HOUR) // HOUR * HOUR
    first_hour = (minute_now - _LONGEST) // HOUR * HOUR
    for low, high in ((recent_hour, minute_now), (first_hour, recent_hour - 1)):
        wanted = ahead - newest.keys()
        if not wanted:
            break
        await _newest_visible(
            connection, wanted, low=low, high=high, minute_now=minute_now, newest=newest
        )
    for (org, category, _user), minute in newest.items():
        for name, width in WINDOWS.items():
            if minute > minute_now - width:
                active[(org, category, name)] += 1


async def _newest_visible(
    connection: AsyncConnection,
    wanted: set[tuple[str, int, str]],
    *,
    low: int,
    high: int,
    minute_now: int,
    newest: dict[tuple[str, int, str], int],
) -> None:
    """Into ``newest``: each wanted key's newest minute at or before now in hours low..high."""
    rows = await connection.execute(
        sa.select(
            activity.c.organization_id,
            activity.c.user_id,
            activity.c.hour,
            *(activity.c[name] for name in MASK_COLUMNS),
        )
        .where(
            one_of(
                activity.c.user_id, sorted({user for _, _, user in wanted}), connection.dialect.name
            )
        )
        .where(activity.c.hour >= low, activity.c.hour <= high)
    )
    for org, user, hour, *masks in rows:
        visible_bits = minute_mask(0, min(59, (minute_now - hour) // 60) + 1)
        for category, mask in enumerate(masks):
            key = (org, category, user)
            visible = mask & visible_bits
            if visible and key in wanted:
                minute = hour + 60 * (visible.bit_length() - 1)
                newest[key] = max(newest.get(key, minute), minute)


async def _seats(
    connection: AsyncConnection, *, now: float, dormancy: float
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Seats, dormant seats and suspended users, per organization and over all (``*``).

    Seats are users not deleted, not suspended and not service accounts; a suspended user
    counts only as suspended.
    """
    reference = sa.func.coalesce(LAST_ACTIVITY, users.c.created_at)
    seat = users.c.status != SUSPENDED
    is_seat = sa.case((seat, 1), else_=0)
    is_dormant = sa.case((sa.and_(seat, reference <= now - dormancy), 1), else_=0)
    is_suspended = sa.case((seat, 0), else_=1)
    counted = (
        sa.func.coalesce(sa.func.sum(is_seat), 0),
        sa.func.coalesce(sa.func.sum(is_dormant), 0),
        sa.func.coalesce(sa.func.sum(is_suspended), 0),
    )
    live = sa.and_(users.c.deleted_at.is_(None), users.c.id.not_in(_service_accounts()))
    everyone = (
        await connection.execute(sa.select(*counted).select_from(USERS_SEEN).where(live))
    ).one()
    per_org = await connection.execute(
        sa.select(memberships.c.organization_id, *counted)
        .select_from(USERS_SEEN.join(memberships, users.c.id == memberships.c.user_id))
        .where(live)
        .group_by(memberships.c.organization_id)
    )
    counts = {"*": int(everyone[0])}
    dormant = {"*": int(everyone[1])}
    suspended = {"*": int(everyone[2])}
    for org, count, dormant_count, suspended_count in per_org:
        counts[org] = int(count)
        dormant[org] = int(dormant_count)
        suspended[org] = int(suspended_count)
    return counts, dormant, suspended


async def prune(connection: AsyncConnection, *, now: float, retention: float) -> int:
    """Delete rollup hours and days wholly older than the retention; totals are left as they are.

    Day blocks wholly older go; in the block the horizon falls in, the older days are zeroed.
    Returns the number of hourly rows deleted.
    """
    horizon_hour = int((now - retention) // HOUR) * HOUR - HOUR
    last_gone_day = int((now - retention) // DAY) - 1  # a day number
    result = await connection.execute(sa.delete(activity).where(activity.c.hour <= horizon_hour))
    first_kept_block, gone_in_it = divmod(last_gone_day + 1, DAYS_PER_BLOCK)
    await connection.execute(
        sa.delete(activity_days).where(activity_days.c.block < first_kept_block)
    )
    if gone_in_it:
        gone = [activity_days.c[name] for name in DAY_COLUMNS[:gone_in_it]]
        stale = sa.and_(
            activity_days.c.block == first_kept_block, sa.or_(*(day != 0 for day in gone))
        )
        if connection.dialect.name == "postgresql":
            # Ingest may be writing this block (with a short retention it is the current one):
            # take the row locks in ingest's order first, so that neither waits on the other
            # in a cycle.
            await connection.execute(
                sa.select(activity_days.c.user_id)
                .where(stale)
                .order_by(
                    activity_days.c.organization_id.collate("C"),
                    activity_days.c.category,
                    activity_days.c.user_id.collate("C"),
                )
                .with_for_update()
            )
        await connection.execute(
            sa.update(activity_days).where(stale).values(dict.fromkeys(gone, 0))
        )
    return int(result.rowcount or 0)
