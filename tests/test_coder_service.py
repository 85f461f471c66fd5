"""The Coder source in the service and on the command line, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from exporter.cli import main
from exporter.config import Config, normalize_database_url
from exporter.web import create_app
from exporter.web.keys import SOURCES
from tests.coder_support import coder_config, rules
from tests.coderdb import coder_database, fill, sqlalchemy_url
from tests.coderdb.generate import CoderData, generate
from tests.coderdb.oracle import Rules, active_users, counts, expected_minutes
from tests.coderdb.schema import NEWEST
from tests.metrics_helpers import active, refresh, scrape, value
from tests.processes import serve
from tests.support import T0, FakeClock, iso


async def test_serve_syncs_in_the_background_and_exports_the_source(
    aiohttp_client: AiohttpClient, database_url: str, coder: tuple[str, CoderData], clock: FakeClock
) -> None:
    """With a Coder URL the service syncs at start; /metrics shows the source and its numbers."""
    url, data = coder
    config = coder_config(database_url, url)
    client = await aiohttp_client(create_app(config, clock=clock))
    status = client.app[SOURCES][0].status
    deadline = time.monotonic() + 60
    while status.last_success is None:
        assert time.monotonic() < deadline, "the first pass did not finish"
        await asyncio.sleep(0.05)
    await refresh(client)
    samples = await scrape(client)
    assert value(samples, "usage_source_up", source="coder") == 1
    assert (
        value(samples, "usage_source_last_success_timestamp_seconds", source="coder")
        == T0.timestamp()
    )
    assert value(samples, "usage_source_errors_total", source="coder") == 0
    assert (
        value(samples, "usage_source_events_total", source="coder", table="workspace_app_stats")
        == status.events["workspace_app_stats"]
        > 0
    )
    expected = active_users(
        expected_minutes(data, rules(config)), now=T0.timestamp(), windows={"1d": 86400}
    )
    assert active(samples, "any", "any", "1d") == expected[(None, 0, "1d")] > 0


async def test_no_source_no_source_series(aiohttp_client: AiohttpClient, database_url: str) -> None:
    """Without a Coder URL no usage_source_* series is exported at all."""
    client = await aiohttp_client(create_app(Config(database_url=database_url)))
    samples = await scrape(client)
    assert not [name for name, _ in samples if name.startswith("usage_source_")]


def test_sync_once_summarizes_in_one_line(
    coder: tuple[str, CoderData], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sync coder --once`` exits 0 and says what it read on one line of standard error."""
    url, _ = coder
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code = main(
        [
            "sync",
            "coder",
            "--once",
            "--database-url",
            store,
            "--coder-database-url",
            sqlalchemy_url(url),
        ]
    )
    assert code == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("usage-metrics: coder sync: rows read: api_keys ")
    assert "directory changes" in err[0]


def test_sync_once_says_in_one_line_when_coder_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_admin_url: str
) -> None:
    """An unreachable Coder database: exit 1 and one line; no URL at all: exit 2."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    nowhere = "postgresql://usage@127.0.0.1:1/coder"
    assert (
        main(["sync", "coder", "--once", "--database-url", store, "--coder-database-url", nowhere])
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("usage-metrics: coder sync failed: Coder's database cannot be read: ")
    assert main(["sync", "coder", "--once", "--database-url", store]) == 2
    assert "USAGE_METRICS_CODER_DATABASE_URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        (
            "--coder-sync-interval",
            "0s",
            "USAGE_METRICS_CODER_SYNC_INTERVAL: '0s' is shorter than the minimum 1s",
        ),
        (
            "--coder-sync-interval",
            "1d",
            "USAGE_METRICS_CODER_SYNC_INTERVAL: '1d' is longer than 6h",
        ),
        ("--coder-lookback", "soon", "USAGE_METRICS_CODER_LOOKBACK: 'soon' is not a duration"),
        (
            "--coder-desktop-ide",
            "vim",
            "USAGE_METRICS_CODER_DESKTOP_IDE: 'vim' is not one of tunnel, ide",
        ),
        (
            "--coder-ide-apps",
            " , ",
            "USAGE_METRICS_CODER_IDE_APPS: ' , ' is not a comma-separated list",
        ),
        (
            "--coder-ide-apps",
            "code server",
            "USAGE_METRICS_CODER_IDE_APPS: 'code server' is not a comma-separated list",
        ),
        (
            "--coder-database-url",
            "mysql://coder",
            "USAGE_METRICS_CODER_DATABASE_URL: must be a postgresql:// URL",
        ),
    ],
)
def test_bad_coder_settings_stop_start_up_in_one_line(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each Coder setting refuses a bad value with one line naming it, exit status 2."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "coder", "--once", "--database-url", store, flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]
    assert not (tmp_path / "store.db").exists()


def test_sync_once_then_serve_shows_the_right_numbers(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    """As a new user: a filled Coder database, ``sync coder --once``, ``serve``: all agree."""
    with coder_database(postgres_admin_url, NEWEST) as url:
        now = time.time()
        data = generate(NEWEST, _utc(now))
        fill(url, data)
        store = normalize_database_url(f"sqlite:///{tmp_path / 'store.db'}").replace(
            "+aiosqlite", ""
        )
        environment = {
            **os.environ,
            "USAGE_METRICS_DATABASE_URL": store,
            "USAGE_METRICS_CODER_DATABASE_URL": sqlalchemy_url(url),
        }
        done = subprocess.run(
            [sys.executable, "-m", "exporter", "sync", "coder", "--once"],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    subprocess.run(
        [sys.executable, "-m", "exporter", "users", "create", "auditor", "--role", "site-auditor"],
        env={**os.environ, "USAGE_METRICS_DATABASE_URL": store},
        capture_output=True,
        text=True,
        check=True,
    )
    token = subprocess.run(
        [sys.executable, "-m", "exporter", "tokens", "create", "--user", "auditor"],
        env={**os.environ, "USAGE_METRICS_DATABASE_URL": store},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with serve(store) as (base, _process):
        metrics = _get(f"{base}/metrics")
        refreshed = float(
            next(
                line.split()[1]
                for line in metrics.splitlines()
                if line.startswith("usage_last_refresh_timestamp_seconds ")
            )
        )
        minutes = expected_minutes(data, Rules(now=refreshed, retention=400 * 86400.0))
        expected = active_users(
            minutes, now=refreshed, windows={"7d": 7 * 86400, "30d": 30 * 86400}
        )
        for window in ("7d", "30d"):
            line = f'usage_active_users{{category="any",organization="any",window="{window}"}}'
            assert (
                float(next(s.split()[-1] for s in metrics.splitlines() if s.startswith(line)))
                == expected[(None, 0, window)]
            )
        start, end = int(refreshed // 86400 - 20) * 86400, int(refreshed // 86400 + 1) * 86400
        request = urllib.request.Request(
            f"{base}/api/private/metrics/activity?start={iso(_utc(start))}&end={iso(_utc(end))}&interval=1+week",
            headers={"Session-Token": token},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        totals = {user: entry["total_count"] for user, entry in body["users"].items()}
        assert totals == counts(
            minutes, organization=None, category=0, first=start // 60, end=end // 60
        )


def _utc(epoch: float) -> Any:
    import datetime as dt  # noqa: PLC0415

    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
