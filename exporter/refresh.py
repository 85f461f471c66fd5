"""The snapshot that /metrics serves, and the background task that refreshes it.

A refresh reads the store (``exporter.store.gauges``), builds a new immutable ``Exposition``
and swaps it in with one assignment, so a scrape sees either the old or the new one, never a
half-done one. Refreshes never overlap (single flight). A failed refresh keeps the
previous snapshot and is only visible as ``usage_up 0`` and ``usage_refresh_errors_total``;
so is a store that was read but refuses writes (``Store.write_fault``), with the new values.
Every so often the same task prunes rollup hours older than the retention, and once a UTC day
has ended it closes it: writes its totals into the day blocks (``exporter.store.day_blocks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from exporter.background import in_background
from exporter.errors import StoreUnavailable
from exporter.metrics_render import Exposition
from exporter.model import DAY
from exporter.process_state import RefreshStatus
from exporter.store import Store
from exporter.store.day_blocks import close_days
from exporter.store.gauges import GaugeReadings, prune

log = logging.getLogger("exporter.refresh")
PRUNE_EVERY_SECONDS = 600.0


class Refresher:
    """Recomputes the snapshot every ``interval`` seconds in a background task."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.interval = interval
        self.status = RefreshStatus()
        self.exposition = Exposition(None)
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._last_prune: float | None = None
        self._first_open_day: int | None = None

    async def refresh(self) -> bool:
        """Refresh now unless a refresh is running already; ``True`` when this one succeeded."""
        if self._lock.locked():
            return False
        async with self._lock:
            started = self._monotonic()
            now = self.store.clock()
            try:
                readings = await self.store.within_deadline(self._read(now))
                exposition = Exposition(readings)
                fault = await self.store.within_deadline(self.store.write_fault())
            except Exception as error:
                self.status.up = False
                self.status.errors += 1
                _failed("refresh", error)
                return False
            self.exposition = exposition
            if fault is not None:  # read, but the store takes no activity: not up
                self.status.up = False
                self.status.errors += 1
                log.warning("refresh: the store refuses writes: %s", fault)
                return False
            self.status.up = True
            self.status.last_success = self.store.clock()
            self.status.last_duration = self._monotonic() - started
            return True

    async def _read(self, now: float) -> GaugeReadings:
        async with self.store.read() as connection:
            return await self.store.read_gauges(connection, now=now)

    async def prune_if_due(self) -> None:
        """Delete rollup hours older than the retention, at most every ten minutes."""
        now = self._monotonic()
        if self._last_prune is not None and now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        try:
            async with self.store.write() as connection:
                deleted = await prune(
                    connection, now=self.store.clock(), retention=self.store.config.retention
                )
            if deleted:
                log.info("pruned activity older than the retention", extra={"rows": deleted})
        except Exception as error:
            _failed("pruning", error)

    async def close_days_if_due(self) -> None:
        """Close the UTC days that have ended; a comparison when there are none (most times)."""
        today = int(self.store.clock() // DAY)
        if self._first_open_day is not None and self._first_open_day >= today:
            return
        try:
            async with self.store.write() as connection:
                first_open_day = await close_days(connection, before=today)
        except Exception as error:
            _failed("closing the past days", error)
            return
        if self._first_open_day is not None and first_open_day > self._first_open_day:
            log.info("closed the past days", extra={"first_open_day": first_open_day})
        self._first_open_day = first_open_day

    async def run(self) -> None:
        """Every interval, refresh, close ended days and (now and then) prune, until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()
            await self.close_days_if_due()
            await self.prune_if_due()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run in the background for the duration of the block."""
        async with in_background(self.run(), name="usage-metrics-refresher"):
            yield


def _failed(what: str, error: Exception) -> None:
    """Log a failed step: one line when the store was unavailable (it logged why), else a trace."""
    if isinstance(error, StoreUnavailable):
        log.warning("%s failed: the store is unavailable; will try again", what)
    else:
        log.warning("%s failed; will try again", what, exc_info=True)
