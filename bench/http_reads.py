"""Reads at scale, measured from outside as an operator's tools would (issue 27).

The real service runs as a separate process on a fresh PostgreSQL database, and the data set
goes in through HTTP ingest (``POST /api/v1/activity``, batches of 10,000 events): ``users``
people in ``organizations`` organizations, ``days`` days of working-hours sessions up to the
current minute (bench/dataset.py's shape). Then, first on the store as loading left it
(unsettled) and again after ``VACUUM ANALYZE`` (settled), each on a freshly started service:

* three reports, each timed to the last byte with aiohttp (a warm-up, then ``REPORT_RUNS``);
* each SQL panel of the Grafana dashboards, macros filled for the last 30 days, variables
  ``any``/``any``, run with psycopg (a warm-up, then ``PANEL_RUNS``);
* ``CONCURRENT`` large reports at once (90 days by day, each for one of the organizations
  nearest ``LARGE_ORGANIZATION`` people), ``/healthz`` polled every 50 ms alongside; a 503
  is counted and retried after its ``Retry-After``, and a report's latency runs from its first
  attempt to the last byte of its answer. Peak RSS is the service's ``VmHWM`` at the end.

Every figure carries the machine's 1-minute load average when it was taken.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import psycopg

from bench import grafana_sql
from bench.dataset import DAY, day_of, organization_of
from bench.service import healthz_polled, peak_rss_mib, service

BATCH_EVENTS = 10_000
REPORT_RUNS = 7
PANEL_RUNS = 3
CONCURRENT = 20
LARGE_ORGANIZATION = 0.03  # of the users: 300 at 10,000
PANEL_GOAL_MS = 200.0
MEMORY_GOAL_MIB = 300.0


@dataclasses.dataclass(frozen=True)
class HttpScale:
    """How big the data set loaded over HTTP is."""

    name: str
    users: int
    organizations: int
    days: int


HTTP_SCALES = {
    "small": HttpScale("small", 1_000, 20, 30),
    "medium": HttpScale("medium", 3_000, 40, 30),
    "full": HttpScale("full", 10_000, 100, 30),
}


@dataclasses.dataclass
class Figure:
    """One measured figure of the workload, with the goal it is held to (lower is better)."""

    figure: str
    measured: float
    unit: str
    goal: float | None
    load: float
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        """measured / goal: ≤ 1 meets it."""
        return None if self.goal is None else self.measured / self.goal


def load_average() -> float:
    """The machine's 1-minute load average."""
    return os.getloadavg()[0]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def events(scale: HttpScale, now: float) -> Iterator[dict[str, str]]:
    """The data set as ingest events: closed days and today up to ``now``'s minute."""
    now_minute = int(now // 60)
    first_day = int(now // DAY - scale.days) * DAY
    for user in range(scale.users):
        rng = random.Random(user * 7919)
        for organization in organization_of(user, scale.organizations):
            for day in range(first_day, int(now // DAY) * DAY + DAY, DAY):
                for event in day_of(user, organization, day, rng):
                    end = min(event.end_minute, now_minute)
                    if event.first_minute >= end:
                        continue
                    yield {
                        "user_id": event.user_id,
                        "organization_id": event.organization_id,
                        "category": event.category.name.lower(),
                        "time": _iso(event.first_minute * 60),
                        "end_time": _iso(end * 60),
                    }


def batches(scale: HttpScale, now: float) -> Iterator[bytes]:
    """JSON ingest bodies of ``BATCH_EVENTS`` events each."""
    batch: list[dict[str, str]] = []
    for event in events(scale, now):
        batch.append(event)
        if len(batch) == BATCH_EVENTS:
            yield json.dumps({"events": batch}).encode()
            batch = []
    if batch:
        yield json.dumps({"events": batch}).encode()


def cli(database_url: str, *args: str) -> str:
    """``usage-metrics <args>`` against ``database_url``; its standard output."""
    env = {**os.environ, "USAGE_METRICS_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], env=env, check=True, capture_output=True
    ).stdout.decode()


def admin_token(database_url: str) -> str:
    """Migrate the store and make a site admin's token."""
    cli(database_url, "migrate")
    cli(
        database_url,
        "users",
        "create",
        "bench-admin",
        "--id",
        "bench-admin",
        "--role",
        "site-admin",
    )
    return cli(database_url, "tokens", "create", "--user", "bench-admin").split()[-1]


async def ingest(base: str, token: str, scale: HttpScale, *, clients: int = 3) -> dict[str, float]:
    """POST the data set with ``clients`` connections, printing progress; totals and seconds."""
    now = time.time()
    bodies = batches(scale, now)
    totals = {"events": 0.0, "minutes": 0.0, "batches": 0.0}
    started = time.perf_counter()
    last_print = 0.0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal last_print
        for body in bodies:  # the generator is shared: each batch goes to one client
            answer = await _post(session, f"{base}/api/v1/activity", token, body)
            totals["events"] += answer["accepted"]
            totals["minutes"] += answer["minutes"]
            totals["batches"] += 1
            elapsed = time.perf_counter() - started
            if elapsed - last_print >= 10:
                last_print = elapsed
                print(
                    f"  loaded {totals['minutes'] / 1e6:6.2f} M minutes, "
                    f"{totals['events']:,.0f} events in {elapsed:5.0f} s "
                    f"({totals['minutes'] / elapsed:,.0f} minutes/s, load {load_average():.1f})",
                    file=sys.stderr,
                    flush=True,
                )

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    totals["seconds"] = time.perf_counter() - started
    return totals


async def _post(
    session: aiohttp.ClientSession, url: str, token: str, body: bytes
) -> dict[str, Any]:
    """POST one batch, waiting out 503s as a client would."""
    headers = {"Session-Token": token, "Content-Type": "application/json"}
    while True:
        async with session.post(url, data=body, headers=headers) as response:
            answer = await response.read()
            if response.status == 503:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status != 200:
                raise RuntimeError(f"ingest answered {response.status}: {answer[:500]!r}")
            result: dict[str, Any] = json.loads(answer)
            return result


async def fetch(session: aiohttp.ClientSession, url: str, token: str) -> tuple[bytes, int]:
    """A GET read to the last byte; its body and how many 503s came first (waited out)."""
    busy = 0
    while True:
        async with session.get(url, headers={"Session-Token": token}) as response:
            body = await response.read()
            if response.status == 503:
                busy += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}: {body[:500]!r}")
            return body, busy


def report_url(base: str, start: float, end: float, interval: str, org: str = "") -> str:
    """The report's URL over [start, end) by ``interval``."""
    query = f"start={_iso(start)}&end={_iso(end)}&interval={interval.replace(' ', '%20')}"
    return f"{base}/api/private/metrics/activity?{query}" + (f"&org={org}" if org else "")


async def reports(base: str, token: str, label: str) -> list[Figure]:
    """Rows (a)-(c): min and median of ``REPORT_RUNS`` timings to the last byte."""
    now = time.time()
    midnight = now // DAY * DAY
    figures = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        for name, start, end, interval, goal in (
            (
                "report, 30 days by week, start at the current minute",
                now - 30 * DAY,
                now,
                "1 week",
                250.0,
            ),
            (
                "report, 30 days by week, midnight to midnight",
                midnight - 30 * DAY,
                midnight,
                "1 week",
                150.0,
            ),
            ("report, 1 year by month", now - 365 * DAY, now, "1 month", 300.0),
        ):
            url = report_url(base, start, end, interval)
            body, _ = await fetch(session, url, token)  # warm-up; the answer parses
            json.loads(body)
            timings = []
            load = load_average()
            for _ in range(REPORT_RUNS):
                began = time.perf_counter()
                await fetch(session, url, token)
                timings.append((time.perf_counter() - began) * 1000)
            figures.append(
                Figure(
                    f"{name} ({len(body) / 1e6:.1f} MB) [{label}]",
                    statistics.median(timings),
                    "ms",
                    goal,
                    load,
                    f"min {min(timings):,.0f} ms, median of {REPORT_RUNS}",
                )
            )
    return figures


def panels(libpq_url: str, label: str) -> list[Figure]:
    """Row (d): each SQL panel, last 30 days, ``any``/``any``: median of ``PANEL_RUNS``."""
    end = time.time()
    variables = {"organization": "any", "action": "any"}
    figures = []
    with psycopg.connect(libpq_url, autocommit=True) as connection:
        for panel in grafana_sql.panels():
            sql = grafana_sql.fill(
                panel.raw_sql, start=end - 30 * DAY, end=end, variables=variables
            )
            connection.execute(sql).fetchall()  # warm-up
            load = load_average()
            timings = []
            for _ in range(PANEL_RUNS):
                began = time.perf_counter()
                connection.execute(sql).fetchall()
                timings.append((time.perf_counter() - began) * 1000)
            figures.append(
                Figure(
                    f"panel {panel.dashboard}: {panel.title} [{label}]",
                    statistics.median(timings),
                    "ms",
                    PANEL_GOAL_MS,
                    load,
                    f"min {min(timings):,.0f} ms, median of {PANEL_RUNS}",
                )
            )
    return figures


def large_organizations(scale: HttpScale, count: int = 3) -> list[str]:
    """The ids of the ``count`` organizations whose sizes are nearest ``LARGE_ORGANIZATION``."""
    sizes = Counter(
        org for user in range(scale.users) for org in organization_of(user, scale.organizations)
    )
    wanted = LARGE_ORGANIZATION * scale.users
    nearest = sorted(sizes, key=lambda org: (abs(sizes[org] - wanted), org))[:count]
    return [f"org-{org:03d}" for org in nearest]


async def concurrent(base: str, token: str, pid: int, scale: HttpScale, label: str) -> list[Figure]:
    """Row (e): ``CONCURRENT`` large reports at once, ``/healthz`` polled alongside."""
    now = time.time()
    organizations = large_organizations(scale)
    urls = [
        report_url(base, now - 90 * DAY, now, "1 day", organizations[n % len(organizations)])
        for n in range(CONCURRENT)
    ]
    load = load_average()

    async def one(session: aiohttp.ClientSession, url: str) -> tuple[float, int, int]:
        began = time.perf_counter()
        body, busy = await fetch(session, url, token)
        return (time.perf_counter() - began) * 1000, busy, len(body)

    timeout = aiohttp.ClientTimeout(total=600)
    connector = aiohttp.TCPConnector(limit=CONCURRENT + 1)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
        healthz_polled(session, base) as health,
    ):
        results = await asyncio.gather(*(one(session, url) for url in urls))
    latencies = sorted(result[0] for result in results)
    busy = sum(result[1] for result in results)
    size = statistics.median(result[2] for result in results) / 1e6
    p95 = latencies[min(len(latencies) - 1, round(0.95 * len(latencies)) - 1)]
    what = f"{CONCURRENT} concurrent reports, 90 days by day, ~{size:.1f} MB each"
    return [
        Figure(
            f"{what}: p50 [{label}]",
            statistics.median(latencies),
            "ms",
            None,
            load,
            f"organizations {', '.join(organizations)}",
        ),
        Figure(f"{what}: p95 [{label}]", p95, "ms", 2000.0, load),
        Figure(f"{what}: 503 Busy answers (retried) [{label}]", busy, "answers", None, load),
        Figure(f"{what}: worst /healthz [{label}]", health.worst * 1000, "ms", None, load),
        Figure(
            f"{what}: service peak RSS [{label}]", peak_rss_mib(pid), "MiB", MEMORY_GOAL_MIB, load
        ),
    ]


async def measure(database_url: str, token: str, scale: HttpScale, label: str) -> list[Figure]:
    """Every read, against a freshly started service."""
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://")
    with service(database_url) as (base, pid):
        figures = await reports(base, token, label)
        figures += panels(libpq, label)
        figures += await concurrent(base, token, pid, scale, label)
    return figures


def settle(database_url: str) -> float:
    """``VACUUM ANALYZE`` the store; the seconds it took."""
    began = time.perf_counter()
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return time.perf_counter() - began


def run(database_url: str, scale: HttpScale) -> tuple[list[Figure], dict[str, float]]:
    """Load over HTTP, measure unsettled, settle, measure again; the figures and set-up times."""
    token = admin_token(database_url)
    setup: dict[str, float] = {"http load average before loading": load_average()}
    print(
        f"http: loading {scale.users:,} users x {scale.organizations} organizations x "
        f"{scale.days} days over HTTP",
        file=sys.stderr,
        flush=True,
    )
    with service(database_url) as (base, _):
        loaded = asyncio.run(ingest(base, token, scale))
    print(
        f"http: loaded {loaded['minutes'] / 1e6:.2f} M minutes ({loaded['events']:,.0f} events) "
        f"in {loaded['seconds']:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    setup |= {f"http load {name}": value for name, value in loaded.items()}
    figures = asyncio.run(measure(database_url, token, scale, "unsettled"))
    setup["http VACUUM ANALYZE seconds"] = settle(database_url)
    figures += asyncio.run(measure(database_url, token, scale, "settled"))
    return figures, setup


def print_table(figures: list[Figure]) -> None:
    """The issue's table: read, measured, goal, measured/goal (≤ 1 meets), load, detail."""
    print(f"{'read':<100} {'measured':>14} {'goal':>9} {'ratio':>7} {'load':>5}  detail")
    for row in figures:
        goal = "" if row.goal is None else f"≤{row.goal:,.0f}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}{' !' if row.ratio > 1 else ''}"
        print(
            f"{row.figure:<100} {row.measured:>9,.1f} {row.unit:<4} {goal:>9} {ratio:>7}"
            f" {row.load:>5.1f}  {row.detail}"
        )
