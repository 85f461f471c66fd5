"""Small SQL functions that differ between SQLite and PostgreSQL, compiled per dialect."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction


class popcount(GenericFunction[int]):  # noqa: N801  (SQL function names are lower case)
    """Number of set bits of a non-negative BIGINT."""

    type = sa.BigInteger()
    inherit_cache = True


class greatest(GenericFunction[Any]):  # noqa: N801
    """The larger of its arguments (``max(a, b)`` on SQLite)."""

    inherit_cache = True


class joined_text(GenericFunction[str]):  # noqa: N801
    """The group's texts joined by a separator, in no order (an aggregate; NULL when none)."""

    type = sa.Text()
    inherit_cache = True


def popcount_sql(expression: str, dialect_name: str) -> str:
    """``popcount`` as SQL text, for statements written as text."""
    if dialect_name == "postgresql":
        return f"bit_count(CAST({expression} AS BIT(64)))"
    # Registered on every SQLite connection by exporter.store.engine.
    return f"usage_popcount({expression})"


@compiles(popcount)
def _popcount(element: popcount, compiler: SQLCompiler, **kw: Any) -> str:
    return popcount_sql(compiler.process(element.clauses, **kw), compiler.dialect.name)


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "postgresql")
def _greatest_postgresql(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(joined_text, "sqlite")
def _joined_text_sqlite(element: joined_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)})"


@compiles(joined_text, "postgresql")
def _joined_text_postgresql(element: joined_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)})"


def python_popcount(value: int | None) -> int:
    """The SQLite implementation of ``popcount``."""
    return 0 if value is None else int(value).bit_count()


def one_of(column: sa.ColumnElement[Any], values: Collection[Any], dialect_name: str) -> Any:
    """``column IN (values)``; on PostgreSQL with one parameter however many values.

    Strings without commas (ids, usernames) travel to PostgreSQL as one comma-joined string
    that the server splits, which costs psycopg nothing per element. The split is a subquery,
    so the server does it once: in a prepared statement's generic plan, ``= ANY(split)`` would
    split again for every row it tests.
    """
    if dialect_name != "postgresql":
        return column.in_(list(values))
    if all(isinstance(value, str) for value in values):
        joined = comma_joined(values)
        if joined is not None:
            split = sa.select(sa.func.unnest(sa.func.string_to_array(joined, ",")))
            return column.in_(split)
    array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
    return column == sa.any_(array)


def comma_joined(values: Iterable[object]) -> str | None:
    """The values as one string that ``string_to_array(…, ',')`` splits back into them.

    ``None`` when that would not give them back: a value holding a comma, or a lone ``''``
    (which splits into no element at all).
    """
    texts = list(map(str, values))
    joined = ",".join(texts)
    if texts == [""] or joined.count(",") != max(len(texts) - 1, 0):
        return None
    return joined


def array_parameter(values: Iterable[object]) -> str:
    """``comma_joined``, for values that cannot hold a comma (checked ids, numbers, ``*``).

    Raises ``ValueError`` rather than let a stray comma shift the arrays it is unnested with.
    """
    joined = comma_joined(values)
    if joined is None:
        raise ValueError("an array parameter value is empty or contains a comma")
    return joined
