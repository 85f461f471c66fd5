"""Large reads straight from psycopg, past SQLAlchemy's result layer.

Turning every report row into a ``Row`` object and handing it across the async bridge is costly
next to psycopg's own cursor, which returns plain tuples. The statement is still built and
compiled by SQLAlchemy, and a driver error is raised again as the SQLAlchemy error it maps to,
so callers and the 503 mapping see the same classes. (SQLAlchemy does not see the error itself:
a connection that broke is discarded when the pool takes it back and its rollback fails, not at
once.)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


async def batches(
    connection: AsyncConnection, statement: sa.Select[Any] | sa.TextClause, *, size: int
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """The rows of ``statement`` as tuples, ``size`` at a time, from a server-side cursor.

    PostgreSQL only; the cursor lives in ``connection``'s transaction, which it begins. Close
    the iterator (``contextlib.aclosing``) before the connection goes back to the pool: left
    to the garbage collector, its cursor would be closed later, on whatever connection the
    pool had handed out by then.
    """
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    sql, params = compiled.string, compiled.params
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None  # a live pooled connection
    try:
        async with raw.cursor(name="usage_metrics_rows") as cursor:
            await cursor.execute(sql, params)
            while batch := await cursor.fetchmany(size):
                yield batch
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(
            sql, params, error, psycopg.Error, dialect=connection.dialect
        ) from error
