"""``sync coder``: pull activity and the directory from a Coder deployment's database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Never

from tqdm import tqdm

from exporter.cli.common import CommandError, load_config
from exporter.errors import ApiError
from exporter.sources import PassSummary, SourceError, SyncScheduler
from exporter.sources.coder import CoderSource
from exporter.store import Store

_SHOW_AFTER_SECONDS = 1.0


class BarProgress:
    """A progress bar per phase on standard error, shown only when a phase takes a while."""

    def __init__(self) -> None:
        self._bar: tqdm[Never] | None = None

    def phase(self, name: str, total: int | None) -> None:
        """Close the last bar and start one for ``name``."""
        self.close()
        self._bar = tqdm(
            total=total,
            desc=f"coder {name}",
            unit="row",
            file=sys.stderr,
            delay=_SHOW_AFTER_SECONDS,
        )

    def advance(self, rows: int) -> None:
        """Move the bar."""
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        """Finish the current bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def sync_coder(args: argparse.Namespace) -> int:
    """One pass (``--once``) or passes every sync interval until interrupted."""
    config = load_config(args)
    if config.coder_database_url is None:
        print(
            "usage-metrics: error: set USAGE_METRICS_CODER_DATABASE_URL or --coder-database-url "
            "(see --help)",
            file=sys.stderr,
        )
        return 2
    if config.log_level == "info":  # each pass gets its own line here, not a JSON log line too
        logging.getLogger("exporter.sources").setLevel(logging.ERROR)

    async def main() -> None:
        store = Store.open(config)
        source = CoderSource(store, config)
        try:
            await store.migrate()
            scheduler = SyncScheduler(source, store, interval=config.coder_sync_interval)
            while True:
                progress = BarProgress()
                try:
                    summary = await scheduler.run_pass(wait=True, progress=progress)
                except SourceError as error:
                    if args.once:
                        raise CommandError(f"coder sync failed: {error}") from None
                    print(f"usage-metrics: coder sync failed: {error}", file=sys.stderr)
                else:
                    _report(summary)
                finally:
                    progress.close()
                if args.once:
                    return
                await asyncio.sleep(config.coder_sync_interval)
        finally:
            await source.close()
            await store.close()

    try:
        asyncio.run(main())
    except ApiError as error:
        raise CommandError(error.message + (f" ({error.detail})" if error.detail else "")) from None
    return 0


def _report(summary: PassSummary | None) -> None:
    if summary is not None:
        print(f"usage-metrics: coder sync: {summary.line()}", file=sys.stderr)
