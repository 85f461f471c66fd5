"""Running the real service, and a bare aiohttp server, as separate processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp

from tests.processes import free_port

BARE_SERVER = """
import sys
from aiohttp import web
body = open(sys.argv[1], "rb").read()
async def handler(request):
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
app = web.Application()
app.router.add_get("/metrics", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


class HealthWaits:
    """The longest wait, in seconds, for ``/healthz`` while it was polled."""

    def __init__(self) -> None:
        self.worst = 0.0


@contextlib.asynccontextmanager
async def healthz_polled(session: aiohttp.ClientSession, base: str) -> AsyncIterator[HealthWaits]:
    """Poll ``base``'s ``/healthz`` every 50 ms for the duration of the block, timing each answer.

    The poll in flight when the block ends is awaited, so its wait counts too.
    """
    waits = HealthWaits()
    done = False

    async def poll() -> None:
        while not done:
            began = time.perf_counter()
            async with session.get(f"{base}/healthz") as response:
                await response.read()
            waits.worst = max(waits.worst, time.perf_counter() - began)
            await asyncio.sleep(0.05)

    poller = asyncio.create_task(poll())
    try:
        yield waits
    finally:
        done = True
        await poller


def wait_until_up(url: str, timeout: float = 120) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def service(database_url: str, *, refresh_interval: str = "2s") -> Iterator[tuple[str, int]]:
    """``usage-metrics serve`` on a free port; yields its base URL and pid."""
    port = free_port()
    env = {**os.environ, "USAGE_METRICS_DATABASE_URL": database_url}
    command = [
        sys.executable,
        "-m",
        "exporter",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--refresh-interval",
        refresh_interval,
        "--log-level",
        "warning",
    ]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) as process:
        try:
            wait_until_up(f"http://127.0.0.1:{port}/readyz")
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


@contextlib.contextmanager
def bare_server(body_file: Path) -> Iterator[str]:
    """A bare aiohttp handler serving the bytes in ``body_file`` at /metrics."""
    port = free_port()
    command = [sys.executable, "-c", BARE_SERVER, str(body_file), str(port)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL) as process:
        try:
            wait_until_up(f"http://127.0.0.1:{port}/metrics")
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)
