"""The Coder source under load: a first pass over a large Coder database, then steady passes.

A Coder-shaped database is filled by the tests' generator (``tests/coderdb``), streamed to
PostgreSQL with COPY: app sessions of every user over the history, and one day of agent
stats every 30 s for the connected agents. Then, against a fresh store on the same server:

* the first pass runs as a separate process (``usage-metrics sync coder --once``), timed from
  start to exit, its peak RSS read from the kernel when it exits;
* steady-state passes run in process after a minute of new activity each (new agent stats,
  running sessions moved forward, new sessions), timed around the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from exporter.config import Config, normalize_database_url
from exporter.sources import SyncScheduler
from exporter.sources.coder import CoderSource
from exporter.store import Store
from tests.coderdb import coder_database, sqlalchemy_url
from tests.coderdb.generate import (
    AgentStat,
    ApiKey,
    AppStat,
    AuditLog,
    Generator,
    Row,
    Scale,
    create_schema,
    write,
    write_agent_stats,
    write_api_keys,
    write_app_stats,
    write_audit_logs,
)
from tests.coderdb.schema import NEWEST

CODER_SCALES = {
    "small": Scale(users=300, organizations=5, days=14, agent_hours=24.0, agents=60, seed=11),
    "medium": Scale(users=2000, organizations=20, days=90, agent_hours=24.0, agents=400, seed=11),
    "full": Scale(users=10_000, organizations=100, days=90, agent_hours=24.0, agents=2000, seed=11),
}
FLUSH_ROWS = 50_000
STEADY_PASSES = 3


class CopySink:
    """Streams the generator's activity rows to the database, a table's buffer at a time."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.buffers: dict[type, list[Any]] = {AppStat: [], AgentStat: [], ApiKey: [], AuditLog: []}
        self.counts: dict[str, int] = {}

    def add(self, row: Row) -> None:
        """Buffer a row; write the buffer when it is full."""
        buffer = self.buffers[type(row)]
        buffer.append(row)
        if len(buffer) >= FLUSH_ROWS:
            self.flush(type(row))

    def flush(self, kind: type | None = None) -> None:
        """Write one table's buffered rows, or every table's."""
        writers: dict[type, tuple[str, Callable[[list[Any]], None]]] = {
            AppStat: ("workspace_app_stats", lambda rows: write_app_stats(self.connection, rows)),
            AgentStat: (
                "workspace_agent_stats",
                lambda rows: write_agent_stats(self.connection, NEWEST, rows),
            ),
            ApiKey: ("api_keys", lambda rows: write_api_keys(self.connection, NEWEST, rows)),
            AuditLog: ("audit_logs", lambda rows: write_audit_logs(self.connection, rows)),
        }
        for each in [kind] if kind is not None else list(self.buffers):
            rows = self.buffers[each]
            if rows:
                table, writer = writers[each]
                writer(rows)
                self.counts[table] = self.counts.get(table, 0) + len(rows)
                rows.clear()


@dataclasses.dataclass
class Filled:
    """A filled Coder database."""

    url: str
    rows: dict[str, int]
    seconds: float
    now: dt.datetime


def fill(url: str, scale: Scale) -> Filled:
    """Generate at ``scale`` ending now and write it; the row counts per table."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url) as connection:
        sink = CopySink(connection)
        generator = Generator(NEWEST, now, scale, sink=sink)
        generator.directory()
        write(connection, generator.data)  # the directory (activity lists are empty)
        generator.activity()
        sink.flush()
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return Filled(url, sink.counts, time.perf_counter() - started, now)


def first_pass(store_url: str, coder_url: str) -> tuple[float, float, dict[str, int], str]:
    """``sync coder --once`` as a process: seconds, peak RSS (MiB), rows per table, its line."""
    environment = {
        **os.environ,
        "USAGE_METRICS_DATABASE_URL": store_url,
        "USAGE_METRICS_CODER_DATABASE_URL": coder_url,
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "sync", "coder", "--once"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"sync coder --once failed: {stderr.strip()[-500:]}")
    # The summary line; progress bars may be drawn after it on the same stream.
    line = next(
        (line for line in reversed(stderr.splitlines()) if "rows read:" in line),
        stderr.strip()[-500:],
    )
    listed = re.search(r"rows read: ([^;]*);", line)
    rows = {
        table: int(count)
        for table, count in (
            part.rsplit(" ", 1) for part in (listed.group(1) if listed else "").split(", ") if part
        )
    }
    return seconds, usage.ru_maxrss / 1024, rows, line


def add_a_minute(url: str, moment: dt.datetime, agents: int) -> None:
    """A minute of new activity at ``moment``: agent stats, longer sessions, new sessions."""
    with psycopg.connect(url) as connection:
        connection.execute(
            "UPDATE workspace_app_stats SET session_ended_at = %s "
            "WHERE id >= (SELECT max(id) - 100000 FROM workspace_app_stats) "
            "AND session_ended_at > %s",
            (moment - dt.timedelta(seconds=10), moment - dt.timedelta(minutes=3)),
        )
        stats = connection.execute(
            "SELECT DISTINCT ON (agent_id) user_id, agent_id, workspace_id, template_id "
            "FROM workspace_agent_stats ORDER BY agent_id, created_at DESC LIMIT %s",
            (agents,),
        ).fetchall()
        rows = [
            AgentStat(
                str(uuid.uuid4()),
                moment - dt.timedelta(seconds=offset),
                str(user),
                str(agent),
                str(space),
                1,
                0,
                0,
                1,
            )
            for user, agent, space, _ in stats
            for offset in (0, 30)
        ]
        write_agent_stats(connection, NEWEST, rows)
        connection.execute(
            "INSERT INTO workspace_app_stats (user_id, workspace_id, agent_id, access_method, "
            "slug_or_port, session_id, session_started_at, session_ended_at, requests) "
            "SELECT user_id, workspace_id, agent_id, 'path', 'code-server', gen_random_uuid(), "
            "%s, %s, 1 FROM workspace_app_stats ORDER BY id DESC LIMIT 200",
            (moment - dt.timedelta(seconds=50), moment - dt.timedelta(seconds=10)),
        )


async def steady_passes(store_url: str, coder_url: str, scale: Scale) -> list[float]:
    """Seconds of each steady-state pass, each after a minute of new activity."""
    config = Config(
        database_url=normalize_database_url(store_url),
        coder_database_url=normalize_database_url(coder_url),
    )
    store = Store.open(config)
    scheduler = SyncScheduler(CoderSource(store, config), store, interval=60)
    seconds = []
    try:
        for _ in range(STEADY_PASSES):
            add_a_minute(
                coder_url.replace("postgresql+psycopg", "postgresql"),
                dt.datetime.now(dt.UTC),
                scale.agents,
            )
            started = time.perf_counter()
            await scheduler.run_pass(wait=True)
            seconds.append(time.perf_counter() - started)
    finally:
        await scheduler.source.close()
        await store.close()
    return seconds


@dataclasses.dataclass
class CoderResult:
    """What the Coder workload measured."""

    filled: Filled
    first_seconds: float
    first_rss_mib: float
    first_rows: dict[str, int]
    first_line: str
    steady_seconds: list[float]

    @property
    def rows_per_second(self) -> float:
        """Coder rows read and stored per second of the first pass (start to exit)."""
        return sum(self.first_rows.values()) / self.first_seconds

    @property
    def steady_median(self) -> float:
        """The median steady-state pass."""
        return statistics.median(self.steady_seconds)


_FILLED = "usage_metrics_bench_filled"
"""A kept Coder database's record of its fill: scale, row counts, seconds, time (JSON)."""


@contextlib.contextmanager
def kept_coder_database(admin_url: str, name: str, scale: Scale) -> Iterator[Filled]:
    """The Coder database ``name`` at ``scale``, filled now unless a run filled it before.

    It is never dropped. One whose fill did not finish, or of another scale, is filled anew.
    Steady passes add rows to it, so each run reads a few more rows than the last.
    """
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    if exists:
        with psycopg.connect(url) as connection:
            record = connection.execute(f"SELECT to_regclass('{_FILLED}') IS NOT NULL").fetchone()
            if record and record[0]:
                found = connection.execute(f"SELECT filled FROM {_FILLED}").fetchone()
                if found and found[0]["scale"] == dataclasses.asdict(scale):
                    kept = found[0]
                    print(f"coder: reusing the kept database {name}", file=sys.stderr)
                    yield Filled(url, kept["rows"], 0.0, dt.datetime.fromisoformat(kept["now"]))
                    return
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url) as connection:
        create_schema(connection, NEWEST)
    filled = fill(url, scale)
    written = {
        "scale": dataclasses.asdict(scale),
        "rows": filled.rows,
        "now": filled.now.isoformat(),
    }
    with psycopg.connect(url) as connection:
        connection.execute(f"CREATE TABLE {_FILLED} (filled jsonb)")
        connection.execute(
            f"INSERT INTO {_FILLED} VALUES (%s)",
            (Jsonb(written),),
        )
    yield filled


def run(admin_url: str, store_url: str, scale: Scale, *, keep: str | None = None) -> CoderResult:
    """The whole workload against a Coder database on the benchmark's server.

    A new one, dropped afterwards, or with ``keep`` the database of that name, kept.
    """
    with contextlib.ExitStack() as stack:
        if keep is None:
            coder_url = stack.enter_context(coder_database(admin_url, NEWEST))
            filled = fill(coder_url, scale)
        else:
            filled = stack.enter_context(kept_coder_database(admin_url, keep, scale))
            coder_url = filled.url
        if filled.seconds:
            print(f"coder: wrote {filled.rows} in {filled.seconds:.0f} s", file=sys.stderr)
        plain_store = store_url.replace("postgresql+psycopg://", "postgresql://")
        seconds, rss, rows, line = first_pass(plain_store, sqlalchemy_url(coder_url))
        print(f"coder: first pass {seconds:.1f} s, {line}", file=sys.stderr)
        steady = asyncio.run(steady_passes(plain_store, sqlalchemy_url(coder_url), scale))
    return CoderResult(filled, seconds, rss, rows, line, steady)


def iterate_rows(result: CoderResult) -> Iterator[tuple[str, float, str, float | None, bool]]:
    """The table's lines: figure, measured, unit, target, higher is better."""
    yield (
        "coder: first pass, Coder rows read and stored",
        result.rows_per_second,
        "rows/s",
        100_000,
        True,
    )
    yield ("coder: first pass, peak RSS", result.first_rss_mib, "MiB", 300, False)
    yield (
        f"coder: steady pass (median of {STEADY_PASSES})",
        result.steady_median * 1000,
        "ms",
        1000,
        False,
    )
