"""Test helpers: a hand-written clock, tokens for given roles, counting stored rows."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from exporter.store import Store, directory
from exporter.store.schema import MASK_COLUMNS, activity, activity_totals, day_blocks_state
from exporter.store.tokens import create_token

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
        await directory.put_user(
            connection,
            user_id,
            directory.UserRecord(
                username=username or user_id,
                roles=list(roles),
                organizations=dict(organizations or {}),
            ),
            now=store.clock(),
            max_organizations=store.config.max_organizations,
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
