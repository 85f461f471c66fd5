"""HTTP load from this process: ingest batches, scrapes and reports, with timings."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp

MINUTE = 60


def iso(epoch: float) -> str:
    """RFC 3339, UTC, seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def session_batch(
    rng: random.Random, users: int, organizations: int, now: float
) -> list[dict[str, str]]:
    """1,000 realistic sessions (10-120 min) that ended in the last six hours."""
    events = []
    for _ in range(1000):
        user = rng.randrange(users)
        length = rng.randint(10, 120) * MINUTE
        end = now - rng.uniform(0, 6 * 3600)
        events.append(
            {
                "user_id": f"user-{user:06d}",
                "organization_id": f"org-{user % organizations:03d}",
                "category": rng.choice(("ide", "ide", "tunnel", "app", "web_terminal")),
                "time": iso(end - length),
                "end_time": iso(end),
            }
        )
    return events


def heartbeat_batch(
    first_user: int, users: int, organizations: int, minute: float
) -> list[dict[str, str]]:
    """5,000 point events: one per user for one minute."""
    return [
        {
            "user_id": f"user-{(first_user + i) % users:06d}",
            "organization_id": f"org-{(first_user + i) % users % organizations:03d}",
            "category": "ide",
            "time": iso(minute),
        }
        for i in range(5000)
    ]


async def post_batches(
    base: str, token: str, batches: list[list[dict[str, str]]], *, clients: int
) -> dict[str, float]:
    """POST every batch with ``clients`` concurrent connections; totals and wall time."""
    queue: asyncio.Queue[list[dict[str, str]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    totals = {"events": 0.0, "minutes": 0.0}

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            async with session.post(
                f"{base}/api/v1/activity", json={"events": batch}, headers={"Session-Token": token}
            ) as response:
                body = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"ingest answered {response.status}: {body}")
                totals["events"] += body["accepted"]
                totals["minutes"] += body["minutes"]

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    totals["seconds"] = time.perf_counter() - started
    return totals


async def requests_per_second(
    url: str, *, seconds: float, clients: int, headers: dict[str, str] | None = None
) -> float:
    """How many GETs of ``url`` complete per second with ``clients`` concurrent connections."""
    done = 0
    stop = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            async with session.get(url, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")
            done += 1

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def latency_ms(fetch: Callable[[], Any], runs: int) -> dict[str, float]:
    """Median and worst latency of ``fetch`` over ``runs`` calls (after one warm-up)."""
    await fetch()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await fetch()
        timings.append((time.perf_counter() - started) * 1000)
    return {"median": statistics.median(timings), "max": max(timings)}


async def get_body(session: aiohttp.ClientSession, url: str, token: str) -> bytes:
    """The body of a GET with a token, read to the last byte; parsing it is the client's time."""
    async with session.get(url, headers={"Session-Token": token}) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {body[:500]!r}")
        return body


async def get_json(session: aiohttp.ClientSession, url: str, token: str) -> Any:
    """GET a JSON document with a token, insisting on 200."""
    async with session.get(url, headers={"Session-Token": token}) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
        return await response.json()
