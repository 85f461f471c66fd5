"""The largest legal batches neither stall the process nor outrun their turn, on both stores.

The service runs in this test's own event loop, so a poller of ``/healthz`` measures exactly
how long the loop was kept from answering while a batch was stored. RSS is read from /proc.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.store import LARGE_BATCH_MINUTES
from exporter.store.day_blocks import CLOSING_LOCK
from exporter.web import create_app
from exporter.web.keys import STORE
from tests.conftest import PostgresDatabases, ServiceTestServer
from tests.support import T0, FakeClock, make_token

Client = TestClient[Any, Any]
SESSIONS = 10_000
GENEROUS_DEADLINE = 900.0
"""A store deadline that a loaded machine cannot run out: these tests measure liveness."""
WORST_STALL_SECONDS = 4.0
"""The longest wait for /healthz that passes while the machine has no more runnable work than
cores. A quiet machine waits well under a second; CI's, with promtool and two other workers on
two cores, once waited 3.2 s on PostgreSQL; with the chunks' parameters built on the event loop
the SQLite batch waited 4.7 s, and with all of a batch's work there /healthz went unanswered for
most of it (docs/performance.md). See ``worst_stall_allowed`` for a busier machine."""


def worst_stall_allowed() -> float:
    """``WORST_STALL_SECONDS``, stretched by how oversubscribed the cores are right now.

    With more runnable work than cores, every wait grows with the queue for a core (seen: 4.2 to
    4.9 s at a load of 6 to 10 on two cores, other suites sharing them), whatever the service
    does; the relative check in ``_assert_live`` does not depend on the load.
    """
    oversubscribed = os.getloadavg()[0] / (os.cpu_count() or 1)
    return WORST_STALL_SECONDS * max(1.0, oversubscribed)


pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="RSS is read from /proc"
)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


def _batch(sessions: int, prefix: str = "u") -> bytes:
    """``sessions`` sessions of 24 h, one per distinct user, ending just before the clock."""
    end = T0 - dt.timedelta(minutes=1)
    start = end - dt.timedelta(hours=24)
    events = [
        {
            "user_id": f"{prefix}{n}",
            "category": "app",
            "time": start.isoformat().replace("+00:00", "Z"),
            "end_time": end.isoformat().replace("+00:00", "Z"),
        }
        for n in range(sessions)
    ]
    return json.dumps({"events": events}).encode()


async def _service(aiohttp_client: AiohttpClient, config: Config) -> tuple[Client, dict[str, str]]:
    client: Client = await aiohttp_client(ServiceTestServer(create_app(config, clock=FakeClock())))
    token = await make_token(client.app[STORE], "a", roles=["site-admin"])
    return client, {"Session-Token": token, "Content-Type": "application/json"}


@dataclasses.dataclass
class Stored:
    """One batch stored while /healthz was polled."""

    status: int
    body: dict[str, Any]
    took: float
    worst_wait: float
    answers: int
    rss_growth: float


async def _store_while_polling(client: Client, headers: dict[str, str], body: bytes) -> Stored:
    """POST ``body`` while /healthz is asked every 50 ms; the longest the loop kept it waiting."""
    answered: list[float] = []
    peak = before = _rss_mb()
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal peak
        while not done.is_set():
            async with client.get("/healthz") as response:
                assert response.status == 200
            answered.append(time.monotonic())
            peak = max(peak, _rss_mb())
            await asyncio.sleep(0.05)

    poller = asyncio.create_task(poll())
    started = time.monotonic()
    response = await client.post("/api/v1/activity", data=io.BytesIO(body), headers=headers)
    took = time.monotonic() - started
    done.set()
    await poller
    moments = [started, *answered, started + took]
    return Stored(
        status=response.status,
        body=await response.json(),
        took=took,
        worst_wait=max(b - a for a, b in itertools.pairwise(moments)),
        answers=len(answered),
        rss_growth=peak - before,
    )


async def _assert_live(stored: Stored) -> None:
    print(
        f"batch {stored.took:.1f} s, worst /healthz {stored.worst_wait:.2f} s, "
        f"RSS +{stored.rss_growth:.0f} MB"
    )
    assert stored.status == 200, stored.body
    assert stored.body["minutes"] == SESSIONS * 24 * 60
    assert stored.answers >= 3, f"/healthz answered {stored.answers} times in {stored.took:.1f} s"
    # Relative as well as absolute: with the work on the event loop, /healthz went unanswered
    # for most of the batch.
    assert stored.worst_wait < stored.took / 2, f"{stored.worst_wait:.2f} s of {stored.took:.2f} s"
    allowed = worst_stall_allowed()
    assert stored.worst_wait < allowed, (
        f"/healthz waited {stored.worst_wait:.2f} s of {allowed:.1f}"
    )
    assert stored.rss_growth < 600, f"RSS grew {stored.rss_growth:.0f} MB"


async def test_the_largest_batch_keeps_healthz_answering(
    aiohttp_client: AiohttpClient, postgres_databases: PostgresDatabases
) -> None:
    """PostgreSQL, 10,000 sessions of 24 h: /healthz answers all along; RSS is bounded."""
    config = Config(database_url=postgres_databases.create(), store_timeout=GENEROUS_DEADLINE)
    client, headers = await _service(aiohttp_client, config)
    await _assert_live(await _store_while_polling(client, headers, _batch(SESSIONS)))


async def test_the_largest_batch_on_sqlite_keeps_healthz_answering(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    """SQLite, 10,000 sessions of 24 h: /healthz answers all along; RSS is bounded."""
    config = Config(database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    client, headers = await _service(aiohttp_client, config)
    await _assert_live(await _store_while_polling(client, headers, _batch(SESSIONS)))


LARGE_SESSIONS = LARGE_BATCH_MINUTES // (24 * 60) + 1
"""The fewest sessions of 24 h that make a large batch (stored one at a time)."""
DEADLINE = 8.0


async def test_a_large_batch_past_the_deadline_gets_503_and_the_next_waits_its_turn(
    aiohttp_client: AiohttpClient, postgres_databases: PostgresDatabases
) -> None:
    """A large batch past the deadline: 503 then, nothing stored; the one in line is stored.

    The waiting batch's wait for its turn does not count against its own deadline. The store
    work is held up by a real lock: the day-closing lock, held by another session.
    """
    url = postgres_databases.create()
    config = Config(database_url=url, store_timeout=DEADLINE)
    client, headers = await _service(aiohttp_client, config)
    admin_url = url.replace("postgresql+psycopg://", "postgresql://")
    closing = await psycopg.AsyncConnection.connect(admin_url, autocommit=True)
    try:
        await closing.execute("SELECT pg_advisory_lock(%s)", (CLOSING_LOCK,))
        started = time.monotonic()
        first = asyncio.create_task(
            client.post("/api/v1/activity", data=_batch(LARGE_SESSIONS, "a"), headers=headers)
        )
        await asyncio.sleep(0.5)  # the first has its turn; the second waits for it
        second = asyncio.create_task(
            client.post("/api/v1/activity", data=_batch(LARGE_SESSIONS, "b"), headers=headers)
        )
        response = await first
        first_took = time.monotonic() - started
        body = await response.json()
        assert response.status == 503, body
        assert body == {"message": "The activity store is unreachable; nothing was stored."}
        assert DEADLINE <= first_took < DEADLINE + 10, f"answered after {first_took:.1f} s"
        # Long enough that the second batch, had its wait counted, would be past its deadline.
        await asyncio.sleep(2)
        await closing.execute("SELECT pg_advisory_unlock(%s)", (CLOSING_LOCK,))
        response = await second
        second_took = time.monotonic() - started
        body = await response.json()
        assert response.status == 200, body
        assert body["minutes"] == LARGE_SESSIONS * 24 * 60
        assert second_took > DEADLINE, "the second batch did not wait for the first's turn"
    finally:
        await closing.close()
    async with await psycopg.AsyncConnection.connect(admin_url) as check:
        cursor = await check.execute("SELECT count(*) FROM activity WHERE user_id LIKE 'a%'")
        assert await cursor.fetchone() == (0,)
