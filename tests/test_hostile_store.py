"""A PostgreSQL that hangs (SIGSTOP, not down) is reported like one that is down.

The server here is private (started with ``pgserver``): stopping the shared one would stall
everyone else's tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.web import create_app
from exporter.web.keys import STORE
from tests.conftest import ServiceTestServer, _sqlalchemy_url
from tests.support import event, make_token, pgserver_data_dir, post_events

Client = TestClient[Any, Any]
DEADLINE = 2.0
REFRESH = 1.0


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server of this module's own: its URL and data directory."""
    try:
        from pgserver import postgres_server  # noqa: PLC0415  (only this test needs a server of its own)
    except ImportError:
        pytest.skip("the frozen-store test needs the pgserver package")
    data = pgserver_data_dir()
    server = postgres_server.get_server(data, cleanup_mode="stop")
    yield _sqlalchemy_url(server.get_uri()), data
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


def _server_processes(data: Path) -> list[int]:
    """The postmaster (from ``postmaster.pid``) and every process it started."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


async def _usage_up(client: Client) -> float:
    text = await (await client.get("/metrics")).text()
    found = re.search(r"^usage_up (\S+)$", text, re.MULTILINE)
    assert found is not None
    return float(found.group(1))


async def test_a_frozen_postgresql_is_reported_like_a_down_one(
    aiohttp_client: AiohttpClient,
    private_postgres: tuple[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGSTOP: /readyz, ingest 503 within the deadline; usage_up 0 within interval + deadline."""
    url, data = private_postgres
    config = Config(database_url=url, refresh_interval=REFRESH, store_timeout=DEADLINE)
    client: Client = await aiohttp_client(ServiceTestServer(create_app(config)))
    headers = {"Session-Token": await make_token(client.app[STORE], "a", roles=["site-admin"])}
    assert (await client.get("/readyz")).status == 200
    assert (await post_events(client, headers, [event()]))[0] == 200
    assert await _usage_up(client) == 1
    caplog.set_level(logging.WARNING, logger="exporter.store")
    processes = _server_processes(data)
    stopped = time.monotonic()
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = await client.get("/readyz")
        assert response.status == 503
        assert time.monotonic() - started < DEADLINE + 1
        started = time.monotonic()
        status, body = await post_events(client, headers, [event("u2")])
        assert status == 503, body
        assert time.monotonic() - started < DEADLINE + 1
        while await _usage_up(client) != 0:
            assert time.monotonic() - stopped < REFRESH + DEADLINE + 3
            await asyncio.sleep(0.1)
        print(f"SIGSTOP to usage_up 0: {time.monotonic() - stopped:.2f} s")
        causes = [r.getMessage() for r in caplog.records if "store unavailable" in r.getMessage()]
        assert any("deadline" in cause for cause in causes), causes
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    while (await client.get("/readyz")).status != 200 or await _usage_up(client) != 1:
        assert time.monotonic() - resumed < 15
        await asyncio.sleep(0.2)
    assert (await post_events(client, headers, [event("u3")]))[0] == 200
