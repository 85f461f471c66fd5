"""The report gate: a bounded number of reports run, a bounded queue waits, the rest get 503."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.config import Config
from exporter.web.keys import REPORT_GATE
from tests.report_helpers import REPORT

Client = TestClient[Any, Any]
QUERY = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-22T00:00:00Z", "interval": "1 week"}


@pytest.fixture
def config(database_url: str) -> Config:
    """One report runs at a time and one more may wait."""
    return Config(database_url=database_url, report_concurrency=1, report_queue=1)


async def _admitted(client: Client, count: int) -> None:
    """Wait (at most 10 s) until ``count`` reports are running or waiting."""
    for _ in range(1000):
        if client.app[REPORT_GATE].admitted >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {count} reports admitted")


async def test_full_queue_answers_503_with_retry_after(
    client: Client, admin_headers: dict[str, str]
) -> None:
    """With one report running and one waiting, a third is refused; the waiting one then runs."""
    gate = client.app[REPORT_GATE]
    async with gate.admit():  # the report that is running
        waiting = asyncio.create_task(client.get(REPORT, params=QUERY, headers=admin_headers))
        await _admitted(client, 2)
        refused = await client.get(REPORT, params=QUERY, headers=admin_headers)
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "2"
        assert refused.content_type == "application/json"
        body = await refused.json()
        assert "Too many activity reports" in body["message"]
        assert not waiting.done()
        health = await client.get("/healthz")
        assert health.status == 200
    answered = await waiting
    assert answered.status == 200
    assert "Retry-After" not in answered.headers
    assert (await answered.json())["activity"]
    assert gate.admitted == 0
    again = await client.get(REPORT, params=QUERY, headers=admin_headers)
    assert again.status == 200


async def test_bad_requests_are_refused_without_queueing(
    client: Client, admin_headers: dict[str, str]
) -> None:
    """A full queue does not hide a 401 or 400: those are answered before taking a turn."""
    gate = client.app[REPORT_GATE]
    release = asyncio.Event()

    async def hold_a_turn() -> None:
        async with gate.admit():
            await release.wait()

    holders = [asyncio.create_task(hold_a_turn()) for _ in range(2)]  # one runs, one waits
    await _admitted(client, 2)
    try:
        unauthenticated = await client.get(REPORT, params=QUERY)
        assert unauthenticated.status == 401
        bad = await client.get(
            REPORT, params={**QUERY, "interval": "fortnight"}, headers=admin_headers
        )
        assert bad.status == 400
        assert (await client.get(REPORT, params=QUERY, headers=admin_headers)).status == 503
    finally:
        release.set()
        await asyncio.gather(*holders)
    assert gate.admitted == 0
