"""The demo's synthetic activity: deterministic, self-consistent, and alive in /metrics."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.config import Config
from exporter.demo.population import DAY, events_between, population, sessions
from exporter.demo.run import Plan, seed_store
from exporter.events import Limits, parse_events
from exporter.model import Category
from exporter.store import Store
from exporter.store.gauges import read_gauges
from exporter.store.ingest import rollup
from tests.processes import free_port

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp()  # a Monday


def test_population_is_deterministic_and_varied() -> None:
    """The same seed gives the same people; the mix has power users, dormant users and growth."""
    people = population(400, 90, seed=7)
    assert people == population(400, 90, seed=7)
    assert len({p.organization.id for p in people}) == 5
    assert any(p.dormant for p in people)
    assert any(p.hours > 6.5 for p in people)
    assert any(p.joined_day > 30 for p in people)
    assert len({p.username for p in people}) == 400


def test_weekdays_are_busier_than_weekends() -> None:
    """People work on weekdays; weekends are quiet."""
    people = population(200, 14, seed=3)
    weekday = sum(bool(sessions(p, START, 3)) for p in people)  # Monday
    weekend = sum(bool(sessions(p, START + 5 * DAY, 3)) for p in people)  # Saturday
    assert weekday > 100
    assert weekend < weekday / 5


def _minutes(events: list[dict[str, str]]) -> dict[tuple[str, int, int, str], int]:
    limits = Limits(now=START + 30 * DAY, retention_seconds=400 * DAY, default_organization="d")
    return rollup(parse_events(events, limits))


@settings(max_examples=25, deadline=None)
@given(cut=st.floats(min_value=0, max_value=3 * DAY))
def test_history_and_live_feed_agree(cut: float) -> None:
    """Generating [a, c) at once plans the same minutes as [a, b) then [b, c)."""
    people = population(12, 5, seed=11)
    start, end = START + DAY, START + 4 * DAY
    middle = start + cut
    whole = _minutes(list(events_between(people, START, start, end, 11)))
    parts = list(events_between(people, START, start, middle, 11))
    parts += events_between(people, START, middle, end, 11)
    assert _minutes(parts) == whole


def test_category_mix_looks_like_real_use() -> None:
    """IDE and tunnel dominate, logins happen daily, terminals and apps are a minority."""
    people = population(100, 10, seed=5)
    events = list(events_between(people, START, START, START + 5 * DAY, 5))
    minutes: dict[int, int] = {}
    for (_org, category, _hour, _user), mask in _minutes(events).items():
        minutes[category] = minutes.get(category, 0) + mask.bit_count()
    assert minutes[Category.IDE] + minutes[Category.TUNNEL] > 0.7 * sum(minutes.values())
    assert 0 < minutes[Category.WEB_TERMINAL] < minutes[Category.IDE]
    assert 0 < minutes[Category.APP] < minutes[Category.IDE]
    assert minutes[Category.LOGIN] > 100


async def test_seeded_store_shows_active_users(database_url: str) -> None:
    """After seeding, the gauges show DAU <= WAU <= MAU, all non-zero, and dormant users."""
    config = Config(database_url=database_url)
    _people, _start, token = await seed_store(config, Plan(users=40, days=14, seed=2))
    assert token.startswith("um_")
    store = Store.open(config)
    try:
        async with store.read() as connection:
            readings = await read_gauges(connection, now=store.clock(), dormancy=config.dormancy)
        daily, weekly, monthly = (readings.active_users[("*", 0, w)] for w in ("1d", "7d", "30d"))
        assert 0 < daily <= weekly <= monthly <= 40
        assert readings.dormant_users["*"] >= 1
    finally:
        await store.close()


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path: Path) -> None:
    """The demo prints the view's URL and token first, serves MAU > 0; Ctrl-C stops it."""
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "exporter", "demo", "--users", "30", "--days", "10"]
    with subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        _drive_demo(process, port, tmp_path)


def _drive_demo(process: subprocess.Popen[str], port: int, tmp_path: Path) -> None:
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while "export TOKEN=" not in banner and time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if not line and process.poll() is not None:
                break
            banner += line
        token = re.search(r"export TOKEN=(\S+)", banner)
        assert token, banner + (process.stderr.read() if process.stderr else "")
        first, second = [line.strip() for line in banner.splitlines() if line.strip()][:2]
        assert first == f"Metrics view: http://127.0.0.1:{port}/"
        assert second == f"paste this site-admin token into it: {token.group(1)}"
        metrics = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as page:
                    metrics = page.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        monthly = re.search(
            r'usage_active_users\{category="any",organization="any",window="30d"\} (\S+)', metrics
        )
        assert monthly, metrics[:2000]
        assert float(monthly.group(1)) > 0
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/users", headers={"Session-Token": token.group(1)}
        )
        with urllib.request.urlopen(request, timeout=5) as page:
            assert page.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert not list(tmp_path.glob("usage-metrics-demo-*")), "the temporary store was left"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
