"""Several service processes on one PostgreSQL behave exactly like one."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Config
from exporter.events import Limits, parse_events
from exporter.store import Store
from exporter.store.schema import MASK_COLUMNS, activity, activity_totals, last_seen, users
from tests.conftest import PostgresDatabases
from tests.processes import serve
from tests.support import make_token

BATCHES = 24
CLIENTS = 6
LIVE_ONLY = ("usage_ingest_", "usage_refresh_", "usage_last_refresh_", "usage_up", "process_")


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _batches(now: float) -> list[list[dict[str, str]]]:
    """Overlapping batches: each draws 400 events from one pool of 3,000."""
    rng = random.Random(2026)
    pool = []
    for _ in range(3000):
        start = now - rng.uniform(2, 12) * 3600
        event = {
            "user_id": f"u{rng.randrange(150)}",
            "organization_id": f"org{rng.randrange(4)}",
            "category": rng.choice(["ide", "login", "app", "tunnel", "web_terminal"]),
            "time": _iso(start),
        }
        if rng.random() < 0.7:
            event["end_time"] = _iso(start + rng.uniform(60, 90 * 60))
        pool.append(event)
    return [rng.sample(pool, 400) for _ in range(BATCHES)]


async def _state(url: str) -> dict[str, Any]:
    store = Store.open(Config(database_url=url))
    try:
        async with store.read() as connection:
            return {
                "activity": sorted(
                    tuple(row)
                    for row in await connection.execute(
                        sa.select(
                            activity.c.organization_id,
                            activity.c.hour,
                            activity.c.user_id,
                            *(activity.c[name] for name in MASK_COLUMNS),
                        )
                    )
                ),
                "totals": sorted(
                    tuple(row) for row in await connection.execute(sa.select(activity_totals))
                ),
                "last_seen": sorted(
                    tuple(row) for row in await connection.execute(sa.select(last_seen))
                ),
                "users": sorted(
                    tuple(row)
                    for row in await connection.execute(
                        sa.select(users.c.id).where(users.c.id != "admin")
                    )
                ),
            }
    finally:
        await store.close()


async def _ingest_sequentially(url: str, batches: list[list[dict[str, str]]]) -> None:
    store = Store.open(Config(database_url=url))
    try:
        for batch in batches:
            limits = Limits(
                now=time.time(), retention_seconds=400 * 86400, default_organization="default"
            )
            await store.ingest(parse_events(batch, limits))
    finally:
        await store.close()


async def _admin_token(url: str) -> str:
    store = Store.open(Config(database_url=url))
    try:
        return await make_token(store, "admin", roles=["site-admin"])
    finally:
        await store.close()


async def _post_everywhere(
    bases: list[str], token: str, batches: list[list[dict[str, str]]]
) -> None:
    """Every batch to every replica, from several concurrent clients, in a shuffled order."""
    work = [(base, batch) for batch in batches for base in bases]
    random.Random(7).shuffle(work)
    queue: asyncio.Queue[tuple[str, list[dict[str, str]]]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            base, batch = queue.get_nowait()
            async with session.post(
                f"{base}/api/v1/activity", json={"events": batch}, headers={"Session-Token": token}
            ) as response:
                assert response.status == 200, await response.text()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))


async def _usage_samples(
    base: str, after: float
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The usage samples of the first refresh that finished after ``after``."""
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(f"{base}/metrics") as response:
                text = await response.text()
            samples = {
                (s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            if samples.get(("usage_last_refresh_timestamp_seconds", frozenset()), 0) > after:
                return {k: v for k, v in samples.items() if not k[0].startswith(LIVE_ONLY)}
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} did not refresh")


@pytest.mark.slow
def test_replicas_store_and_export_what_one_sequential_ingest_would(
    postgres_databases: PostgresDatabases,
) -> None:
    """Two processes ingesting overlapping batches concurrently equal one sequential ingest."""
    shared, baseline = postgres_databases.create(), postgres_databases.create()
    batches = _batches(time.time())
    token = asyncio.run(_admin_token(shared))
    with (
        serve(shared, "--refresh-interval", "1s") as (first, _),
        serve(shared, "--refresh-interval", "1s") as (second, _),
    ):
        asyncio.run(_post_everywhere([first, second], token, batches))
        done = time.time()
        exported = [asyncio.run(_usage_samples(base, done)) for base in (first, second)]
    asyncio.run(_ingest_sequentially(baseline, batches))
    assert asyncio.run(_state(shared)) == asyncio.run(_state(baseline))
    assert exported[0] == exported[1]
    active = exported[0][
        (
            "usage_active_users",
            frozenset({("organization", "any"), ("category", "any"), ("window", "1d")}),
        )
    ]
    assert active == len({e["user_id"] for batch in batches for e in batch})
