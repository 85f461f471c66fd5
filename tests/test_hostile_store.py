"""A store that hangs or refuses writes is reported like one that is down.

A PostgreSQL stopped by SIGSTOP (hung, not down) is private (started with ``pgserver``):
stopping the shared one would stall everyone else's tests. A read-only or full SQLite file
refuses writes while it answers reads.
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

import psycopg
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.store import CLOSE_GRACE_SECONDS, Store
from exporter.web import create_app
from exporter.web.keys import REFRESHER, STORE
from tests.conftest import PostgresDatabases, ServiceTestServer, _sqlalchemy_url
from tests.metrics_helpers import scrape, value
from tests.support import FakeClock, event, make_token, pgserver_data_dir, post_events

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


async def test_shutting_down_on_a_frozen_postgresql_ends_and_leaves_no_store_work(
    aiohttp_client: AiohttpClient, private_postgres: tuple[str, Path]
) -> None:
    """SIGSTOP, a batch answered 503: shutting down is bounded and ends every store call."""
    url, data = private_postgres
    config = Config(database_url=url, refresh_interval=REFRESH, store_timeout=DEADLINE)
    client: Client = await aiohttp_client(ServiceTestServer(create_app(config)))
    headers = {"Session-Token": await make_token(client.app[STORE], "a", roles=["site-admin"])}
    processes = _server_processes(data)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        status, body = await post_events(client, headers, [event("u4")])
        assert status == 503, body
        started = time.monotonic()
        await client.close()
        took = time.monotonic() - started
        assert took < 2 * CLOSE_GRACE_SECONDS + 5, f"shutting down took {took:.1f} s"
        left = [
            task
            for task in asyncio.all_tasks()
            if not task.done()
            and getattr(task.get_coro(), "__qualname__", "").startswith(("Store.", "Refresher."))
        ]
        assert not left, left
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("the store refuses writes")]


async def _ready_and_up(client: Client) -> tuple[int, float | None]:
    """/readyz's status and ``usage_up`` after a refresh."""
    ready = (await client.get("/readyz")).status
    await client.app[REFRESHER].refresh()
    return ready, value(await scrape(client), "usage_up")


async def test_a_read_only_sqlite_file_is_reported_not_ready(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store file opened read-only: writes 503 with one logged cause, /readyz 503, usage_up 0.

    Opened with SQLite's ``mode=ro``, which refuses writes even to root (chmod does not).
    """
    path = tmp_path / "store.db"
    writable = Store.open(Config(database_url=f"sqlite+aiosqlite:///{path}"), clock=FakeClock())
    await writable.migrate()
    token = await make_token(writable, "a", roles=["site-admin"])
    await writable.close()
    config = Config(database_url=f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    client: Client = await aiohttp_client(
        ServiceTestServer(create_app(config, clock=FakeClock(), migrate=False))
    )
    headers = {"Session-Token": token}
    caplog.set_level(logging.INFO)
    status, body = await post_events(client, headers, [event()])
    assert status == 503, body
    assert body["message"].startswith("The activity store refuses writes")
    response = await client.put("/api/v1/users/u9", json={"username": "nine"}, headers=headers)
    assert response.status == 503
    assert [r.getMessage() for r in _refusals(caplog)] == [
        "the store refuses writes: OperationalError: attempt to write a readonly database"
    ]
    assert await _ready_and_up(client) == (503, 0)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_full_sqlite_database_is_not_ready_until_it_has_room(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At its size limit: 503s, /readyz 503 and usage_up 0; given room, all recover by themselves.

    The limit is SQLite's ``max_page_count`` at the database's present size: SQLite then
    refuses a write with SQLITE_FULL, the error a full disk gives.
    """
    config = Config(database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    client: Client = await aiohttp_client(ServiceTestServer(create_app(config, clock=FakeClock())))
    store = client.app[STORE]
    headers = {"Session-Token": await make_token(store, "a", roles=["site-admin"])}
    assert (await post_events(client, headers, [event("first")]))[0] == 200
    async with store.read() as connection:
        pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()

    def at_the_limit(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.cursor().execute(f"PRAGMA max_page_count = {pages}")

    sa.event.listen(store.engine.sync_engine, "connect", at_the_limit)
    await store.engine.dispose()
    caplog.set_level(logging.INFO)
    batch = [event(f"user-{n}", organization_id=f"org-{n % 7}") for n in range(2000)]
    status, body = await post_events(client, headers, batch)
    assert status == 503, body
    assert [r.getMessage() for r in _refusals(caplog)] == [
        "the store refuses writes: OperationalError: database or disk is full"
    ]
    assert await _ready_and_up(client) == (503, 0)

    sa.event.remove(store.engine.sync_engine, "connect", at_the_limit)
    await store.engine.dispose()
    assert await _ready_and_up(client) == (200, 1)
    assert "the store takes writes again" in [r.getMessage() for r in caplog.records]
    assert (await post_events(client, headers, batch))[0] == 200


async def test_a_read_only_postgresql_database_is_not_ready_until_it_takes_writes(
    aiohttp_client: Any, postgres_databases: PostgresDatabases, caplog: pytest.LogCaptureFixture
) -> None:
    """``default_transaction_read_only``: 503s, /readyz 503, usage_up 0; all recover when lifted."""
    url = postgres_databases.create()
    name = sa.make_url(url).database
    client: Client = await aiohttp_client(
        ServiceTestServer(create_app(Config(database_url=url), clock=FakeClock()))
    )
    store = client.app[STORE]
    headers = {"Session-Token": await make_token(store, "a", roles=["site-admin"])}

    async def read_only(on: bool) -> None:
        async with await psycopg.AsyncConnection.connect(
            postgres_databases.admin_url, autocommit=True
        ) as admin:
            setting = "on" if on else "off"
            await admin.execute(
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = {setting}'
            )
        await store.engine.dispose()  # sessions take the setting when they start

    await read_only(True)
    caplog.set_level(logging.INFO)
    status, body = await post_events(client, headers, [event()])
    assert status == 503, body
    assert body["message"].startswith("The activity store refuses writes")
    refusals = [r.getMessage() for r in _refusals(caplog)]
    assert len(refusals) == 1
    assert refusals[0].startswith("the store refuses writes: ReadOnlySqlTransaction:"), refusals
    assert await _ready_and_up(client) == (503, 0)
    await read_only(False)
    assert await _ready_and_up(client) == (200, 1)
    assert (await post_events(client, headers, [event()]))[0] == 200
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
