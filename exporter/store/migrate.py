"""Alembic migrations, run programmatically (``serve`` and ``migrate`` call ``upgrade``)."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK_KEY = 0x75736167  # "usag": serializes replicas migrating one PostgreSQL


def _alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this code knows (read from the scripts once per process)."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""

    def run(connection: sa.Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
            # A migration that copies a table may run for minutes on a large store; the
            # service's statement timeout is for its requests.
            connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
        # At the head already (every start but the first): no need to load the scripts.
        if MigrationContext.configure(connection).get_current_revision() != head_revision():
            command.upgrade(_alembic_config(connection), "head")

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the store is at, ``None`` when it was never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
