"""``usage-metrics demo``: the service on a throw-away store full of synthetic activity."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from tqdm import tqdm

from exporter import logs
from exporter.background import in_background
from exporter.cli.common import load_config
from exporter.config import Config
from exporter.demo.population import DAY, ORGANIZATIONS, Person, events_between, population
from exporter.events import MAX_EVENTS, parse_events
from exporter.store import Store, directory
from exporter.store.tokens import create_token
from exporter.web import create_app
from exporter.web.keys import STORE

log = logging.getLogger("exporter.demo")
LIVE_FEED_SECONDS = 15.0
DEMO_REFRESH_SECONDS = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What the demo generates."""

    users: int
    days: int
    seed: int


def demo(args: argparse.Namespace) -> int:
    """Seed a store, print where to look, and serve until Ctrl-C."""
    scratch = None
    if args.database_url is None:
        scratch = Path(tempfile.mkdtemp(prefix="usage-metrics-demo-"))
        args.database_url = f"sqlite:///{scratch / 'demo.db'}"
    if args.refresh_interval is None:
        args.refresh_interval = f"{int(DEMO_REFRESH_SECONDS)}s"
    config = load_config(args)
    logs.configure("warning" if config.log_level == "info" else config.log_level)
    plan = Plan(users=args.users, days=args.days, seed=args.seed)
    try:
        people, history_start, token = asyncio.run(seed_store(config, plan))
        app = create_app(config, migrate=False)
        app.cleanup_ctx.append(_live_feed(people, history_start, plan.seed))
        _print_banner(config, token, scratch)
        web.run_app(
            app,
            host=config.listen_host,
            port=config.listen_port,
            access_log=None,
            print=None,
            shutdown_timeout=5,
        )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print("demo stopped", file=sys.stderr)
    return 0


async def seed_store(config: Config, plan: Plan) -> tuple[list[Person], float, str]:
    """Fill the store with the plan's directory and history; return people, start, token."""
    store = Store.open(config)
    try:
        await store.migrate()
        now = store.clock()
        history_start = (now // DAY - plan.days) * DAY
        people = population(plan.users, plan.days, plan.seed)
        token = await _directory(store, people, history_start)
        days = range(int(history_start), int(now), DAY)
        bar = tqdm(days, desc="seeding activity", unit="day", file=sys.stderr)
        batch: list[dict[str, str]] = []
        for day in bar:
            batch.extend(events_between(people, history_start, day, min(day + DAY, now), plan.seed))
            while len(batch) >= MAX_EVENTS:
                await _ingest(store, batch[:MAX_EVENTS])
                batch = batch[MAX_EVENTS:]
        await _ingest(store, batch)
        return people, history_start, token
    finally:
        await store.close()


async def _directory(store: Store, people: Iterable[Person], history_start: float) -> str:
    """Organizations, users (dormant ones created long ago) and an admin token."""
    async with store.write() as connection:
        writes = store.directory(connection, now=history_start)
        for org in ORGANIZATIONS:
            await writes.put_organization(org.id, name=org.name, display_name=org.display_name)
        for person in people:
            created = history_start + person.joined_day * DAY
            if person.dormant:
                created = history_start - 100 * DAY
            roles = {person.organization.id: ["organization-member"]}
            await writes.put_user(
                person.id,
                directory.UserRecord(
                    username=person.username,
                    name=person.name,
                    roles=list(person.roles),
                    organizations=roles,
                ),
                now=created,
            )
        await writes.put_user(
            "demo-admin",
            directory.UserRecord(username="demo-admin", name="Demo Admin", roles=["site-admin"]),
            now=store.clock(),
        )
        token = await create_token(connection, "demo-admin", now=store.clock(), lifetime=None)
    return token.text


async def _ingest(store: Store, batch: list[dict[str, str]]) -> None:
    if not batch:
        return
    await store.ingest(parse_events(batch, store.ingest_limits()))


def _live_feed(
    people: list[Person], history_start: float, seed: int
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Keep generating the planned activity as time passes, so the gauges move."""

    async def feed(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]

        async def loop() -> None:
            last = store.clock()
            while True:
                await asyncio.sleep(LIVE_FEED_SECONDS)
                now = store.clock()
                try:
                    await _ingest(
                        store, list(events_between(people, history_start, last, now, seed))
                    )
                    last = now
                except Exception:
                    log.warning("live demo activity failed; retrying", exc_info=True)

        async with in_background(loop(), name="usage-metrics-demo-feed"):
            yield

    return feed


def _print_banner(config: Config, token: str, scratch: Path | None) -> None:
    base = f"http://{config.listen_host}:{config.listen_port}"
    end = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + DAY))
    start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - 28 * DAY))
    query = f"start={start}&end={end}&category=any&interval={quote('1 week')}"
    store = "a temporary SQLite file (deleted on exit)" if scratch else config.database_url
    print(
        f"""
Metrics view: {base}/
  paste this site-admin token into it: {token}

usage-metrics demo is running on {store}.

  Prometheus    {base}/metrics
  Report        curl -H "Session-Token: $TOKEN" "{base}/api/private/metrics/activity?{query}"

The same token for curl:
  export TOKEN={token}

New activity arrives every {LIVE_FEED_SECONDS:g} s; gauges refresh every \
{config.refresh_interval:g} s.
Press Ctrl-C to stop.
""",
        flush=True,
    )
