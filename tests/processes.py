"""Running ``usage-metrics serve`` as a real process for tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, timeout: float = 60) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout:.0f} s")


@contextlib.contextmanager
def serve(
    database_url: str, *args: str, stderr: Any = subprocess.DEVNULL
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A service process on a free port; yields its base URL and the process.

    ``stderr`` takes what ``subprocess.Popen`` does; give a file, not a pipe, for chatty logs.
    """
    port = free_port()
    command = [sys.executable, "-m", "exporter", "serve", "--listen", f"127.0.0.1:{port}", *args]
    environment = {**os.environ, "USAGE_METRICS_DATABASE_URL": database_url}
    with subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=stderr
    ) as process:
        try:
            wait_for(f"http://127.0.0.1:{port}/readyz")
            yield f"http://127.0.0.1:{port}", process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
