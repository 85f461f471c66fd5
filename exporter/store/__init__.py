"""The activity store: one ``Store`` over an async SQLAlchemy engine.

``Store`` owns the engine, the clock and, on SQLite, a lock that serializes writers (SQLite
has one writer at a time; waiting in Python is kinder than "database is locked"). Every
store call maps an unreachable database, and on PostgreSQL tables of another version's
shape, to ``StoreUnavailable`` (HTTP 503), and logs the cause.

On PostgreSQL every connection's use (pool wait, connect, statements, commit) has a
client-side deadline, ``config.store_timeout``: a server that hangs (stopped, not down)
answers nothing, so neither its statement timeout nor a TCP error would ever come. The
calls that decide readiness, ``usage_up`` and a request's fate (``is_ready``, ``ingest``,
``within_deadline``) run in a task of their own and answer at the deadline; that task then
winds down in the background (psycopg spends up to 10 s trying to cancel the query on a
frozen server). Other blocks (``read``, ``write``) are cancelled at the deadline and so end
within it plus that grace. SQLite waits at most its busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exporter.config import Config
from exporter.errors import StoreUnavailable
from exporter.events import Event, Limits
from exporter.memory import give_back
from exporter.store import copied, gauges, listing, migrate, placeholders, write_faults
from exporter.store.directory import DirectoryWrites
from exporter.store.engine import create_engine, is_sqlite
from exporter.store.gauges import GaugeReadings
from exporter.store.ingest import IngestResult, Minutes, rollup, store_minutes

log = logging.getLogger("exporter.store")

Clock = Callable[[], float]
_T = TypeVar("_T")
_UNREACHABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    OSError,
)
_INGEST_ATTEMPTS = 5
LARGE_BATCH_MINUTES = 1_000_000
"""Batches covering more minutes than this are stored one at a time (see ``ingest``)."""
READY_DEADLINE_SECONDS = 5.0
CLOSE_GRACE_SECONDS = 5.0
"""``close`` waits this long for work abandoned at its deadline to end, then cancels it."""


class Store:
    """Transactions over the activity store, with the service's clock and limits."""

    def __init__(self, engine: AsyncEngine, config: Config, *, clock: Clock = time.time) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self._write_lock = asyncio.Lock() if is_sqlite(engine) else None
        self._large_batches = asyncio.Semaphore(1)
        self._write_fault: str | None = None
        self._abandoned: set[asyncio.Future[Any]] = set()

    @classmethod
    def open(cls, config: Config, *, clock: Clock = time.time) -> Store:
        """A store for ``config.database_url`` (connections are made lazily)."""
        return cls(
            create_engine(config.database_url, timeout=config.store_timeout), config, clock=clock
        )

    async def within_deadline(self, work: Awaitable[_T]) -> _T:
        """``await work`` on PostgreSQL for at most ``store_timeout``, else ``StoreUnavailable``.

        ``work`` runs in a task of its own so that the caller is answered at the deadline even
        while the driver is still giving up on a hung server.
        """
        if self._write_lock is not None:  # SQLite: bounded by its busy timeout
            return await work
        task = asyncio.ensure_future(work)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.config.store_timeout)
        except TimeoutError as error:
            self._abandon(task)
            raise _unavailable(
                error, f"no answer within the deadline of {self.config.store_timeout:g} s"
            ) from error
        except asyncio.CancelledError:  # the caller went away (a shutdown): not the work
            self._abandon(task)
            raise

    @contextlib.asynccontextmanager
    async def _bounded(self, opened: Any) -> AsyncIterator[AsyncConnection]:
        """``opened`` (``engine.connect()`` or ``begin()``) within the store's deadline."""
        if self._write_lock is not None:  # SQLite: bounded by its busy timeout
            async with opened as unbounded:
                yield unbounded
            return
        connection: AsyncConnection | None = None
        try:
            async with asyncio.timeout(self.config.store_timeout) as scope:
                try:
                    async with opened as connection:
                        yield connection
                except BaseException:
                    if scope.expired() and connection is not None:
                        await connection.invalidate()  # discard it: a rollback would hang
                    raise
        except TimeoutError as error:
            raise _unavailable(
                error, f"no answer within the deadline of {self.config.store_timeout:g} s"
            ) from error

    def _abandon(self, task: asyncio.Future[Any]) -> None:
        """Let ``task``, whose caller has gone (answered at the deadline, or cancelled), end alone.

        ``close`` ends what is still running.
        """
        task.add_done_callback(_drop_outcome)
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    async def close(self) -> None:
        """End the work abandoned at its deadline, then close every pooled connection.

        That work is waited for at most ``CLOSE_GRACE_SECONDS`` and then cancelled, and waited
        for at most as long again: a shutdown never waits on a store that does not answer.
        """
        if self._abandoned:
            _, pending = await asyncio.wait(set(self._abandoned), timeout=CLOSE_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                _, stuck = await asyncio.wait(pending, timeout=CLOSE_GRACE_SECONDS)
                if stuck:
                    log.warning("closing with %d store calls that did not end", len(stuck))
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading."""
        with _service_errors(retry_transient=False):
            async with self._bounded(self.engine.connect()) as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction: committed when the block ends, rolled back when it raises.

        A store that refuses the write (read-only, full) is ``StoreUnavailable``, and
        remembered as such until a write commits (``write_fault``).
        """
        async with contextlib.AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            try:
                with _service_errors(retry_transient=True):
                    async with self._bounded(self.engine.begin()) as connection:
                        yield connection
            except Exception as error:
                refused = write_faults.refused_write(error)
                if refused is None:
                    raise
                if self._write_fault is None:
                    log.warning("the store refuses writes: %s", _cause(refused))
                self._write_fault = _cause(refused)
                raise StoreUnavailable(
                    "The activity store refuses writes (read-only or full); nothing was stored."
                ) from error
            if self._write_fault is not None:
                log.warning("the store takes writes again")
                self._write_fault = None

    async def write_fault(self) -> str | None:
        """Why writes fail, after the last write failed for want of a writable store.

        The store is probed again (``write_faults.probe``) unless a write is under way now,
        whose outcome will tell; ``None`` once one commits.
        """
        if self._write_fault is None:
            return None
        if self._write_lock is None or not self._write_lock.locked():
            with contextlib.suppress(StoreUnavailable):
                async with self.write() as connection:
                    await write_faults.probe(connection)
        return self._write_fault

    async def migrate(self) -> None:
        """Bring the schema up to date and make sure the default organization exists."""
        try:
            await migrate.upgrade(self.engine)
        except _UNREACHABLE as error:
            raise _unavailable(error) from error
        await self.ensure_default_organization()

    async def is_ready(self) -> bool:
        """The store answers, within the deadline, and is at the newest schema revision."""
        return await self.unready_reason() is None

    async def unready_reason(self) -> str | None:
        """Why the store is not ready (unreachable, too slow, not migrated, refusing writes).

        ``None`` when it is ready.
        """
        task = asyncio.ensure_future(migrate.current_revision(self.engine))
        deadline = min(self.config.store_timeout, READY_DEADLINE_SECONDS)
        try:
            revision = await asyncio.wait_for(asyncio.shield(task), deadline)
        except TimeoutError:
            self._abandon(task)
            return f"no answer within {deadline:g} s"
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        except (*_UNREACHABLE, sqlalchemy.exc.DBAPIError) as error:
            return _cause(error)
        if revision != migrate.head_revision():
            return f"at schema revision {revision}, not {migrate.head_revision()}"
        try:
            fault = await asyncio.wait_for(self.write_fault(), deadline)
        except TimeoutError:
            return f"no answer to a write within {deadline:g} s"
        return None if fault is None else f"writes fail: {fault}"

    async def ensure_default_organization(self) -> None:
        """Create the default organization as a placeholder when it is missing."""
        async with self.write() as connection:
            await placeholders.ensure_organizations(
                connection,
                {self.config.default_organization},
                now=self.clock(),
                max_organizations=self.config.max_organizations + 1,
            )

    def directory(
        self, connection: AsyncConnection, *, now: float | None = None
    ) -> DirectoryWrites:
        """Directory writes in ``connection``'s transaction, under this store's limits.

        They happen at ``now``, by default the store's clock.
        """
        moment = self.clock() if now is None else now
        return DirectoryWrites(connection, moment, self.config.max_organizations)

    async def list_users(
        self,
        connection: AsyncConnection,
        *,
        organization_ids: Collection[str] | None = None,
        dormant_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Live users as the API lists them (``listing.list_users``).

        Dormant by this store's dormancy, at its clock.
        """
        return await listing.list_users(
            connection,
            now=self.clock(),
            dormancy=self.config.dormancy,
            organization_ids=organization_ids,
            dormant_only=dormant_only,
        )

    async def read_gauges(self, connection: AsyncConnection, *, now: float) -> GaugeReadings:
        """Every gauge's reading at ``now`` (``gauges.read_gauges``), by this store's dormancy."""
        return await gauges.read_gauges(connection, now=now, dormancy=self.config.dormancy)

    def ingest_limits(self) -> Limits:
        """What an event may be right now: the clock, the retention, the default organization."""
        return Limits(
            now=self.clock(),
            retention_seconds=self.config.retention,
            default_organization=self.config.default_organization,
        )

    async def ingest(self, events: list[Event]) -> IngestResult:
        """Store a validated batch atomically, within the deadline (``within_deadline``).

        The events become active minutes (``rollup``), stored as ``ingest_minutes`` stores them.
        A batch covering more than ``LARGE_BATCH_MINUTES`` holds hundreds of megabytes while it
        is stored: such batches go one at a time, so memory stays bounded however many arrive
        at once, and is handed back afterwards.
        """
        if batch_minutes(events) <= LARGE_BATCH_MINUTES:
            return await self._ingest(events)
        await self._large_batches.acquire()
        return await self._ingest(events, turn=self._large_batches)

    async def _ingest(
        self, events: list[Event], *, turn: asyncio.Semaphore | None = None
    ) -> IngestResult:
        """Roll up and store ``events``; then release ``turn``, if given.

        ``turn`` is released when the store's work has ended, not when the caller was answered
        at the deadline (the work may still be winding down, holding its memory).
        """
        work: asyncio.Future[IngestResult] | None = None
        try:
            minutes = await asyncio.to_thread(rollup, events)  # CPU-bound: off the event loop
            work = asyncio.ensure_future(self._store(minutes, accepted=len(events)))
            return await self.within_deadline(work)
        finally:
            if turn is not None:
                if work is None or work.done():
                    _end_turn(turn)
                else:
                    work.add_done_callback(lambda _work: _end_turn(turn))

    async def ingest_minutes(self, minutes: Minutes) -> IngestResult:
        """Store active minutes atomically, within the deadline; ``accepted`` counts the masks.

        For sources that read activity already as minute masks per hour (the Coder source):
        the same transaction as ``ingest``, without turning masks into events and back.
        """
        return await self.within_deadline(self._store(minutes, accepted=len(minutes)))

    async def ingest_copied(self, rows: Sequence[str]) -> IngestResult:
        """Store cells given as COPY text rows (``copied``), as ``ingest_minutes`` stores them.

        PostgreSQL only. The rows go by COPY into a temporary table; the unions and the
        writes are made from it in SQL, in one transaction, within the deadline. For a large
        first read (the Coder source's first pass): no Python objects per hourly row.
        ``accepted`` counts the rows.
        """
        if self.engine.dialect.name != "postgresql":
            raise ValueError("ingest_copied needs a PostgreSQL store")
        attempts = 0

        async def store(connection: AsyncConnection) -> IngestResult:
            nonlocal attempts
            attempts += 1
            return await copied.store_copied(
                connection,
                rows,
                now=self.clock(),
                max_organizations=self.config.max_organizations,
                plain_inserts=attempts == 1,  # a retry may have met a stored key: upsert
            )

        return await self.within_deadline(self._retried(store))

    async def _store(self, minutes: Minutes, *, accepted: int) -> IngestResult:
        """Store ``minutes`` in one transaction (``_retried``)."""

        async def store(connection: AsyncConnection) -> IngestResult:
            return await store_minutes(
                connection,
                minutes,
                accepted=accepted,
                now=self.clock(),
                max_organizations=self.config.max_organizations,
            )

        return await self._retried(store)

    async def _retried(
        self, store: Callable[[AsyncConnection], Awaitable[IngestResult]]
    ) -> IngestResult:
        """``store`` in one transaction, tried again when it lost a race.

        A batch that lost a race (two writers creating the same placeholder, a deadlock or a
        serialization failure) was rolled back whole, so it is simply tried again.
        """
        for attempt in range(_INGEST_ATTEMPTS):
            try:
                async with self.write() as connection:
                    return await store(connection)
            except sqlalchemy.exc.DBAPIError as error:
                if attempt == _INGEST_ATTEMPTS - 1:
                    if _is_transient(error):
                        raise _unavailable(error) from error
                    raise
                if not (_is_transient(error) or isinstance(error, sqlalchemy.exc.IntegrityError)):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _service_errors(*, retry_transient: bool) -> Iterator[None]:
    """Driver errors as the service's: an unreachable store or another version's schema is 503.

    With ``retry_transient`` a deadlock or serialization failure passes through unchanged, for
    the caller to try the transaction again.
    """
    try:
        yield
    except _UNREACHABLE as error:
        if retry_transient and _is_transient(error):
            raise
        raise _unavailable(error) from error
    except sqlalchemy.exc.ProgrammingError as error:
        if _is_schema_mismatch(error):
            raise _other_schema(error) from error
        raise


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
    )


def batch_minutes(events: list[Event]) -> int:
    """The minutes a batch's events span (an upper bound of the active minutes it adds)."""
    return sum(event.end_minute - event.first_minute for event in events)


def _end_turn(turn: asyncio.Semaphore) -> None:
    """A large batch has ended: hand its memory back and let the next one start."""
    give_back()
    turn.release()


def _drop_outcome(task: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of work abandoned at its deadline (asyncio would log it)."""
    if not task.cancelled() and task.exception() is not None:
        log.info("abandoned store call ended: %s", _cause(task.exception()))  # type: ignore[arg-type]


def _cause(error: BaseException) -> str:
    """The operator's one line on why the store failed (the driver's words, no traceback)."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())[:300]
    return f"{type(original).__name__}: {text}" if text else type(original).__name__


def _unavailable(error: BaseException, cause: str | None = None) -> StoreUnavailable:
    """A 503 for the client; the cause goes to the log (every 503 says why there)."""
    if isinstance(error, StoreUnavailable):
        return error
    log.warning("store unavailable: %s", cause or _cause(error))
    return StoreUnavailable("The activity store is unreachable; nothing was stored.")
