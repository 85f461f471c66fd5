"""PostgreSQL goes away and comes back: nothing hangs, nothing accepted is lost.

The test runs its own PostgreSQL (from the pgserver package's binaries) so that it can stop
and start it without disturbing the other tests.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.web import create_app
from exporter.web.keys import REFRESHER, STORE
from tests.metrics_helpers import active, scrape, value
from tests.support import T0, FakeClock, iso, make_token, pgserver_data_dir, stored_activity


class PrivatePostgres:
    """A PostgreSQL server this test module owns: it can be stopped and started again."""

    def __init__(self, data: Path) -> None:
        pgserver = pytest.importorskip("pgserver")
        self._commands = pytest.importorskip("pgserver._commands")
        self.server = pgserver.get_server(data, cleanup_mode="stop")
        self.data = data
        uri = self.server.get_uri()
        self.socket_dir = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)["host"][0]
        with psycopg.connect(uri, autocommit=True) as admin:
            admin.execute('CREATE DATABASE "outage"')
        self.url = f"postgresql+psycopg://postgres@/outage?host={self.socket_dir}"

    def stop(self) -> None:
        """Shut the server down now (fast mode: connections are cut)."""
        self._commands.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.data, user=self.server.system_user
        )

    def start(self) -> None:
        """Start it again on the same socket."""
        self._commands.pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self.socket_dir}",
                "-l",
                str(self.data / "log"),
                "start",
            ],
            pgdata=self.data,
            user=self.server.system_user,
            timeout=30,
        )


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private server, stopped and removed at the end of the module."""
    data = pgserver_data_dir()
    server = PrivatePostgres(data)
    yield server
    server.server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
async def outage_client(
    aiohttp_client: AiohttpClient, private_postgres: PrivatePostgres, clock: FakeClock
) -> TestClient[Any, Any]:
    """The app over the private server."""
    config = Config(database_url=private_postgres.url)
    return await aiohttp_client(create_app(config, clock=clock))


def _batch(user: str) -> dict[str, Any]:
    return {
        "events": [{"user_id": user, "category": "ide", "time": iso(T0 - dt.timedelta(minutes=5))}]
    }


async def test_outage_and_recovery(
    outage_client: TestClient[Any, Any], private_postgres: PrivatePostgres
) -> None:
    """PostgreSQL down: last values with usage_up 0, fast 503s; back up: everything recovers.

    During the outage /metrics still answers, ingest and the report answer 503 quickly,
    /readyz 503 and /healthz 200. Afterwards ingest works again and nothing accepted is lost.
    """
    client = outage_client
    headers = {"Session-Token": await make_token(client.app[STORE], "admin", roles=["site-admin"])}
    assert (
        await client.post("/api/v1/activity", json=_batch("before"), headers=headers)
    ).status == 200
    refresher = client.app[REFRESHER]
    assert await refresher.refresh()

    private_postgres.stop()
    try:
        assert not await refresher.refresh()
        started = time.monotonic()
        samples = await scrape(client)
        assert value(samples, "usage_up") == 0
        assert active(samples, "any", "ide", "1h") == 1
        refused = await client.post("/api/v1/activity", json=_batch("during"), headers=headers)
        assert refused.status == 503
        body = await refused.json()
        assert body["message"].startswith("The activity store is unreachable")
        assert "Traceback" not in await refused.text()
        report = await client.get(
            "/api/private/metrics/activity",
            params={"start": iso(T0 - dt.timedelta(days=1)), "end": iso(T0)},
            headers=headers,
        )
        assert report.status == 503
        assert (await client.get("/readyz")).status == 503
        assert (await client.get("/healthz")).status == 200
        assert time.monotonic() - started < 30, "store calls must be bounded in time"
        assert value(await scrape(client), "usage_ingest_rejected_batches_total") == 0
    finally:
        private_postgres.start()

    accepted = await client.post("/api/v1/activity", json=_batch("after"), headers=headers)
    assert accepted.status == 200, await accepted.text()
    assert await refresher.refresh()
    samples = await scrape(client)
    assert value(samples, "usage_up") == 1
    assert active(samples, "any", "ide", "1h") == 2
    assert (await client.get("/readyz")).status == 200
    users = {key[3] for key in await stored_activity(client.app[STORE])}
    assert users == {"before", "after"}
