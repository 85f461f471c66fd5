"""The Alembic migrations build exactly the tables that ``exporter/store/schema.py`` declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from exporter.config import Config, normalize_database_url
from exporter.store import Store, migrate
from exporter.store.schema import metadata

VIEWS = {"usage_activity_hourly", "usage_organizations"}


def _differences(connection: sa.Connection) -> list[Any]:
    def include(
        obj: object, name: str | None, kind: str, reflected: bool, _compare: object
    ) -> bool:
        return not (kind == "table" and name in VIEWS)

    # Alembic misreads SQLite's reflected DEFAULT '' as a change, so defaults are compared on
    # PostgreSQL only (the DDL both databases get is the same).
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": connection.dialect.name == "postgresql",
            "include_object": include,
        },
    )
    return list(compare_metadata(context, metadata))


async def test_migrations_match_the_declared_schema(store: Store) -> None:
    """``compare_metadata`` finds no difference between the migrated store and schema.py."""
    async with store.engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []
    assert await migrate.current_revision(store.engine) == migrate.head_revision()


async def test_reader_views_exist(store: Store) -> None:
    """Migration 0002 adds the two read-only views for SQL readers, and they can be queried."""
    async with store.engine.connect() as connection:
        views = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_view_names()))
        assert views == VIEWS
        rows = await connection.execute(sa.text("SELECT id, name FROM usage_organizations"))
        assert [tuple(row) for row in rows] == [("default", "default")]
        hourly = await connection.execute(sa.text("SELECT count(*) FROM usage_activity_hourly"))
        assert hourly.scalar_one() == 0


async def test_a_store_at_an_older_revision_is_brought_to_the_head(tmp_path: Path) -> None:
    """``upgrade`` skips the scripts only at the head: a store left at 0008 gets 0009."""
    store = Store.open(Config(database_url=normalize_database_url(f"sqlite:///{tmp_path}/s.db")))
    try:
        async with store.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.upgrade(migrate._alembic_config(sync), "0008")
            )
        assert await migrate.current_revision(store.engine) == "0008"
        await store.migrate()
        assert await migrate.current_revision(store.engine) == migrate.head_revision()
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await store.close()
