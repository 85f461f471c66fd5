"""Time the people dashboard's SQL panels on a PostgreSQL store, as Grafana would run them.

    python bench/people.py postgresql://postgres@127.0.0.1:5432/store [--days 30] [--runs 3]
    python bench/people.py URL --load 10000   # first migrate and load 10,000 users x 30 days

Each panel's SQL is read from the generated dashboard (or ``--dashboard``, e.g. an older
version's), its macros filled in for the last ``--days`` days up to now (organization and
action ``any`` unless given), and run with ``EXPLAIN (ANALYZE)``: the time reported is the
server's planning and execution, without the network. ``--load N`` first migrates the (empty)
database and loads bench/dataset.py's activity of N users in 100 organizations over the last
30 days; ``--settle`` runs ``VACUUM (ANALYZE)`` before measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import Scale, load
from exporter.config import Config
from exporter.store import Store
from tests.grafana_macros import expand

DASHBOARD = Path(__file__).resolve().parent.parent / "grafana/dashboards/usage-metrics-people.json"


def panel_sql(dashboard: Path = DASHBOARD) -> Iterator[tuple[str, str]]:
    """(title, raw SQL) of every SQL target of the dashboard's panels."""
    for panel in json.loads(dashboard.read_text())["panels"]:
        for target in panel.get("targets", []):
            if "rawSql" in target:
                yield panel["title"], target["rawSql"]


def execution_ms(connection: psycopg.Connection, sql: str) -> float:
    """The server's execution time of ``sql`` in milliseconds (EXPLAIN ANALYZE)."""
    rows = connection.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()
    assert rows is not None
    plan = rows[0][0]
    return float(plan["Planning Time"]) + float(plan["Execution Time"])


async def load_store(url: str, users: int) -> None:
    """Migrate the store at ``url`` and load ``users`` users' last 30 days into it."""
    store = Store.open(Config(database_url=url.replace("postgresql://", "postgresql+psycopg://")))
    try:
        await store.migrate()
        scale = Scale("people", users, 100, 30, 0, 0, 0)
        await load(store, scale, now=dt.datetime.now(dt.UTC).timestamp())
    finally:
        await store.close()


def main() -> int:
    """Print each panel's execution times (ms) and the machine's load."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--organization", default="any")
    parser.add_argument("--action", default="any")
    parser.add_argument("--settle", action="store_true")
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD)
    parser.add_argument("--load", type=int, metavar="USERS")
    args = parser.parse_args()
    if args.load:
        asyncio.run(load_store(args.url, args.load))
    end = dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(days=args.days)
    variables = {"organization": args.organization, "action": args.action}
    with psycopg.connect(args.url, autocommit=True) as connection:
        if args.settle:
            connection.execute("VACUUM (ANALYZE)")
        print(f"load: {os.getloadavg()[0]:.2f}  range: {start:%Y-%m-%dT%H:%M:%S} .. {end:%H:%M:%S}")
        for title, sql in panel_sql(args.dashboard):
            query = expand(sql, start=start, end=end, variables=variables)
            times = [execution_ms(connection, query) for _ in range(args.runs)]
            shown = " ".join(f"{value:7.1f}" for value in times)
            print(f"{title:32} median {statistics.median(times):7.1f} ms  ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
