"""One sync pass over a Coder deployment's database (read-only), into the store.

A pass checks the schema's shape, makes the directory follow Coder's, then reads each
activity table from its position and stores its minute masks ("cells") in the same store
transaction as HTTP ingest (``Store.ingest_minutes``). A first pass into a PostgreSQL store
(no positions yet: every table read within the retention) reads Coder a slice of users per
query and hands the cells over as COPY rows instead (``Store.ingest_copied``, the same
statements from a temporary table), a batch of users at a time. The positions move only
when every table was read and stored; a pass that fails anywhere leaves them, and the next
pass reads the same rows again, which changes nothing already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from exporter.config import Config
from exporter.model import HOUR, Category
from exporter.sources.base import PassSummary, Progress, SourceError
from exporter.sources.coder import combined
from exporter.sources.coder.activity import (
    AgentSessions,
    AppSessions,
    AuditLogins,
    CountedMinutes,
    LoginKeys,
    TableReader,
    UserSlice,
    Window,
    user_slices,
)
from exporter.sources.coder.cells import StoredCells
from exporter.sources.coder.combined import CopiedCells
from exporter.sources.coder.directory import (
    SOURCE,
    CoderDirectory,
    apply_directory,
    read_digest,
    read_directory,
)
from exporter.sources.coder.shape import CoderShape, read_shape
from exporter.store import Store, sources
from exporter.store.ingest import Minutes

CONNECT_TIMEOUT_SECONDS = 10
STATEMENT_TIMEOUT_MILLISECONDS = 15 * 60_000  # a first pass aggregates months of rows
BATCH_CELLS = 10_000  # cells per store transaction
SLICE_USERS = 500  # users per query of a first pass by COPY (``combined``)
SLICE_WORK_MEM = "64MB"  # per sort or hash (hashes twice that) of those queries, on Coder
QUEUED_BATCHES = 2  # batches read ahead of the store
QUEUED_COPY_BATCHES = 12  # the same in a first pass by COPY, so that Coder computes the next
# slice while the store writes
STORE_WORKERS = 2  # store transactions at once: one prepares its rows while another writes
DIRECTORY_RECHECK_SECONDS = 600  # how often an unchanged Coder directory is compared again


_Batch = Minutes | CopiedCells | Exception | None  # cells to store, the end, or why reading failed


def create_coder_engine(url: str) -> AsyncEngine:
    """An engine for Coder's database whose every transaction is read-only."""
    return create_async_engine(
        url,
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": "usage-metrics",
            # Planner settings for how the source reads: every cursor is read to its end (the
            # default plans cursors for their first tenth), and random_page_cost as for SSDs, so
            # a steady pass's look-back (an hour of a day's agent stats) is read through the
            # created_at index rather than by scanning the table.
            "options": "-c default_transaction_read_only=on "
            f"-c statement_timeout={STATEMENT_TIMEOUT_MILLISECONDS} -c jit=off "
            "-c cursor_tuple_fraction=1 -c random_page_cost=1.1",
        },
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Applied:
    """The Coder directory this process last applied to the store, its digest, and when."""

    directory: CoderDirectory
    digest: str
    at: float


class CoderSource:
    """Reads a Coder deployment's activity and directory into ``store``."""

    name = SOURCE

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        engine: AsyncEngine | None = None,
        slice_users: int = SLICE_USERS,
    ) -> None:
        if config.coder_database_url is None and engine is None:
            raise ValueError("no Coder database URL configured")
        self.store = store
        self.config = config
        self.engine = engine or create_coder_engine(str(config.coder_database_url))
        self.slice_users = slice_users  # users per query of a first pass by COPY
        self.stored = StoredCells()
        self.agent_minutes: CountedMinutes | None = None  # of the last pass stored
        self._applied: _Applied | None = None

    async def close(self) -> None:
        """Close the connections to Coder's database."""
        await self.engine.dispose()

    async def sync(self, progress: Progress) -> PassSummary:
        """One pass; raises ``SourceError`` with one line when Coder's database fails it."""
        try:
            return await self._sync(progress)
        except BaseException:
            self._forget()
            self._applied = None
            raise

    async def _sync(self, progress: Progress) -> PassSummary:
        async with self.store.read() as connection:
            positions = await sources.read_positions(connection, SOURCE)
        with _reading_coder():
            async with self.engine.connect() as connection:
                shape = await read_shape(connection)
                digest = await read_digest(connection, shape)
                unchanged = self._unchanged(digest)
                coder = unchanged or await read_directory(connection, shape)
        progress.phase("directory", len(coder.users))
        summary = PassSummary(first=not positions)
        if unchanged is None:
            summary.directory_changes = await self._apply(coder, digest)
        progress.advance(len(coder.users))
        window = self._window(coder)
        self.stored.keep_from((int(window.recent.timestamp()) // HOUR - 1) * HOUR)
        readers = self._readers(window, positions, shape, coder)
        slices = None
        if summary.first and self.store.engine.dialect.name == "postgresql":
            slices = user_slices([user.id for user in coder.users], self.slice_users)
        summary.new_minutes = await self._read(readers, progress, slices=slices)
        moved: dict[str, int] = {}
        for reader in readers:
            summary.rows[reader.table] = reader.rows
            if reader.skipped:
                summary.skipped[reader.table] = reader.skipped
            moved.update(reader.positions)
        async with self.store.write() as connection:
            await sources.record_success(connection, SOURCE, moved, now=self.store.clock())
        self.agent_minutes = next(
            (reader.counted for reader in readers if isinstance(reader, AgentSessions)), None
        )
        return summary

    def _forget(self) -> None:
        """Forget what was stored: the next pass reads and sends all of its look-back."""
        self.stored.forget()
        self.agent_minutes = None

    def _unchanged(self, digest: str) -> CoderDirectory | None:
        """The directory this process applied, if Coder's has ``digest`` and it is recent.

        Such a directory is neither read nor compared with the store again until
        ``DIRECTORY_RECHECK_SECONDS`` after it was applied.
        """
        applied = self._applied
        if applied is None or applied.digest != digest:
            return None
        if self.store.clock() - applied.at >= DIRECTORY_RECHECK_SECONDS:
            return None
        return applied.directory

    async def _apply(self, coder: CoderDirectory, digest: str) -> int:
        """Make the store's directory follow ``coder``; the records written.

        When records change, the memory of stored minutes is dropped.
        """
        now = self.store.clock()
        changes = await apply_directory(self.store, coder)
        self._applied = _Applied(coder, digest, now)
        if changes:
            self._forget()
        return changes

    def _window(self, coder: CoderDirectory) -> Window:
        limits = self.store.ingest_limits()
        return Window(
            now=limits.now,
            horizon_minute=limits.horizon_minute,
            lookback_seconds=self.config.coder_lookback,
            default_organization=coder.default_organization or limits.default_organization,
            system_users=coder.system_users,
            ide_apps=list(self.config.coder_ide_apps),
            desktop_ide=Category.parse(self.config.coder_desktop_ide, allow_any=False),
        )

    def _readers(
        self,
        window: Window,
        positions: dict[str, int],
        shape: CoderShape,
        coder: CoderDirectory,
    ) -> list[TableReader]:
        logins = coder.login_organizations(window.default_organization)
        return [
            AppSessions(window, positions, shape),
            AgentSessions(window, positions, shape).with_stored(self.agent_minutes),
            LoginKeys(window, positions, shape).with_organizations(logins),
            AuditLogins(window, positions, shape).with_organizations(logins),
        ]

    async def _read(
        self, readers: list[TableReader], progress: Progress, *, slices: list[UserSlice] | None
    ) -> int:
        """Read the tables and store the minutes not yet stored; the new active minutes.

        With ``slices`` the cells go as COPY rows (``Store.ingest_copied``), all of them, read
        a slice of users at a time.

        Reading Coder and writing the store overlap: ``STORE_WORKERS`` transactions store
        batches while the next ones are read, and at most ``QUEUED_BATCHES`` (with ``slices``,
        ``QUEUED_COPY_BATCHES``) wait in between, so memory stays bounded. Concurrent batches
        lock rows in the same order (the store's rule), so they wait for each other but cannot
        deadlock.
        """
        queue: asyncio.Queue[_Batch] = asyncio.Queue(
            maxsize=QUEUED_BATCHES if slices is None else QUEUED_COPY_BATCHES
        )
        new_minutes = 0

        async def store_batches() -> None:
            nonlocal new_minutes
            while (batch := await queue.get()) is not None:
                if isinstance(batch, Exception):
                    raise batch
                if isinstance(batch, CopiedCells):
                    stored = await self._store_copied(batch.rows)
                    self.stored.remember(batch.recent)
                else:
                    stored = await self._store(batch)
                    self.stored.remember(batch)
                new_minutes += stored  # after the await: the other worker adds too
            await queue.put(None)  # the end, for the other workers too

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._produce(readers, progress, queue, slices=slices))
                for _ in range(STORE_WORKERS):
                    group.create_task(store_batches())
        except BaseExceptionGroup as failures:  # the first failure; the others were cancelled
            first = failures.exceptions[0]
            raise first from first.__cause__
        return new_minutes

    async def _produce(
        self,
        readers: list[TableReader],
        progress: Progress,
        queue: asyncio.Queue[_Batch],
        *,
        slices: list[UserSlice] | None,
    ) -> None:
        """Put the tables' unstored cells on ``queue`` in batches, then ``None``, or the error.

        The tables are summarized and read in one snapshot, their cells merged
        (``combined``); a batch ends with a user's last cell. With ``slices``, every cell
        goes, as COPY rows.
        """
        pending: Minutes = {}
        try:
            with _reading_coder():
                async with self.engine.connect() as connection:
                    await _snapshot(connection)
                    totals = [await reader.summarize(connection) for reader in readers]
                    known = [total for total in totals if total is not None]
                    progress.phase("activity", sum(known) if len(known) == len(totals) else None)
                    if slices is not None:
                        # A slice's aggregation then fits in memory: at Coder's default of
                        # 4 MB, and still at 32 MB, it went to temporary files. Parallel
                        # workers cost more than they saved on a server that is busy anyway
                        # (the store's writes, or Coder's own work).
                        await connection.execute(
                            sa.text(f"SET LOCAL work_mem = '{SLICE_WORK_MEM}'")
                        )
                        await connection.execute(
                            sa.text("SET LOCAL max_parallel_workers_per_gather = 0")
                        )
                        await _put_copy_rows(
                            connection, readers, progress, queue, self.stored, slices=slices
                        )
                    else:
                        async with contextlib.aclosing(
                            combined.cells(connection, readers)
                        ) as chunks:
                            async for cells, covered in chunks:
                                self.stored.add_unstored(pending, cells)
                                if len(pending) >= BATCH_CELLS:
                                    await queue.put(pending)
                                    pending = {}
                                progress.advance(covered)
                    await connection.rollback()
            if pending:
                await queue.put(pending)
            await queue.put(None)
        except Exception as error:  # handed to the consumer, which raises it
            await queue.put(error)

    async def _store(self, cells: Minutes) -> int:
        """Store cells through the ordinary ingest; the new active minutes."""
        try:
            return (await self.store.ingest_minutes(cells)).new_minutes
        except sa.exc.SQLAlchemyError as error:
            raise SourceError(f"the activity store failed: {_first_line(error)}") from error

    async def _store_copied(self, rows: list[str]) -> int:
        """Store cells given as COPY rows (``Store.ingest_copied``); the new active minutes."""
        try:
            return (await self.store.ingest_copied(rows)).new_minutes
        except sa.exc.SQLAlchemyError as error:
            raise SourceError(f"the activity store failed: {_first_line(error)}") from error


async def _put_copy_rows(
    connection: AsyncConnection,
    readers: list[TableReader],
    progress: Progress,
    queue: asyncio.Queue[_Batch],
    stored: StoredCells,
    *,
    slices: list[UserSlice],
) -> None:
    """Put every cell of the readers on ``queue`` as COPY rows, a batch of users at a time."""
    chunks = combined.copy_rows(connection, readers, recent_from=stored.since_hour, slices=slices)
    async with contextlib.aclosing(chunks):
        async for copied, covered in chunks:
            if copied.rows:
                await queue.put(copied)
            progress.advance(covered)


async def _snapshot(connection: AsyncConnection) -> None:
    """One snapshot for the table's summary and its rows (REPEATABLE READ, read-only)."""
    await connection.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


@contextlib.contextmanager
def _reading_coder() -> Iterator[None]:
    """Turn a failure to read Coder's database into one line for the operator."""
    try:
        yield
    except (sa.exc.SQLAlchemyError, OSError) as error:
        raise SourceError(f"Coder's database cannot be read: {_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    words = str(original).strip().splitlines()
    return words[0] if words else type(original).__name__
