"""What every command shares: configuration from the environment and flags, and the store."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from exporter import logs
from exporter.cli.parser import CONFIG_FLAGS
from exporter.config import Config, ConfigError
from exporter.errors import ApiError
from exporter.store import Store

_T = TypeVar("_T")


class CommandError(Exception):
    """A failure to report as one line on standard error, exit status 1."""


def load_config(args: argparse.Namespace) -> Config:
    """Configuration from ``USAGE_METRICS_*`` overridden by the flags given."""
    overrides = {name: getattr(args, name, None) for name in CONFIG_FLAGS}
    try:
        config = Config.from_env(os.environ, overrides)
    except ConfigError as error:
        print(f"usage-metrics: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(config.log_level if config.log_level != "info" else "warning")
    return config


def run_with_store(
    args: argparse.Namespace, work: Callable[[Store], Awaitable[_T]], *, migrate: bool = True
) -> _T:
    """Open the store, run ``work``, close the store.

    Commands that write migrate the store first (so that a first ``users create`` on a new
    SQLite file just works); read-only ones (``migrate=False``) never change it, and say so when
    it is not migrated.
    """
    config = load_config(args)

    async def main() -> _T:
        store = Store.open(config)
        try:
            if migrate:
                await store.migrate()
            elif not await store.is_ready():
                raise CommandError(
                    "the store is unreachable or not migrated; run `usage-metrics migrate` first"
                )
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except ApiError as error:
        raise CommandError(error.message + (f" ({error.detail})" if error.detail else "")) from None


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print rows as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
