"""Helpers for the Coder source's tests: a source over a fixture, and the store as minutes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from exporter.config import Config, normalize_database_url
from exporter.sources import SyncScheduler
from exporter.sources.coder import CoderSource
from exporter.store import Store
from exporter.store.gauges import WINDOWS, read_gauges
from exporter.store.schema import MASK_COLUMNS
from tests.coderdb import sqlalchemy_url
from tests.coderdb.oracle import Minute, Rules, active_users
from tests.support import T0, stored_activity

RETENTION = 10 * 86400.0
DORMANCY = 5 * 86400.0


def coder_config(store_url: str, coder_url: str, **settings: Any) -> Config:
    """The tests' configuration: a 10-day retention, so that the fixture's oldest rows fall out."""
    return Config(
        database_url=store_url,
        retention=RETENTION,
        dormancy=DORMANCY,
        coder_database_url=normalize_database_url(sqlalchemy_url(coder_url)),
        **settings,
    )


def rules(config: Config, now: dt.datetime = T0) -> Rules:
    """The oracle's rules for a configuration."""
    return dataclasses.replace(
        Rules(now=now.timestamp(), retention=config.retention),
        ide_apps=frozenset(config.coder_ide_apps),
    )


def scheduler(store: Store, config: Config) -> SyncScheduler:
    """A scheduler over a Coder source for ``store``."""
    return SyncScheduler(CoderSource(store, config), store, interval=config.coder_sync_interval)


def coder_source(sync: SyncScheduler) -> CoderSource:
    """The scheduler's source, which ``scheduler`` made a Coder source."""
    assert isinstance(sync.source, CoderSource)
    return sync.source


async def stored_minutes(store: Store) -> set[Minute]:
    """Every (user, organization, category, minute) of real organizations and categories."""
    minutes: set[Minute] = set()
    for (organization, category, hour, user), mask in (await stored_activity(store)).items():
        if organization == "*" or category == 0:
            continue
        for bit in range(60):
            if mask >> bit & 1:
                minutes.add((user, organization, category, hour // 60 + bit))
    return minutes


async def gauges_match(
    store: Store, minutes: set[Minute], *, totals: bool = False
) -> dict[str, Any]:
    """Differences between the refresh's gauges and the oracle's (empty: none).

    Active users per organization, category and window and the newest minute per organization
    and category; with ``totals``, the time ever recorded too (only a store that never held
    other minutes can match it).
    """
    async with store.read() as connection:
        readings = await read_gauges(connection, now=store.clock(), dormancy=DORMANCY)
    expected = active_users(minutes, now=store.clock(), windows=WINDOWS)
    live = {org.id for org in readings.organizations}
    differences: dict[str, Any] = {}
    for org in [None, *sorted(live)]:
        for category in range(len(MASK_COLUMNS)):
            for window in WINDOWS:
                got = readings.active_users.get((org or "*", category, window), 0)
                want = expected.get((org, category, window), 0)
                if got != want:
                    differences[f"{org}/{category}/{window}"] = (got, want)
    newest: dict[tuple[str, int], int] = {}
    recorded: dict[tuple[str, int], int] = {}
    for _user, org, category, minute in minutes:
        for key in ((org, category), (org, 0), ("*", category), ("*", 0)):
            newest[key] = max(newest.get(key, 0), minute * 60)
        recorded[(org, category)] = recorded.get((org, category), 0) + 1
    if readings.last_activity != newest:
        differences["last_activity"] = (readings.last_activity, newest)
    if totals and readings.total_minutes != recorded:
        differences["total_minutes"] = (readings.total_minutes, recorded)
    return differences


def report_totals(body: Mapping[str, Any]) -> dict[str, int]:
    """User id -> total_count of a report answer."""
    return {user_id: user["total_count"] for user_id, user in body["users"].items()}
