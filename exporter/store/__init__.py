"""The activity store: one ``Store`` over an async SQLAlchemy engine.

``Store`` owns the engine, the clock and, on SQLite, a lock that serializes writers (SQLite
has one writer at a time; waiting in Python is kinder than "database is locked"). Every
store call maps an unreachable database, and on PostgreSQL tables of another version's
shape, to ``StoreUnavailable`` (HTTP 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exporter.config import Config
from exporter.errors import StoreUnavailable
from exporter.events import Event, Limits
from exporter.store import migrate, placeholders
from exporter.store.engine import create_engine, is_sqlite
from exporter.store.ingest import IngestResult, store_events

log = logging.getLogger("exporter.store")

Clock = Callable[[], float]
_UNREACHABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    OSError,
)
_INGEST_ATTEMPTS = 5


class Store:
    """Transactions over the activity store, with the service's clock and limits."""

    def __init__(self, engine: AsyncEngine, config: Config, *, clock: Clock = time.time) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self._write_lock = asyncio.Lock() if is_sqlite(engine) else None

    @classmethod
    def open(cls, config: Config, *, clock: Clock = time.time) -> Store:
        """A store for ``config.database_url`` (connections are made lazily)."""
        return cls(create_engine(config.database_url), config, clock=clock)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading."""
        try:
            async with self.engine.connect() as connection:
                yield connection
        except _UNREACHABLE as error:
            raise _unavailable(error) from error
        except sqlalchemy.exc.ProgrammingError as error:
            if _is_schema_mismatch(error):
                raise _other_schema(error) from error
            raise

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            try:
                async with self.engine.begin() as connection:
                    yield connection
            except _UNREACHABLE as error:
                if _is_transient(error):
                    raise
                raise _unavailable(error) from error
            except sqlalchemy.exc.ProgrammingError as error:
                if _is_schema_mismatch(error):
                    raise _other_schema(error) from error
                raise

    async def migrate(self) -> None:
        """Bring the schema up to date and make sure the default organization exists."""
        try:
            await migrate.upgrade(self.engine)
        except _UNREACHABLE as error:
            raise _unavailable(error) from error
        await self.ensure_default_organization()

    async def is_ready(self) -> bool:
        """The store answers and is at the newest schema revision."""
        try:
            return await migrate.current_revision(self.engine) == migrate.head_revision()
        except (*_UNREACHABLE, sqlalchemy.exc.DBAPIError):
            return False

    async def ensure_default_organization(self) -> None:
        """Create the default organization as a placeholder when it is missing."""
        async with self.write() as connection:
            await placeholders.ensure_organizations(
                connection,
                {self.config.default_organization},
                now=self.clock(),
                max_organizations=self.config.max_organizations + 1,
            )

    def ingest_limits(self) -> Limits:
        """What an event may be right now: the clock, the retention, the default organization."""
        return Limits(
            now=self.clock(),
            retention_seconds=self.config.retention,
            default_organization=self.config.default_organization,
        )

    async def ingest(self, events: list[Event]) -> IngestResult:
        """Store a validated batch atomically.

        A batch that lost a race (two writers creating the same placeholder, a deadlock or a
        serialization failure) was rolled back whole, so it is simply tried again.
        """
        for attempt in range(_INGEST_ATTEMPTS):
            try:
                async with self.write() as connection:
                    return await store_events(
                        connection,
                        events,
                        now=self.clock(),
                        max_organizations=self.config.max_organizations,
                    )
            except sqlalchemy.exc.DBAPIError as error:
                if attempt == _INGEST_ATTEMPTS - 1:
                    if _is_transient(error):
                        raise _unavailable(error) from error
                    raise
                if not (_is_transient(error) or isinstance(error, sqlalchemy.exc.IntegrityError)):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def _is_transient(error: BaseException) -> bool:
    """A PostgreSQL error after which the same transaction may simply be tried again."""
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) in _TRANSIENT_SQLSTATES


_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})  # undefined table, undefined column


def _is_schema_mismatch(error: BaseException) -> bool:
    """A PostgreSQL error saying the store's tables are not the shape this code expects.

    Seen when a replica of one version runs against a store that another version migrated.
    (SQLite reports the same as an ``OperationalError``, which already answers 503.)
    """
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) in _SCHEMA_SQLSTATES


def _other_schema(error: sqlalchemy.exc.DBAPIError) -> StoreUnavailable:
    """A 503 for the client; the database's own words go to the log, for the operator."""
    log.error("store schema mismatch: %s", str(error.orig).strip())
    return StoreUnavailable(
        "The activity store's schema is not the one this version of the service expects; "
        "nothing was changed. Run every replica at one version, with the store migrated by it.",
        detail=type(error).__name__,
    )


def _unavailable(error: BaseException) -> StoreUnavailable:
    return StoreUnavailable(
        "The activity store is unreachable; nothing was stored.",
        detail=type(error).__name__,
    )
