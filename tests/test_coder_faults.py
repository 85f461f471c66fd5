"""The Coder source when things go wrong: missing columns, grants, outages, two replicas."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import QueuePool

from exporter.sources import SourceError, SyncScheduler
from exporter.sources.coder import source as source_module
from exporter.store import Store
from exporter.store.sources import read_pass, read_positions
from tests.coder_support import coder_config, coder_source, rules, scheduler, stored_minutes
from tests.coderdb import coder_database, fill
from tests.coderdb.generate import CoderData, generate
from tests.coderdb.oracle import expected_minutes
from tests.coderdb.schema import NEWEST, OLDER, Shape
from tests.coderdb.timeline import connect
from tests.support import T0, FakeClock

CODER_DOC = Path(__file__).resolve().parent.parent / "docs" / "coder.md"


@pytest.fixture
async def store(
    database_url: str, coder: tuple[str, CoderData], clock: FakeClock
) -> AsyncIterator[Store]:
    """A migrated store configured for the fixture (the conftest's ``store`` has no source)."""
    opened = Store.open(coder_config(database_url, coder[0]), clock=clock)
    await opened.migrate()
    yield opened
    await opened.close()


async def _state(store: Store) -> tuple[dict[str, int], bool | None]:
    async with store.read() as connection:
        record = await read_pass(connection, "coder")
        return await read_positions(connection, "coder"), None if record is None else record.ok


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "ALTER TABLE workspace_app_stats DROP COLUMN session_ended_at",
            "Coder's database has no column workspace_app_stats.session_ended_at: "
            "this version of Coder's schema is not supported",
        ),
        (
            "DROP TABLE audit_logs",
            "Coder's database has no table audit_logs: this is not a Coder v2 database, "
            "or the URL names another database or schema",
        ),
        (
            "ALTER TABLE workspace_agent_stats DROP COLUMN session_counts",
            "Coder's database has no column workspace_agent_stats.session_count_ssh "
            "(nor session_counts): this version of Coder's schema is not supported",
        ),
    ],
    ids=["column", "table", "session-counts"],
)
async def test_an_unknown_shape_fails_the_pass_in_one_line_and_moves_nothing(
    store: Store, coder: tuple[str, CoderData], change: str, message: str
) -> None:
    """A missing table or column: one line naming it, usage_source_up 0, positions kept."""
    url, _ = coder
    sync = scheduler(store, store.config)
    await sync.run_pass(wait=True)
    assert len(coder_source(sync).stored) > 0  # the look-back's minutes, known to be stored
    before = await _state(store)
    with connect(url) as connection:
        connection.execute(change)
    with pytest.raises(SourceError) as failure:
        await sync.run_pass(wait=True)
    await sync.source.close()
    assert len(coder_source(sync).stored) == 0  # after a failure the next pass sends all it reads
    assert str(failure.value) == message
    assert (sync.status.up, sync.status.errors) == (False, 1)
    positions, ok = await _state(store)
    assert positions == before[0]
    assert ok is False


def _readme_grants(role: str, database: str) -> tuple[list[str], list[str]]:
    """docs/coder.md's grants for this role and database: (always, where the column exists)."""
    section = CODER_DOC.read_text()
    block = re.search(r"```sql\n(.*?)```", section, re.DOTALL)
    assert block is not None, "docs/coder.md has no sql block"
    always: list[str] = []
    optional: list[str] = []
    target = always
    for line in block.group(1).splitlines():
        if line.startswith("-- Only some"):
            target = optional
        statement = line.split("--", 1)[0].strip()
        if statement:
            target.append(
                statement.replace("usage_metrics", role).replace(
                    "DATABASE coder", f'DATABASE "{database}"'
                )
            )
    return always, optional


@pytest.mark.parametrize("shape", [NEWEST, OLDER], ids=lambda shape: shape.name)
async def test_the_documented_grants_are_enough_and_each_one_is_needed(
    postgres_admin_url: str, database_url: str, clock: FakeClock, shape: Shape
) -> None:
    """A role with only the documented grants syncs; without one of them the pass names it."""
    role = f"um_reader_{uuid.uuid4().hex[:8]}"
    with coder_database(postgres_admin_url, shape) as url:
        data = generate(shape, T0)
        fill(url, data)
        database = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
        always, optional = _readme_grants(role, database)
        with connect(url) as connection:
            for statement in always:
                connection.execute(statement)
            for statement in optional:
                # docs/coder.md: a statement naming a column this version lacks fails harmlessly.
                with contextlib.suppress(psycopg.errors.UndefinedColumn):
                    connection.execute(statement)
        reader_url = psycopg.conninfo.make_conninfo(url, user=role)
        config = coder_config(database_url, reader_url)
        store = Store.open(config, clock=clock)
        try:
            await store.migrate()
            sync = scheduler(store, config)
            await sync.run_pass(wait=True)
            assert await stored_minutes(store) == expected_minutes(data, rules(config))
            column = "session_counts" if shape.session_counts_json else "session_count_ssh"
            with connect(url) as connection:
                connection.execute(f"REVOKE SELECT ({column}) ON workspace_agent_stats FROM {role}")
            with pytest.raises(
                SourceError, match=rf"the role may not read workspace_agent_stats\.{column}"
            ):
                await sync.run_pass(wait=True)
            with connect(url) as connection:
                connection.execute(f"SET ROLE {role}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    connection.execute("SELECT hashed_secret FROM api_keys")  # never granted
            await sync.source.close()
        finally:
            await store.close()
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f"DROP ROLE {role}")


class _KillCoderOnce:
    """Progress that cuts every connection to Coder's database when the activity first moves."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin_url = admin_url
        self.database = database
        self.table = ""
        self.killed = False

    def phase(self, name: str, total: int | None) -> None:
        self.table = name

    def advance(self, rows: int) -> None:
        if self.table == "activity" and not self.killed:
            self.killed = True
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.database,),
                )


async def test_coder_going_away_mid_pass_loses_nothing(
    store: Store, coder: tuple[str, CoderData], postgres_admin_url: str
) -> None:
    """Connections cut mid-pass fail it with one line; the next pass stores everything."""
    url, data = coder
    database = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    sync = scheduler(store, store.config)
    cut = _KillCoderOnce(postgres_admin_url, database)
    with pytest.raises(
        SourceError, match=r"^Coder's database cannot be read: (the connection is lost|.*terminat)"
    ):
        await sync.run_pass(wait=True, progress=cut)
    assert cut.killed
    assert await _state(store) == ({}, False)
    assert await sync.run_pass(wait=True) is not None
    await sync.source.close()
    assert await stored_minutes(store) == expected_minutes(data, rules(store.config))
    assert (sync.status.up, sync.status.errors) == (True, 1)


async def test_the_store_failing_mid_pass_fails_it_and_the_next_pass_stores_everything(
    store: Store, coder: tuple[str, CoderData], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the store refuses (a real trigger) fails the pass while another is stored.

    Small batches keep both store workers busy; the failure cancels the other worker and
    the reading, moves no position, and the next pass stores exactly the oracle's minutes.
    """
    _, data = coder
    monkeypatch.setattr(source_module, "BATCH_CELLS", 40)
    expected = expected_minutes(data, rules(store.config))
    users = sorted({user for user, *_ in expected})
    victim = users[len(users) // 2]
    create, drop = _refusing_trigger(store, victim)
    async with store.write() as connection:
        for statement in create:
            await connection.execute(sa.text(statement))
    sync = scheduler(store, store.config)
    with pytest.raises(SourceError, match=r"^the activity store failed: .*refused for the test"):
        await sync.run_pass(wait=True)
    assert await _state(store) == ({}, False)
    async with store.write() as connection:
        await connection.execute(sa.text(drop))
    assert await sync.run_pass(wait=True) is not None
    await sync.source.close()
    assert await stored_minutes(store) == expected
    assert (sync.status.up, sync.status.errors) == (True, 1)


def _refusing_trigger(store: Store, user_id: str) -> tuple[list[str], str]:
    """SQL to create, and to drop, a trigger that fails any write of ``user_id``'s hourly rows."""
    if store.engine.dialect.name == "sqlite":
        create = [
            "CREATE TRIGGER refuse_victim BEFORE INSERT ON activity "
            f"WHEN NEW.user_id = '{user_id}' "
            "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
        ]
        return create, "DROP TRIGGER refuse_victim"
    create = [
        "CREATE FUNCTION refuse_victim() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'refused for the test'; END $$",
        "CREATE TRIGGER refuse_victim BEFORE INSERT ON activity FOR EACH ROW "
        f"WHEN (NEW.user_id = '{user_id}') EXECUTE FUNCTION refuse_victim()",
    ]
    return create, "DROP TRIGGER refuse_victim ON activity"


async def test_two_replicas_never_run_passes_at_once(
    database_url: str, coder: tuple[str, CoderData], clock: FakeClock
) -> None:
    """While one replica's pass runs, the other's tick skips and reports the shared state."""
    url, _ = coder
    config = coder_config(database_url, url)
    first, second = Store.open(config, clock=clock), Store.open(config, clock=clock)
    await first.migrate()
    one, two = scheduler(first, config), scheduler(second, config)
    try:
        with connect(url) as blocker:
            blocker.execute("BEGIN")
            blocker.execute("LOCK TABLE workspace_app_stats IN ACCESS EXCLUSIVE MODE")
            running = asyncio.create_task(one.run_pass(wait=False))
            await _until(lambda: _checked_out(one) > 0 and _blocked(url))
            assert await two.run_pass(wait=False) is None  # skipped: the other one is syncing
            assert not running.done()
            blocker.execute("ROLLBACK")
        assert await running is not None
        assert await two.run_pass(wait=False) is not None  # free again
        assert two.status.up
    finally:
        for sync in (one, two):
            await sync.source.close()
        await first.close()
        await second.close()


def _checked_out(sync: SyncScheduler) -> int:
    """Connections the scheduler's source holds from its pool."""
    pool = coder_source(sync).engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


def _blocked(url: str) -> bool:
    """Someone waits for a lock in Coder's database."""
    with connect(url) as connection:
        waiting = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(waiting and waiting[0])


async def _until(condition: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
