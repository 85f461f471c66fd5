"""Running a source's passes: one at a time across every process sharing the store.

A pass holds the store-wide lock ``source-<name>`` (``exporter.store.locks``). In the service a
tick that finds it taken skips (another replica is syncing) and only reads how the last pass
went, so every replica exports the same ``usage_source_up``; ``sync --once`` waits for it
instead. A failed pass is logged as one line, recorded in the store, and leaves the positions
where they were: the next tick tries again from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from exporter.background import in_background
from exporter.errors import ApiError
from exporter.sources.base import NoProgress, PassSummary, Progress, Source, SourceError
from exporter.sources.progress import LogProgress
from exporter.sources.status import SourceStatus
from exporter.store import Store, locks, sources

log = logging.getLogger("exporter.sources")


class SyncScheduler:
    """Runs ``source`` now and then every ``interval`` seconds, or once on demand."""

    def __init__(
        self,
        source: Source,
        store: Store,
        *,
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.store = store
        self.interval = interval
        self.status = SourceStatus(source.name)
        self._monotonic = monotonic

    async def run_pass(self, *, wait: bool, progress: Progress | None = None) -> PassSummary | None:
        """One pass; ``None`` when another process holds the lock and ``wait`` is false.

        Raises ``SourceError`` (one line) when the pass fails.
        """
        name = self.source.name
        try:
            async with locks.exclusive(self.store.engine, f"source-{name}", wait=wait) as held:
                if not held:
                    await self._follow_store()
                    return None
                started = self._monotonic()
                summary = await self.source.sync(progress or NoProgress())
        except Exception as error:
            message = _one_line(error)
            self.status.up = False
            self.status.errors += 1
            log.warning(
                f"{name} sync pass failed",
                extra={"source": name, "error": message},
                exc_info=not isinstance(error, SourceError | ApiError),
            )
            await self._record_failure()
            raise SourceError(message) from error
        self.status.up = True
        self.status.last_success = self.store.clock()
        self.status.events.update(summary.rows)
        log.info(
            f"{name} sync pass",
            extra={
                "source": name,
                "first_pass": summary.first,
                "rows": dict(summary.rows),
                "skipped": dict(summary.skipped),
                "new_minutes": summary.new_minutes,
                "directory_changes": summary.directory_changes,
                "duration_s": round(self._monotonic() - started, 3),
            },
        )
        return summary

    async def run(self) -> None:
        """A pass now and then every interval, until cancelled; failures wait for the next.

        A long pass (the first) logs its progress every ten seconds.
        """
        while True:
            with contextlib.suppress(SourceError):  # logged and recorded by run_pass
                await self.run_pass(wait=False, progress=LogProgress(log, self.source.name))
            await asyncio.sleep(self.interval)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Sync in the background for the duration of the block."""
        async with in_background(self.run(), name=f"usage-metrics-sync-{self.source.name}"):
            yield

    async def _follow_store(self) -> None:
        """Take up how the last pass went, whichever process ran it."""
        async with self.store.read() as connection:
            record = await sources.read_pass(connection, self.source.name)
        if record is not None:
            self.status.up = record.ok
            if record.last_success_at is not None:
                self.status.last_success = float(record.last_success_at)

    async def _record_failure(self) -> None:
        try:
            async with self.store.write() as connection:
                await sources.record_failure(connection, self.source.name, now=self.store.clock())
        except Exception:  # the store itself may be what failed; the log says so already
            log.debug("could not record the failed pass", exc_info=True)


def _one_line(error: BaseException) -> str:
    """The first line of an error's own words (an ``ApiError``'s message and detail)."""
    if isinstance(error, ApiError):
        text = error.message + (f" ({error.detail})" if error.detail else "")
    else:
        text = str(error) or type(error).__name__
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
