"""Showing a pass's progress in the service's log (the command line draws bars instead)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

LOG_EVERY_SECONDS = 10.0


class LogProgress:
    """Logs where a long pass is, at most every ten seconds; a short pass logs nothing."""

    def __init__(
        self,
        logger: logging.Logger,
        source: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._source = source
        self._monotonic = monotonic
        self._name = ""
        self._total: int | None = None
        self._done = 0
        self._last = monotonic()

    def phase(self, name: str, total: int | None) -> None:
        """A new phase begins."""
        self._name, self._total, self._done = name, total, 0

    def advance(self, rows: int) -> None:
        """Count rows; log when ten seconds have passed since the last line."""
        self._done += rows
        now = self._monotonic()
        if now - self._last >= LOG_EVERY_SECONDS:
            self._last = now
            self._log.info(
                f"{self._source} sync in progress",
                extra={
                    "source": self._source,
                    "phase": self._name,
                    "rows_done": self._done,
                    "rows_total": self._total,
                },
            )
