"""The largest legal batch does not stall the process, on PostgreSQL.

The service runs in this test's own event loop, so a poller of ``/healthz`` measures exactly
how long the loop was kept from answering while the batch was stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.web import create_app
from exporter.web.keys import STORE
from tests.conftest import PostgresDatabases, ServiceTestServer
from tests.support import T0, FakeClock, make_token

Client = TestClient[Any, Any]
SESSIONS = 10_000


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


def _largest_batch() -> dict[str, Any]:
    end = T0 - dt.timedelta(minutes=1)
    start = end - dt.timedelta(hours=24)
    return {
        "events": [
            {
                "user_id": f"u{n}",
                "category": "app",
                "time": start.isoformat().replace("+00:00", "Z"),
                "end_time": end.isoformat().replace("+00:00", "Z"),
            }
            for n in range(SESSIONS)
        ]
    }


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc")
async def test_the_largest_batch_keeps_healthz_answering(
    aiohttp_client: AiohttpClient, postgres_databases: PostgresDatabases
) -> None:
    """10,000 sessions of 24 h: /healthz keeps answering while they are stored; RSS is bounded.

    The worst wait in seconds is the benchmark's to measure (``python -m bench.hostile``).
    """
    config = Config(database_url=postgres_databases.create())
    client: Client = await aiohttp_client(ServiceTestServer(create_app(config, clock=FakeClock())))
    headers = {"Session-Token": await make_token(client.app[STORE], "a", roles=["site-admin"])}
    batch = _largest_batch()
    answered: list[float] = []
    peak = before = _rss_mb()
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal peak
        while not done.is_set():
            assert (await client.get("/healthz")).status == 200
            answered.append(time.monotonic())
            peak = max(peak, _rss_mb())
            await asyncio.sleep(0.05)

    poller = asyncio.create_task(poll())
    started = time.monotonic()
    response = await client.post(
        "/api/v1/activity",
        data=io.BytesIO(json.dumps(batch).encode()),
        headers={**headers, "Content-Type": "application/json"},
    )
    took = time.monotonic() - started
    done.set()
    await poller
    body = await response.json()
    assert response.status == 200, body
    assert body["minutes"] == SESSIONS * 24 * 60
    # Relative, not a time limit: with the work on the event loop, /healthz went unanswered for
    # most of the batch; off the loop, it answers all along, however fast the machine is.
    gaps = [b - a for a, b in zip([started, *answered], [*answered, started + took], strict=True)]
    assert len(answered) >= 3, f"/healthz answered {len(answered)} times in {took:.1f} s"
    assert max(gaps) < took / 2, f"/healthz waited {max(gaps):.2f} s of {took:.2f} s"
    assert peak - before < 600, f"RSS grew {peak - before:.0f} MB"
