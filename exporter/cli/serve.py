"""``serve`` and ``migrate``."""

from __future__ import annotations

import argparse
import asyncio
import logging

from sqlalchemy.engine import make_url

from exporter import logs
from exporter.cli.common import CommandError, load_config, run_with_store
from exporter.config import Config
from exporter.errors import ApiError
from exporter.store import Store, migrate
from exporter.web import create_app
from exporter.web.server import serve_forever

log = logging.getLogger("exporter")
SHUTDOWN_GRACE_SECONDS = 30.0


def serve(args: argparse.Namespace) -> int:
    """Run the service until SIGINT or SIGTERM, then finish in-flight requests and stop."""
    config = load_config(args)
    logs.configure(config.log_level)
    if not args.no_migrate:
        try:
            asyncio.run(_migrate(config))
        except ApiError as error:
            raise CommandError(f"{error.message} ({error.detail})") from None
    log.info(
        "starting",
        extra={
            "listen": f"{config.listen_host}:{config.listen_port}",
            "store": _safe_url(config.database_url),
        },
    )
    asyncio.run(
        serve_forever(
            create_app(config, migrate=False),
            host=config.listen_host,
            port=config.listen_port,
            access_log_class=logs.AccessLogger,
            access_log=logging.getLogger("exporter.access"),
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
    )
    return 0


async def _migrate(config: Config) -> None:
    store = Store.open(config)
    try:
        await store.migrate()
    finally:
        await store.close()


def migrate_command(args: argparse.Namespace) -> int:
    """Bring the store's schema up to date."""

    async def work(store: Store) -> str | None:
        return await migrate.current_revision(store.engine)

    revision = run_with_store(args, work)
    print(f"store is at revision {revision}")
    return 0


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)
