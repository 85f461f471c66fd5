"""The Coder source: one pass, or many, gives exactly the minutes Coder's rows describe."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient

from exporter.config import Config, normalize_database_url
from exporter.model import Category
from exporter.sources import SyncScheduler
from exporter.sources.coder import CoderSource
from exporter.store import Store
from exporter.web import create_app
from exporter.web.keys import STORE
from tests.coder_support import (
    coder_config,
    gauges_match,
    report_totals,
    rules,
    scheduler,
    stored_minutes,
)
from tests.coderdb import coder_database, fill
from tests.coderdb.generate import AgentStat, ApiKey, AuditLog, CoderData, Scale, generate
from tests.coderdb.oracle import Minute, counts, expected_minutes
from tests.coderdb.schema import NEWEST, OLDER, Shape
from tests.coderdb.timeline import Timeline, connect
from tests.conftest import PostgresDatabases
from tests.report_helpers import REPORT
from tests.support import T0, FakeClock, epoch, iso, make_token


@pytest.fixture
def coder_url(postgres_admin_url: str) -> Iterator[str]:
    """An empty Coder database of the newest shape."""
    with coder_database(postgres_admin_url, NEWEST) as url:
        yield url


@pytest.fixture
def coder_data(coder_url: str) -> CoderData:
    """The fixture's rows, written to the Coder database."""
    data = generate(NEWEST, T0)
    fill(coder_url, data)
    return data


@pytest.fixture
async def coder_store(database_url: str, coder_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """A migrated store configured to sync from the fixture."""
    store = Store.open(coder_config(database_url, coder_url), clock=clock)
    await store.migrate()
    yield store
    await store.close()


async def test_one_pass_stores_exactly_the_oracles_minutes(
    coder_store: Store, coder_data: CoderData
) -> None:
    """After one full pass the store holds exactly the minutes the rows give, nothing else."""
    sync = scheduler(coder_store, coder_store.config)
    summary = await sync.run_pass(wait=True)
    await sync.source.close()
    expected = expected_minutes(coder_data, rules(coder_store.config))
    assert summary is not None
    assert summary.first
    assert await stored_minutes(coder_store) == expected
    assert summary.new_minutes == len(expected)
    assert {category for *_, category, _ in expected} == set(range(1, 6))  # all five seen
    assert summary.skipped["workspace_app_stats"] >= 2  # one too old, one in the future
    assert summary.skipped["workspace_agent_stats"] == 2
    assert await gauges_match(coder_store, expected, totals=True) == {}


async def test_a_first_pass_in_slices_of_users_stores_the_same(
    postgres_databases: PostgresDatabases,
    coder_url: str,
    coder_data: CoderData,
    clock: FakeClock,
) -> None:
    """A first pass into PostgreSQL that reads two users per query stores the oracle's minutes."""
    config = coder_config(postgres_databases.create(), coder_url)
    store = Store.open(config, clock=clock)
    await store.migrate()
    source = CoderSource(store, config, slice_users=2)
    try:
        sync = SyncScheduler(source, store, interval=config.coder_sync_interval)
        summary = await sync.run_pass(wait=True)
        expected = expected_minutes(coder_data, rules(config))
        assert summary is not None
        assert summary.first
        assert len({user for user, *_ in expected}) > 4  # so that there are several slices
        assert await stored_minutes(store) == expected
        assert summary.new_minutes == len(expected)
        assert await gauges_match(store, expected, totals=True) == {}
    finally:
        await source.close()
        await store.close()


@pytest.mark.parametrize("shape", [NEWEST, OLDER], ids=lambda shape: shape.name)
async def test_every_report_and_gauge_equals_the_oracle(
    aiohttp_client: AiohttpClient,
    postgres_admin_url: str,
    database_url: str,
    clock: FakeClock,
    shape: Shape,
) -> None:
    """Reports for every action and organization, and every gauge, are the oracle's counts."""
    with coder_database(postgres_admin_url, shape) as url:
        data = generate(shape, T0)
        fill(url, data)
        config = coder_config(database_url, url)
        store = Store.open(config, clock=clock)
        await store.migrate()
        sync = scheduler(store, config)
        await sync.run_pass(wait=True)
        await sync.source.close()
        expected = expected_minutes(data, rules(config))
        assert await gauges_match(store, expected) == {}
        await store.close()
    client = await aiohttp_client(
        create_app(dataclasses.replace(config, coder_database_url=None), clock=clock)
    )
    headers = {
        "Session-Token": await make_token(client.app[STORE], "auditor", roles=["site-auditor"])
    }
    start, end = T0 - dt.timedelta(days=12), T0 + dt.timedelta(hours=1)
    live = [o.id for o in data.organizations if not o.deleted]
    for org in [None, *live]:
        for category in Category:
            params = {
                "start": iso(start),
                "end": iso(end),
                "category": category.token,
                "interval": "1 week",
            }
            if org is not None:
                params["org"] = org
            response = await client.get(REPORT, params=params, headers=headers)
            assert response.status == 200, await response.text()
            want = counts(
                expected,
                organization=org,
                category=int(category),
                first=epoch(iso(start)) // 60,
                end=epoch(iso(end)) // 60,
            )
            assert report_totals(await response.json()) == want, (org, category)


def _within(minutes: set[Minute], horizon_minute: int) -> set[Minute]:
    return {m for m in minutes if m[3] >= horizon_minute}


async def _single_pass_minutes(
    url: str, config: Config, clock: FakeClock, path: Path
) -> set[Minute]:
    """The minutes one full pass over ``url`` gives, on a new SQLite store."""
    fresh = dataclasses.replace(config, database_url=normalize_database_url(f"sqlite:///{path}"))
    store = Store.open(fresh, clock=clock)
    await store.migrate()
    sync = scheduler(store, fresh)
    await sync.run_pass(wait=True)
    await sync.source.close()
    minutes = await stored_minutes(store)
    await store.close()
    return minutes


STEPS = (-300, -262, -257, -190, -128, -127, -60, -13, 0)  # minutes before T0: passes' times


async def test_incremental_passes_equal_one_full_read(
    postgres_admin_url: str, database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Passes interleaved with new rows and growing sessions end as one full read would."""
    with coder_database(postgres_admin_url, NEWEST) as url:
        data = generate(NEWEST, T0)
        timeline = Timeline(url, data)
        config = coder_config(database_url, url)
        store = Store.open(config, clock=clock)
        await store.migrate()
        sync = scheduler(store, config)
        for step in STEPS:
            moment = T0 + dt.timedelta(minutes=step)
            timeline.advance_to(moment)
            clock.set(moment)
            summary = await sync.run_pass(wait=True)
            assert summary is not None
            assert summary.first == (step == STEPS[0])
        await sync.source.close()
        rule = rules(config)
        horizon = rule.horizon_minute
        expected = expected_minutes(timeline.written(), rule)
        got = _within(await stored_minutes(store), horizon)
        assert got == expected
        assert got == _within(
            await _single_pass_minutes(url, config, clock, tmp_path / "one.db"), horizon
        )
        assert await gauges_match(store, expected) == {}
        await store.close()


SMALL = Scale(users=6, organizations=2, days=2, agent_hours=4.0, agents=3)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(st.integers(-240, -1), max_size=5, unique=True).map(sorted),
    seed=st.integers(0, 2**16),
    late_share=st.sampled_from([0.0, 0.1, 0.5]),
)
async def test_any_split_of_the_rows_into_passes_gives_the_same_store(
    coder_url: str, tmp_path: Path, steps: list[int], seed: int, late_share: float
) -> None:
    """However passes fall between Coder's writes (some committed late), the end is the same."""
    data = generate(NEWEST, T0, dataclasses.replace(SMALL, seed=seed))
    rng = random.Random(seed)
    rows: list[AgentStat | ApiKey | AuditLog] = [
        *data.agent_stats,
        *data.api_keys,
        *data.audit_logs,
    ]
    late = frozenset(row.id for row in rows if rng.random() < late_share)
    _empty(coder_url)
    timeline = Timeline(coder_url, data, late=late)
    clock = FakeClock()
    config = coder_config(
        normalize_database_url(f"sqlite:///{tmp_path / f'{seed}-{len(steps)}.db'}"), coder_url
    )
    store = Store.open(config, clock=clock)
    try:
        await store.migrate()
        sync = scheduler(store, config)
        for step in [*steps, 0, 30]:  # the last pass comes once every late row is in
            moment = T0 + dt.timedelta(minutes=step)
            timeline.advance_to(moment)
            clock.set(min(moment, T0))
            await sync.run_pass(wait=True)
        await sync.source.close()
        rule = rules(config)
        expected = expected_minutes(timeline.written(), rule)
        assert _within(await stored_minutes(store), rule.horizon_minute) == expected
    finally:
        await store.close()


def _empty(url: str) -> None:
    """Remove every row (Hypothesis reuses one database across examples)."""
    with connect(url) as connection:
        connection.execute(
            "TRUNCATE workspace_app_stats, workspace_agent_stats, api_keys, audit_logs, "
            "workspaces, organization_members, users, organizations RESTART IDENTITY"
        )
