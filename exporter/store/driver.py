"""Large reads straight from psycopg, past SQLAlchemy's result layer.

Turning every report row into a ``Row`` object and handing it across the async bridge is costly
next to psycopg's own cursor, which returns plain tuples. The statement is still built by
SQLAlchemy and compiled once per shape (``compiled``), and a driver error is raised again as the
SQLAlchemy error it maps to, so callers and the 503 mapping see the same classes. (SQLAlchemy
does not see the error itself: a connection that broke is discarded when the pool takes it back
and its rollback fails, not at once.)
"""

from __future__ import annotations

import collections
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

COMPILED_SHAPES = 64
"""Compiled statements kept, least recently used first out."""

_compiled: collections.OrderedDict[tuple[Any, ...], SQLCompiler] = collections.OrderedDict()
_positional: dict[type[Dialect], Dialect] = {}


def compiled(
    statement: sa.Select[Any] | sa.TextClause, dialect: Dialect
) -> tuple[str, Sequence[Any]]:
    """``statement`` as SQL with ``$n`` placeholders, and its parameters in order.

    Statements of one shape (SQLAlchemy's cache key: the same SQL, whatever the values) are
    compiled once and their parameters taken from each statement's values; a statement that
    SQLAlchemy cannot cache, or with ``IN`` lists (whose SQL depends on their lengths), is
    compiled every time. ``$n`` placeholders reach PostgreSQL as they are: psycopg rewrites
    its own ``%(name)s`` style on every execution of a statement this long.
    """
    positional = _positional.get(type(dialect))
    if positional is None:
        kind = cast(type[DefaultDialect], type(dialect))
        positional = _positional[type(dialect)] = kind(paramstyle="numeric_dollar")
    cache_key = statement._generate_cache_key()
    if cache_key is None or any(bind.expanding for bind in cache_key.bindparams):
        once = statement.compile(dialect=positional, compile_kwargs={"render_postcompile": True})
        return once.string, [once.params[name] for name in once.positiontup or ()]
    key = (type(dialect), cache_key.key)
    shape = _compiled.get(key)
    if shape is None:
        shape = statement.compile(dialect=positional, cache_key=cache_key)
        _compiled[key] = shape
        if len(_compiled) > COMPILED_SHAPES:
            _compiled.popitem(last=False)
    else:
        _compiled.move_to_end(key)
    params = shape.construct_params(extracted_parameters=cache_key.bindparams) or {}
    return shape.string, [params[name] for name in shape.positiontup or ()]


async def batches(
    connection: AsyncConnection, statement: sa.Select[Any] | sa.TextClause, *, size: int
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """The rows of ``statement`` as tuples, ``size`` at a time, from a server-side cursor.

    PostgreSQL only; the cursor lives in ``connection``'s transaction, which it begins. Close
    the iterator (``contextlib.aclosing``) before the connection goes back to the pool: left
    to the garbage collector, its cursor would be closed later, on whatever connection the
    pool had handed out by then.
    """
    sql, params = compiled(statement, connection.dialect)
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None  # a live pooled connection
    try:
        async with psycopg.AsyncRawServerCursor(raw, "usage_metrics_rows") as cursor:
            await cursor.execute(sql, params)
            while batch := await cursor.fetchmany(size):
                yield batch
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(
            sql, params, error, psycopg.Error, dialect=connection.dialect
        ) from error
