"""Fixtures: a real SQLite and a real PostgreSQL per test, the app over HTTP, a fake clock.

PostgreSQL comes from ``USAGE_METRICS_TEST_DATABASE_URL`` (an admin database on a server
where this user may CREATE DATABASE) or, when unset, from a throw-away server started with
the ``pgserver`` package. Each test gets a database of its own in a migrated template's state:
new copies of the template, or one an earlier test of the worker used, emptied and checked.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient
from xdist.remote import Producer
from xdist.scheduler import LoadScheduling

from exporter.config import Config, normalize_database_url
from exporter.store import Store
from exporter.web import create_app
from exporter.web.keys import STORE
from exporter.web.server import Runner
from tests.coderdb import coder_database, fill
from tests.coderdb.generate import CoderData, generate
from tests.coderdb.schema import NEWEST
from tests.pg_pool import PostgresPool
from tests.scheduling import LongFirstScheduling
from tests.support import T0, FakeClock, make_token, pgserver_data_dir

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A libpq URL of a database on a server where tests may create databases."""
    url = os.environ.get("USAGE_METRICS_TEST_DATABASE_URL")
    if url:
        yield url.replace("postgresql+psycopg://", "postgresql://")
        return
    try:
        from pgserver import postgres_server  # noqa: PLC0415  (only needed without a configured server)
    except ImportError:
        pytest.skip("no PostgreSQL: set USAGE_METRICS_TEST_DATABASE_URL or install pgserver")
    data = pgserver_data_dir()
    server = postgres_server.get_server(data, cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


def _with_database(url: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=database)


def _sqlalchemy_url(conninfo: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = params.get("host", "localhost")
    auth = str(params.get("user", "postgres"))
    if params.get("password"):
        auth += f":{params['password']}"
    if str(host).startswith("/"):
        port = params.get("port", 5432)
        return f"postgresql+psycopg://{auth}@/{params['dbname']}?host={host}&port={port}"
    return f"postgresql+psycopg://{auth}@{host}:{params.get('port', 5432)}/{params['dbname']}"


def _migrate(url: str) -> None:
    """Bring the store at ``url`` to the newest schema."""

    async def migrate() -> None:
        store = Store.open(Config(database_url=url))
        await store.migrate()
        await store.close()

    asyncio.run(migrate())


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """Name of a migrated template database that each test copies."""
    name = f"um_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _sqlalchemy_url(_with_database(postgres_admin_url, name))
    _migrate(url)
    yield name
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_pool(postgres_admin_url: str, postgres_template: str) -> Iterator[PostgresPool]:
    """This worker's migrated databases, reused from test to test (``tests/pg_pool.py``)."""
    pool = PostgresPool(postgres_admin_url, postgres_template)
    yield pool
    pool.drop_all()


class PostgresDatabases:
    """Hands a test migrated databases in the template's state, and takes them back after it."""

    def __init__(self, pool: PostgresPool) -> None:
        self.pool = pool
        self.admin_url = pool.admin_url
        self.taken: list[str] = []

    def create(self) -> str:
        """A migrated database of its own for the test; its SQLAlchemy URL."""
        name = self.pool.take()
        self.taken.append(name)
        return _sqlalchemy_url(_with_database(self.admin_url, name))

    def give_back(self) -> None:
        """Reset every database the test took for the next test (or drop it)."""
        for name in self.taken:
            self.pool.give_back(name)
        self.taken.clear()


@pytest.fixture
def postgres_databases(postgres_pool: PostgresPool) -> Iterator[PostgresDatabases]:
    """Make as many migrated PostgreSQL databases as a test needs."""
    databases = PostgresDatabases(postgres_pool)
    yield databases
    databases.give_back()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store that each test copies (this worker's)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "store.db"
    _migrate(normalize_database_url(f"sqlite:///{path}"))
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty, migrated store on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return normalize_database_url(f"sqlite:///{path}")
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return databases.create()


@pytest.fixture
def clock() -> FakeClock:
    """A clock that stands still at 2026-11-24T12:00:00Z until a test moves it."""
    return FakeClock()


@pytest.fixture
def config(database_url: str) -> Config:
    """Configuration over the test's store, everything else default."""
    return Config(database_url=database_url)


@pytest.fixture
async def store(config: Config, clock: FakeClock) -> AsyncIterator[Store]:
    """A migrated store on the test's database."""
    opened = Store.open(config, clock=clock)
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, config: Config, clock: FakeClock
) -> TestClient[Any, Any]:
    """The real application, served over HTTP on a local port."""
    return await aiohttp_client(create_app(config, clock=clock))


class ServiceTestServer(TestServer):
    """A test server that serves through the service's own ``Runner``, as ``serve`` does."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return Runner(self.app, **kwargs)


@pytest.fixture
async def service_client(
    aiohttp_client: AiohttpClient, config: Config, clock: FakeClock
) -> TestClient[Any, Any]:
    """The real application served as ``serve`` serves it (JSON protocol errors, no cancelling)."""
    return await aiohttp_client(ServiceTestServer(create_app(config, clock=clock)))


@pytest.fixture
async def admin_headers(client: TestClient[Any, Any]) -> dict[str, str]:
    """Headers carrying a site admin's token."""
    token = await make_token(client.app[STORE], "admin", roles=["site-admin"])
    return {"Session-Token": token}


@pytest.fixture
def coder(postgres_admin_url: str) -> Iterator[tuple[str, CoderData]]:
    """A Coder database of the newest shape filled by the generator: its URL and its rows."""
    with coder_database(postgres_admin_url, NEWEST) as url:
        data = generate(NEWEST, T0)
        fill(url, data)
        yield url, data


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadScheduling | None:
    """``--dist load`` with the long tests dealt out first, one per worker (tests/scheduling.py)."""
    if config.getvalue("dist") != "load":
        return None
    return LongFirstScheduling(config, log)
