"""A Coder-shaped PostgreSQL database for the Coder source's tests and benchmark.

``schema`` writes Coder's tables as Coder's published schema defines them, ``generate`` fills
them with realistic rows, and ``oracle`` works out, independently of the code under test,
which active minutes those rows must give.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg

from tests.coderdb.generate import CoderData, create_schema, write
from tests.coderdb.schema import Shape


@contextlib.contextmanager
def coder_database(admin_url: str, shape: Shape) -> Iterator[str]:
    """A new database with Coder's tables of ``shape``; its libpq URL. Dropped afterwards."""
    name = f"coder_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    try:
        with psycopg.connect(url) as connection:
            create_schema(connection, shape)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(url: str, data: CoderData) -> None:
    """Write every row of ``data``."""
    with psycopg.connect(url) as connection:
        write(connection, data)


def sqlalchemy_url(libpq_url: str) -> str:
    """The ``postgresql://`` URL the service's settings take, for a libpq URL."""
    params: dict[str, Any] = psycopg.conninfo.conninfo_to_dict(libpq_url)
    auth = str(params.get("user", "postgres"))
    if params.get("password"):
        auth += f":{params['password']}"
    host = str(params.get("host", "localhost"))
    if host.startswith("/"):
        return (
            f"postgresql://{auth}@/{params['dbname']}?host={host}&port={params.get('port', 5432)}"
        )
    return f"postgresql://{auth}@{host}:{params.get('port', 5432)}/{params['dbname']}"
