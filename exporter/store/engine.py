"""Async engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from exporter.store.sql import python_popcount

CONNECT_TIMEOUT_SECONDS = 5
SQLITE_BUSY_TIMEOUT_MILLISECONDS = 30_000


def is_sqlite(engine: AsyncEngine) -> bool:
    """True for the embedded store."""
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, timeout: float = 60.0) -> AsyncEngine:
    """An engine whose every store call is bounded in time (connect, pool wait, statements).

    The server enforces ``timeout`` on statements; ``Store`` enforces it on the client side as
    well, since a server that hangs (frozen, not down) enforces nothing.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MILLISECONDS / 1000}
        )
        sa.event.listen(engine.sync_engine, "connect", _prepare_sqlite_connection)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=min(timeout, CONNECT_TIMEOUT_SECONDS * 2),
        connect_args={
            "connect_timeout": max(1, min(round(timeout), CONNECT_TIMEOUT_SECONDS)),
            # JIT compiling pays off for long analytical scans; for this store's statements,
            # whose row estimates run high, it cost more than the whole query (a 30-day report
            # at 10,000 users: 1.3 s of compiling for 0.2 s of work).
            "options": f"-c statement_timeout={round(timeout * 1000)} -c jit=off",
        },
    )


def _prepare_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    """WAL so readers never wait for the writer, a busy timeout, and our SQL functions."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MILLISECONDS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    dbapi_connection.create_function("usage_popcount", 1, python_popcount, deterministic=True)
