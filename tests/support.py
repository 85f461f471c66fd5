"""Test helpers: a hand-written clock, tokens for roles, posting events, reading the store."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from exporter.events import Event, parse_events
from exporter.model import Category
from exporter.store import Store, directory
from exporter.store.listing import LAST_ACTIVITY, USERS_SEEN
from exporter.store.schema import (
    MASK_COLUMNS,
    activity,
    activity_totals,
    api_tokens,
    day_blocks_state,
    memberships,
    organizations,
    site_roles,
    users,
)
from exporter.store.tokens import create_token
from exporter.timeutil import format_utc

T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


class FakeClock:
    """A clock the test moves by hand: ``clock.now`` is epoch seconds."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds

    def set(self, moment: dt.datetime) -> None:
        """Jump to a moment."""
        self.now = moment.timestamp()


async def open_days_from(store: Store, day: int) -> None:
    """Make day number ``day`` the store's first open day (and every later day open too).

    The migration opens today by the wall clock, not by the store's clock; the wall clock is
    past the tests' ``T0``, so every day near ``T0`` starts closed. Tests of open days move
    the first open day by hand.
    """
    async with store.write() as connection:
        await connection.execute(sa.update(day_blocks_state).values(first_open_day=day))


def iso(moment: dt.datetime) -> str:
    """``2026-11-24T12:00:00Z`` for an aware datetime."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def make_token(
    store: Store,
    user_id: str,
    *,
    roles: Sequence[str] = (),
    organizations: Mapping[str, Sequence[str]] | None = None,
    username: str | None = None,
) -> str:
    """PUT a user with these roles into the directory and return a new token for it."""
    async with store.write() as connection:
        await store.directory(connection).put_user(
            user_id,
            directory.UserRecord(
                username=username or user_id,
                roles=list(roles),
                organizations=dict(organizations or {}),
            ),
        )
        token = await create_token(connection, user_id, now=store.clock(), lifetime=None)
    return token.text


async def stored_activity(store: Store) -> dict[tuple[Any, ...], int]:
    """Every non-zero minute mask of the hourly rows, keyed (organization, category, hour, user)."""
    async with store.read() as connection:
        rows = await connection.execute(sa.select(activity))
        return {
            (r.organization_id, category, r.hour, r.user_id): r._mapping[name]
            for r in rows
            for category, name in enumerate(MASK_COLUMNS)
            if r._mapping[name]
        }


async def stored_totals(store: Store) -> dict[tuple[str, int], int]:
    """The monotonic totals, keyed (organization, category), in minutes."""
    async with store.read() as connection:
        rows = await connection.execute(sa.select(activity_totals))
        return {(r.organization_id, r.category): r.minutes for r in rows}


def pgserver_data_dir() -> Path:
    """An empty directory for a pgserver cluster that its own system user can reach.

    As root, pgserver runs PostgreSQL as an unprivileged user, which cannot enter pytest's
    0700 temporary directories; a world-readable directory directly under the temp root can.
    """
    path = Path(tempfile.mkdtemp(prefix="usage-metrics-pg-"))
    path.chmod(0o755)
    return path


ACTIVITY = "/api/v1/activity"


def at(hours: int, minutes: int = 0, seconds: int = 0, day: dt.datetime = T0) -> str:
    """``HH:MM:SS`` of the test clock's day, as an RFC 3339 string."""
    return iso(day.replace(hour=hours, minute=minutes, second=seconds))


def epoch(text: str) -> int:
    """Epoch seconds of an RFC 3339 string written with ``Z``."""
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def event(
    user_id: str = "u1",
    time: str | None = None,
    *,
    category: str = "ide",
    organization_id: str | None = "o1",
    end_time: str | None = None,
) -> dict[str, Any]:
    """An event as a producer sends it (``organization_id=None`` leaves it out)."""
    item: dict[str, Any] = {"user_id": user_id, "category": category, "time": time or at(10)}
    if organization_id is not None:
        item["organization_id"] = organization_id
    if end_time is not None:
        item["end_time"] = end_time
    return item


async def post_events(
    client: TestClient[Any, Any],
    headers: Mapping[str, str],
    events: Sequence[object],
    *,
    ndjson: bool = False,
) -> tuple[int, dict[str, Any]]:
    """POST a batch (JSON or NDJSON); return the status and the decoded JSON answer."""
    if ndjson:
        body = "\n".join(json.dumps(item) for item in events) + "\n"
        response = await client.post(
            ACTIVITY,
            data=body.encode(),
            headers={**headers, "Content-Type": "application/x-ndjson"},
        )
    else:
        response = await client.post(ACTIVITY, json={"events": list(events)}, headers=headers)
    return response.status, await response.json()


async def post_raw(
    client: TestClient[Any, Any],
    headers: Mapping[str, str],
    data: bytes,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    """POST raw bytes to the ingest route."""
    response = await client.post(
        ACTIVITY, data=io.BytesIO(data), headers={**headers, "Content-Type": content_type}
    )
    assert response.content_type == "application/json", await response.text()
    return response.status, await response.json()


async def directory_state(store: Store) -> dict[str, Any]:
    """Every directory row (organizations, users, memberships, roles, tokens), comparable."""
    state: dict[str, Any] = {}
    async with store.read() as connection:
        for table in (organizations, users, memberships, site_roles, api_tokens):
            rows = await connection.execute(sa.select(table))
            state[table.name] = sorted(tuple(row) for row in rows)
    return state


async def whole_state(store: Store) -> tuple[Any, ...]:
    """Activity, totals and directory together: what 'nothing was stored' compares."""
    return (await stored_activity(store), await stored_totals(store), await directory_state(store))


async def organization_row(store: Store, organization_id: str) -> Any:
    """The organizations row of an id, or ``None``."""
    async with store.read() as connection:
        query = sa.select(organizations).where(organizations.c.id == organization_id)
        return (await connection.execute(query)).first()


async def user_row(store: Store, user_id: str) -> Any:
    """The users row of an id with its ``last_activity_at`` (from "last seen"), or ``None``."""
    query = sa.select(users, LAST_ACTIVITY).select_from(USERS_SEEN).where(users.c.id == user_id)
    async with store.read() as connection:
        return (await connection.execute(query)).first()


async def memberships_of(store: Store, user_id: str) -> dict[str, str]:
    """Organization id → space-separated roles of a user."""
    async with store.read() as connection:
        rows = await connection.execute(
            sa.select(memberships.c.organization_id, memberships.c.roles).where(
                memberships.c.user_id == user_id
            )
        )
        return dict(rows.all())


async def site_roles_of(store: Store, user_id: str) -> list[str]:
    """Sorted site roles of a user."""
    async with store.read() as connection:
        rows = await connection.execute(
            sa.select(site_roles.c.role).where(site_roles.c.user_id == user_id)
        )
        return sorted(rows.scalars())


def masks(
    rows: Mapping[tuple[Any, ...], int], *, organization: str, category: int, user: str
) -> dict[int, int]:
    """Hour → minute mask of one (organization, category, user) slice of the rollup."""
    return {
        key[2]: mask
        for key, mask in rows.items()
        if key[0] == organization and key[1] == category and key[3] == user
    }


def bits(*minutes: int) -> int:
    """A minute mask with these minutes of the hour set."""
    return sum(1 << minute for minute in set(minutes))


def names(items: Iterable[Mapping[str, Any]], key: str = "id") -> list[Any]:
    """One field of each item of a listing."""
    return [item[key] for item in items]


# (user, organization, category, start minute after the first minute, minutes; 0 = a point)
RawEvent = tuple[int, int, Category, int, int]


def raw_to_events(
    store: Store, raw: Sequence[RawEvent], prefix: str, first_minute: int
) -> list[Event]:
    """Validated events of drawn tuples, under user and organization ids starting ``prefix``."""
    items: list[dict[str, Any]] = []
    for user, organization, category, offset, length in raw:
        start = (first_minute + offset) * 60 + 17
        item = {
            "user_id": f"{prefix}u{user}",
            "organization_id": f"{prefix}o{organization}",
            "category": category.token,
            "time": format_utc(start),
        }
        if length:
            item["end_time"] = format_utc(start + length * 60 - 30)
        items.append(item)
    return parse_events(items, store.ingest_limits())
