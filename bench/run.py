"""Measure usage-metrics against the performance targets (DESIGN.md, "Speed").

    python bench/run.py --scale small          # a few minutes
    python bench/run.py --scale full           # 10,000 users x 100 organizations x 90 days
    python bench/run.py --workloads coder      # only the Coder source (bench/coder.py)
    python bench/run.py --workloads http       # reads at scale over HTTP (bench/http_reads.py)

For each store (PostgreSQL from USAGE_METRICS_BENCH_DATABASE_URL, else a throw-away pgserver
instance; and SQLite), it loads a realistic data set, starts the real service as a separate
process, and measures ingest, refresh, /metrics, report latency and memory. The ``coder``
workload fills a Coder-shaped database and measures the Coder source's first and steady passes
(PostgreSQL only); the ``http`` workload loads over HTTP and times reports, the Grafana
panels' SQL and concurrent reports, before and after ``VACUUM ANALYZE`` (PostgreSQL only;
scales small, medium and full of its own). It prints one table (figure, measured, target,
ratio to target) and writes the same as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import coder, http_reads, load
from bench.dataset import DAY, SCALES, Scale
from bench.dataset import load as load_dataset
from bench.service import bare_server, peak_rss_mib, service
from exporter.config import Config, normalize_database_url
from exporter.store import Store
from exporter.store.directory import UserRecord
from exporter.store.tokens import create_token


@dataclasses.dataclass
class Row:
    """One line of the result table."""

    store: str
    figure: str
    measured: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        """measured / target (or target / measured when lower is better): >= 1 meets it."""
        if self.target is None or self.measured == 0:
            return None
        return self.measured / self.target if self.higher_is_better else self.target / self.measured


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A libpq URL of the benchmark's PostgreSQL server (a throw-away one when none is set)."""
    admin = os.environ.get("USAGE_METRICS_BENCH_DATABASE_URL")
    if admin:
        yield admin.replace("postgresql+psycopg://", "postgresql://")
        return
    import pgserver  # noqa: PLC0415

    scratch = tempfile.mkdtemp(prefix="usage-bench-pg-")
    server = pgserver.get_server(scratch, cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextlib.contextmanager
def postgres_database(scale: Scale) -> Iterator[str]:
    """A fresh database on the benchmark's PostgreSQL server; dropped afterwards."""
    with postgres_server() as admin, scratch_database(admin, scale.name) as url:
        yield url


@contextlib.contextmanager
def scratch_database(admin: str, label: str) -> Iterator[str]:
    """A new database named after ``label`` on the server at ``admin``; dropped afterwards."""
    name = f"um_bench_{label}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(admin)
    host = str(params.get("host", "127.0.0.1"))
    auth = str(params.get("user", "postgres")) + (
        f":{params['password']}" if params.get("password") else ""
    )
    port = params.get("port", 5432)
    if str(host).startswith("/"):
        url = f"postgresql+psycopg://{auth}@/{name}?host={host}&port={port}"
    else:
        url = f"postgresql+psycopg://{auth}@{host}:{port}/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_coder(
    scale_name: str, rows: list[Row], setup: dict[str, float], *, keep: str | None
) -> None:
    """The Coder source's first and steady passes, on PostgreSQL.

    ``keep`` names a Coder database kept between runs (``coder.kept_coder_database``).
    """
    coder_scale = coder.CODER_SCALES[scale_name]
    with postgres_server() as admin, scratch_database(admin, scale_name) as url:
        asyncio.run(_migrated(url))
        result = coder.run(admin, url, coder_scale, keep=keep)
    setup["coder fill seconds"] = result.filled.seconds
    setup["coder first pass seconds"] = result.first_seconds
    for figure, measured, unit, target, higher in coder.iterate_rows(result):
        rows.append(Row("postgresql", figure, measured, unit, target, higher))


async def _migrated(url: str) -> None:
    store = Store.open(Config(database_url=url))
    try:
        await store.migrate()
    finally:
        await store.close()


async def prepare(url: str, scale: Scale, users: int | None = None) -> tuple[str, float]:
    """Migrate, load the data set, make an admin token; the token and load time."""
    store = Store.open(Config(database_url=url))
    try:
        await store.migrate()
        started = time.perf_counter()
        await load_dataset(store, scale, now=time.time(), users=users)
        loaded = time.perf_counter() - started
        async with store.write() as connection:
            await store.directory(connection, now=time.time()).put_user(
                "bench-admin", UserRecord(username="bench-admin", roles=["site-admin"])
            )
            token = await create_token(connection, "bench-admin", now=time.time(), lifetime=None)
        if store.engine.dialect.name == "postgresql":
            await settle(store)
        return token.text, loaded
    finally:
        await store.close()


async def settle(store: Store) -> None:
    """Measure a steady state, not the minutes after a bulk load.

    Right after loading millions of rows PostgreSQL has no statistics for the planner and a
    backlog of dirty pages and autovacuum work; a running deployment has neither. VACUUM
    ANALYZE and a CHECKPOINT get there at once.
    """
    async with store.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM (ANALYZE)")
        try:
            await autocommit.exec_driver_sql("CHECKPOINT")
        except sa.exc.DBAPIError:
            print("note: CHECKPOINT needs a superuser; measuring without it", file=sys.stderr)


async def refresh_seconds(base: str, after: float) -> float:
    """usage_refresh_duration_seconds from the first refresh that finished after ``after``."""
    deadline = time.time() + 120
    async with aiohttp.ClientSession() as session:
        while time.time() < deadline:
            async with session.get(f"{base}/metrics") as response:
                text = await response.text()
            finished = re.search(r"^usage_last_refresh_timestamp_seconds (\S+)", text, re.M)
            took = re.search(r"^usage_refresh_duration_seconds (\S+)", text, re.M)
            if finished and took and float(finished.group(1)) > after:
                return float(took.group(1))
            await asyncio.sleep(0.2)
    raise RuntimeError("no refresh finished in time")


async def measure(store_name: str, url: str, scale: Scale, token: str, rows: list[Row]) -> None:
    """Every measurement against one running service."""
    rng = random.Random(1)
    with service(url) as (base, pid):
        full = await refresh_seconds(base, 0)
        rows.append(
            Row(store_name, "refresh, full (first after start)", full * 1000, "ms", 2000, False)
        )

        batches = [
            load.session_batch(rng, scale.users, scale.organizations, time.time())
            for _ in range(scale.ingest_batches)
        ]
        result = await load.post_batches(base, token, batches, clients=4)
        rows.append(
            Row(
                store_name,
                "ingest, sessions 10-120 min (4 clients)",
                result["minutes"] / result["seconds"],
                "minutes/s",
                250_000,
            )
        )

        # Each batch a minute of its own, later than the one before, so that every event is a new
        # user-minute (the target's "one point event per user-minute") that moves its user's
        # "last seen" forward, as a live feed does: never a replay of an earlier batch.
        first = time.time() // 60 * 60 - 60 * scale.heartbeat_batches
        beats = [
            load.heartbeat_batch(i * 5000, scale.users, scale.organizations, first + 60 * i)
            for i in range(scale.heartbeat_batches)
        ]
        result = await load.post_batches(base, token, beats, clients=4)
        rows.append(
            Row(
                store_name,
                "ingest, heartbeats (4 clients)",
                result["events"] / result["seconds"],
                "events/s",
                30_000,
            )
        )

        marker = time.time()
        incremental = await refresh_seconds(base, marker)
        rows.append(
            Row(store_name, "refresh, after new activity", incremental * 1000, "ms", 100, False)
        )

        async with aiohttp.ClientSession() as session:
            response = await session.get(f"{base}/metrics", headers={"Accept-Encoding": "identity"})
            body = await response.read()
        plain = {"Accept-Encoding": "identity"}
        served = await load.requests_per_second(
            f"{base}/metrics", seconds=5, clients=8, headers=plain
        )
        with tempfile.NamedTemporaryFile() as copy:
            copy.write(body)
            copy.flush()
            with bare_server(Path(copy.name)) as bare:
                baseline = await load.requests_per_second(
                    f"{bare}/metrics", seconds=5, clients=8, headers=plain
                )
        rows.append(
            Row(
                store_name,
                f"/metrics ({len(body) // 1024} KiB), vs bare handler",
                100 * served / baseline,
                "% of bare",
                50,
            )
        )
        rows.append(Row(store_name, "/metrics requests/s", served, "req/s"))

        now = time.time()
        midnight = now // DAY * DAY
        async with aiohttp.ClientSession() as session:
            for label, start, end, interval, target in (
                ("report, 30 days by week", now - 30 * DAY, now, "1 week", 250),
                (
                    "report, 30 days by week, UTC midnights",
                    midnight - 30 * DAY,
                    midnight,
                    "1 week",
                    250,
                ),
                ("report, 1 year by month", now - 365 * DAY, now, "1 month", 1000),
            ):
                spacing = interval.replace(" ", "%20")
                query = f"start={load.iso(start)}&end={load.iso(end)}&interval={spacing}"
                url_ = f"{base}/api/private/metrics/activity?{query}"
                await load.get_json(session, url_, token)  # the answer parses
                timing = await load.latency_ms(
                    functools.partial(load.get_body, session, url_, token), runs=5
                )
                rows.append(
                    Row(store_name, f"{label} (median of 5)", timing["median"], "ms", target, False)
                )
        rows.append(
            Row(
                store_name,
                f"peak RSS at {scale.users:,} users",
                peak_rss_mib(pid),
                "MiB",
                300,
                False,
            )
        )


async def memory_point(url: str, scale: Scale, rows: list[Row]) -> None:
    """Peak RSS of the service over a store of ``scale.memory_users`` users."""
    small = dataclasses.replace(scale, days=2)
    token, _ = await prepare(url, small, users=scale.memory_users)
    with service(url) as (base, pid):
        await refresh_seconds(base, 0)
        async with aiohttp.ClientSession() as session:
            await (await session.get(f"{base}/metrics")).read()
            now = time.time()
            await load.get_json(
                session,
                f"{base}/api/private/metrics/activity"
                f"?start={load.iso(now - 7 * DAY)}&end={load.iso(now)}",
                token,
            )
        rows.append(
            Row(
                "postgresql",
                f"peak RSS at {scale.memory_users:,} users",
                peak_rss_mib(pid),
                "MiB",
                300,
                False,
            )
        )


def measure_http(scale_name: str, setup: dict[str, float]) -> list[http_reads.Figure]:
    """Reads at scale over HTTP on PostgreSQL (bench/http_reads.py); prints the issue's table."""
    scale = http_reads.HTTP_SCALES[scale_name]
    with postgres_server() as admin, scratch_database(admin, f"http_{scale_name}") as url:
        figures, http_setup = http_reads.run(url, scale)
    setup |= http_setup
    http_reads.print_table(figures)
    return figures


def print_table(rows: list[Row]) -> None:
    """One table: figure, measured, target, ratio."""
    print(f"{'store':<11} {'figure':<60} {'measured':>14} {'target':>12} {'ratio':>7}")
    for row in rows:
        target = (
            "" if row.target is None else f"{'≥' if row.higher_is_better else '≤'}{row.target:,.0f}"
        )
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}{'' if row.ratio >= 1 else ' !'}"
        print(
            f"{row.store:<11} {row.figure:<60} {row.measured:>9,.1f} {row.unit:<10}"
            f" {target:>8} {ratio:>7}"
        )


def main() -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        choices=sorted(set(SCALES) | set(http_reads.HTTP_SCALES)),
        default="small",
        help="medium: the http and coder workloads only",
    )
    parser.add_argument(
        "--stores", default="postgresql,sqlite", help="comma-separated: postgresql, sqlite"
    )
    parser.add_argument(
        "--workloads", default="service,coder", help="comma-separated: service, coder, http"
    )
    parser.add_argument(
        "--keep-coder",
        metavar="NAME",
        help="keep the generated Coder database under this name and reuse it in later runs",
    )
    parser.add_argument(
        "--output", type=Path, help="JSON file (default bench/results/<time>-<scale>.json)"
    )
    args = parser.parse_args()
    rows: list[Row] = []
    setup: dict[str, float] = {"load average at start": os.getloadavg()[0]}
    workloads = set(args.workloads.split(","))
    if workloads - {"service", "coder", "http"}:
        parser.error(f"unknown workload {sorted(workloads - {'service', 'coder', 'http'})[0]!r}")
    if args.scale not in SCALES and workloads - {"http", "coder"}:
        parser.error(f"--scale {args.scale} is for the http and coder workloads only")
    scale = SCALES.get(args.scale, SCALES["small"])
    figures = measure_http(args.scale, setup) if "http" in workloads else []
    if "coder" in workloads:
        measure_coder(args.scale, rows, setup, keep=args.keep_coder)
    for store_name in args.stores.split(",") if "service" in workloads else []:
        if store_name == "postgresql":
            with postgres_database(scale) as url:
                token, setup["postgresql load seconds"] = asyncio.run(prepare(url, scale))
                asyncio.run(measure("postgresql", url, scale, token, rows))
            if scale.memory_users:
                with postgres_database(scale) as url:
                    asyncio.run(memory_point(url, scale, rows))
        elif store_name == "sqlite":
            sqlite_scale = dataclasses.replace(
                scale, users=min(scale.users, 1000), days=min(scale.days, 14)
            )
            with tempfile.TemporaryDirectory(prefix="usage-bench-") as scratch:
                url = normalize_database_url(f"sqlite:///{scratch}/bench.db")
                token, setup["sqlite load seconds"] = asyncio.run(prepare(url, sqlite_scale))
                asyncio.run(measure("sqlite", url, sqlite_scale, token, rows))
        else:
            parser.error(f"unknown store {store_name!r}")
    if rows:
        print_table(rows)
    output = (
        args.output
        or Path(__file__).parent / "results" / f"{time.strftime('%Y%m%dT%H%M%S')}-{args.scale}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    setup["load average at end"] = os.getloadavg()[0]
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    output.write_text(
        json.dumps(
            {
                "scale": dataclasses.asdict(scale) if args.scale in SCALES else args.scale,
                "workloads": sorted(workloads),
                "http_scale": dataclasses.asdict(http_reads.HTTP_SCALES[args.scale])
                if "http" in workloads
                else None,
                "machine": machine,
                "setup": setup,
                "rows": [dataclasses.asdict(r) | {"ratio": r.ratio} for r in rows],
                "http": [dataclasses.asdict(f) | {"ratio": f.ratio} for f in figures],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
