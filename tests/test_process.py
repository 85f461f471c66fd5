"""The service as a process: graceful SIGTERM, logs without secrets, SQLite under load."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from exporter.config import Config, normalize_database_url
from exporter.store import Store
from tests.processes import serve
from tests.support import T0, iso, make_token


def _token(url: str) -> str:
    async def make() -> str:
        store = Store.open(Config(database_url=url))
        try:
            await store.migrate()
            return await make_token(store, "admin", roles=["site-admin"])
        finally:
            await store.close()

    return asyncio.run(make())


def _sessions(count: int) -> bytes:
    now = time.time()
    lines = [
        json.dumps(
            {
                "user_id": f"u{i % 500}",
                "organization_id": f"org{i % 7}",
                "category": "ide",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 3600 - i)),
                "end_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600 - i)),
            }
        )
        for i in range(count)
    ]
    return "\n".join(lines).encode()


def test_sigterm_finishes_the_request_in_flight(tmp_path: Path) -> None:
    """SIGTERM mid-batch: the batch is answered and stored whole, then the process exits 0."""
    url = normalize_database_url(f"sqlite:///{tmp_path / 'store.db'}")
    token = _token(url)
    body = _sessions(10_000)
    outcome: dict[str, Any] = {}
    log_file = tmp_path / "serve.log"
    with (
        log_file.open("wb") as log,
        serve(url, "--log-level", "info", stderr=log) as (
            base,
            process,
        ),
    ):

        def post() -> None:
            request = urllib.request.Request(
                f"{base}/api/v1/activity",
                data=body,
                headers={"Session-Token": token, "Content-Type": "application/x-ndjson"},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    outcome["status"] = response.status
                    outcome["body"] = json.load(response)
            except (urllib.error.URLError, ConnectionError) as error:
                outcome["error"] = error

        sender = threading.Thread(target=post)
        sender.start()
        time.sleep(0.5)  # the batch is being stored now (it takes a few seconds on SQLite)
        process.send_signal(signal.SIGTERM)
        sender.join(timeout=60)
        assert process.wait(timeout=60) == 0
    assert outcome.get("status") == 200, (outcome, log_file.read_text()[-2000:])
    with sqlite3.connect(tmp_path / "store.db") as database:
        rows = database.execute(
            "SELECT mask_ide, mask_login, mask_app, mask_tunnel, mask_web_terminal "
            "FROM activity WHERE organization_id != '*'"
        ).fetchall()
    minutes = sum(mask.bit_count() for row in rows for mask in row)
    assert minutes == outcome["body"]["minutes"]


def test_logs_never_contain_tokens(tmp_path: Path) -> None:
    """Debug logs of authenticated, refused and failing requests hold no token."""
    url = normalize_database_url(f"sqlite:///{tmp_path / 'store.db'}")
    token = _token(url)
    forged = token[:-4] + "AAAA"
    log_file = tmp_path / "serve.log"
    with (
        log_file.open("wb") as log,
        serve(url, "--log-level", "debug", stderr=log) as (
            base,
            process,
        ),
    ):
        for header, value in (
            ("Session-Token", token),
            ("Coder-Session-Token", forged),
            ("Authorization", f"Bearer {token}"),
        ):
            for path in ("/api/v1/users", "/api/v1/users?token=" + token, "/nope"):
                request = urllib.request.Request(f"{base}{path}", headers={header: value})
                try:
                    urllib.request.urlopen(request, timeout=5).close()
                except urllib.error.HTTPError as error:
                    error.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    logs = log_file.read_text()
    assert '"path": "/api/v1/users"' in logs
    secret = token.split("_", 2)[2]  # um_<hex id>_<secret>, and the secret may hold a "_"
    assert secret not in logs
    assert forged.split("_", 2)[2] not in logs


async def test_sqlite_takes_concurrent_writers(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    """Twenty concurrent batches into SQLite all succeed: no "database is locked"."""
    from exporter.web import create_app  # noqa: PLC0415
    from exporter.web.keys import STORE  # noqa: PLC0415

    url = normalize_database_url(f"sqlite:///{tmp_path / 'store.db'}")
    client: TestClient[Any, Any] = await aiohttp_client(create_app(Config(database_url=url)))
    headers = {"Session-Token": await make_token(client.app[STORE], "admin", roles=["site-admin"])}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    async def post(index: int) -> int:
        events = [
            {
                "user_id": f"u{index}-{i}",
                "category": "ide",
                "time": iso(now - dt.timedelta(minutes=i)),
            }
            for i in range(200)
        ]
        response = await client.post("/api/v1/activity", json={"events": events}, headers=headers)
        return response.status

    assert await asyncio.gather(*(post(i) for i in range(20))) == [200] * 20
    assert now > T0  # the batches above are inside the retention
