"""Locks that several processes sharing one store respect: one sync pass at a time.

On PostgreSQL a session-level advisory lock, held on a connection of its own for as long as
the block runs (a process that dies lets it go with its connection). On SQLite, which one
machine shares, an exclusive ``flock`` on a file next to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

WAIT_POLL_SECONDS = 0.5


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name``, the same in every process."""
    digest = hashlib.sha256(f"usage-metrics:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def exclusive(engine: AsyncEngine, name: str, *, wait: bool) -> AsyncIterator[bool]:
    """Hold the lock ``name`` for the block; yields ``False`` (at once) when it is taken.

    With ``wait=True`` the block waits until the lock is free and always gets ``True``.
    """
    if engine.dialect.name == "postgresql":
        async with _advisory(engine, lock_key(name), wait=wait) as held:
            yield held
    else:
        async with _file_lock(_lock_path(engine, name), wait=wait) as held:
            yield held


@contextlib.asynccontextmanager
async def _advisory(engine: AsyncEngine, key: int, *, wait: bool) -> AsyncIterator[bool]:
    async with engine.connect() as connection:
        while True:
            # Polled rather than waited on in one statement: a pass may outlast the
            # statement timeout.
            taken = await connection.scalar(sa.select(sa.func.pg_try_advisory_lock(key)))
            await connection.commit()
            if taken or not wait:
                break
            await asyncio.sleep(WAIT_POLL_SECONDS)
        if not taken:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(sa.exc.DBAPIError):  # a broken connection let it go
                await connection.scalar(sa.select(sa.func.pg_advisory_unlock(key)))
                await connection.commit()


def _lock_path(engine: AsyncEngine, name: str) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        directory = Path(os.environ.get("TMPDIR", "/tmp"))  # noqa: S108  (a lock, no data)
        return directory / f"usage-metrics-memory-{os.getpid()}.{name}.lock"
    return Path(f"{database}.{name}.lock")


@contextlib.asynccontextmanager
async def _file_lock(path: Path, *, wait: bool) -> AsyncIterator[bool]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                taken = True
            except BlockingIOError:
                taken = False
            if taken or not wait:
                break
            await asyncio.sleep(WAIT_POLL_SECONDS)
        try:
            yield taken
        finally:
            if taken:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
