"""Largest legal batches against a real ``serve`` process: /healthz latency and RSS.

    python -m bench.hostile [--stores sqlite postgresql] [--concurrency 1 2 4] [--reports 20]

Posts N batches at once of 10,000 sessions of 24 h for distinct users (14.4 M minutes each)
while a poller asks ``/healthz`` every 50 ms; prints, per store and N, the batches' statuses
and time, the worst ``/healthz`` latency, the service's RSS (peak ``VmHWM`` and after) from
/proc, and the machine's load average when the round began. With ``--reports M``, a last
round asks for M activity reports at once over what the batches stored (every user, the last
two days by day). PostgreSQL is a fresh database on
``--database-url``'s server, else on USAGE_METRICS_BENCH_DATABASE_URL's, else on a throw-away
pgserver instance; SQLite a fresh file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from bench.run import postgres_server, scratch_database
from bench.service import healthz_polled

USERS = 10_000


def _batch(offset: int) -> bytes:
    """10,000 sessions of 24 h ending now-ish, one per distinct user."""
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    start = end - dt.timedelta(hours=24)
    events = [
        {
            "user_id": f"bench-{offset}-{n}",
            "category": "app",
            "time": start.isoformat().replace("+00:00", "Z"),
            "end_time": end.isoformat().replace("+00:00", "Z"),
        }
        for n in range(USERS)
    ]
    return json.dumps({"events": events}).encode()


def _rss(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], env=env, check=True, capture_output=True
    ).stdout.decode()


async def _round(
    store: str, base: str, token: str, pid: int, *, concurrency: int, offset: int, reports: bool
) -> str:
    load = os.getloadavg()[0]
    bodies = [] if reports else [_batch(offset + n) for n in range(concurrency)]

    async def post(session: aiohttp.ClientSession, body: bytes) -> int:
        async with session.post(
            f"{base}/api/v1/activity",
            data=body,
            headers={"Session-Token": token, "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=600),
        ) as response:
            await response.read()
            return response.status

    async def report(session: aiohttp.ClientSession) -> int:
        end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        query = {
            "start": (end - dt.timedelta(days=2)).isoformat().replace("+00:00", "Z"),
            "end": end.isoformat().replace("+00:00", "Z"),
            "interval": "1 day",
        }
        async with session.get(
            f"{base}/api/private/metrics/activity",
            params=query,
            headers={"Session-Token": token},
            timeout=aiohttp.ClientTimeout(total=600),
        ) as response:
            await response.read()
            return response.status

    before = _rss(pid)["VmRSS"]
    async with aiohttp.ClientSession() as session, healthz_polled(session, base) as health:
        started = time.monotonic()
        requests = (
            [report(session) for _ in range(concurrency)]
            if reports
            else [post(session, body) for body in bodies]
        )
        statuses = await asyncio.gather(*requests)
        took = time.monotonic() - started
    await asyncio.sleep(2)
    after = _rss(pid)
    return (
        f"| {store} | {concurrency}{' reports' if reports else ''} | {statuses} | {took:.1f} s | "
        f"{health.worst * 1000:,.0f} ms | "
        f"{before} MB | {after['VmHWM']} MB | {after['VmRSS']} MB | {load:.1f} |"
    )


async def _rounds(store: str, database_url: str, concurrency: list[int], reports: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "USAGE_METRICS_DATABASE_URL": database_url,
        "USAGE_METRICS_LISTEN": f"127.0.0.1:{port}",
        "USAGE_METRICS_LOG_LEVEL": "warning",
    }
    _cli(env, "migrate")
    _cli(env, "users", "create", "bench-writer", "--id", "bench-writer", "--role", "site-admin")
    token = _cli(env, "tokens", "create", "--user", "bench-writer").split()[-1]
    rounds = [(n, False) for n in concurrency] + ([(reports, True)] if reports else [])
    for n, of_reports in rounds:  # a fresh process per round, so that each peak is its own
        with subprocess.Popen(  # noqa: ASYNC220  (a process for the whole round, not a call)
            [sys.executable, "-m", "exporter", "serve"], env=env
        ) as server:
            try:
                base = f"http://127.0.0.1:{port}"
                async with aiohttp.ClientSession() as session:
                    for _ in range(300):
                        try:
                            async with session.get(f"{base}/readyz") as response:
                                if response.status == 200:
                                    break
                        except aiohttp.ClientError:
                            pass
                        await asyncio.sleep(0.1)
                row = await _round(
                    store,
                    base,
                    token,
                    server.pid,
                    concurrency=n,
                    offset=n * 100,
                    reports=of_reports,
                )
                print(row, flush=True)
            finally:
                server.terminate()


@contextlib.contextmanager
def _database(store: str, url: str | None) -> Iterator[str]:
    """A fresh, empty store of the kind ``store``: a new database or a new file."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="usage-hostile-") as scratch:
            yield f"sqlite:///{scratch}/bench.db"
        return
    with contextlib.ExitStack() as stack:
        admin = (url or stack.enter_context(postgres_server())).replace("+psycopg", "")
        yield stack.enter_context(scratch_database(admin, "hostile"))


def main() -> None:
    """Parse the arguments and run the rounds, store by store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stores", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--reports", type=int, default=0, help="then this many reports at once (0: none)"
    )
    parser.add_argument(
        "--database-url", default=None, help="a PostgreSQL server where databases may be created"
    )
    args = parser.parse_args()
    print(
        "| store | batches at once | statuses | time | worst /healthz | RSS before | peak RSS "
        "| RSS after | load average |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for store in args.stores:
        with _database(store, args.database_url) as url:
            asyncio.run(_rounds(store, url, args.concurrency, args.reports))


if __name__ == "__main__":
    main()
