"""A worker's PostgreSQL databases, reused from test to test in the template's exact state.

Creating a database from the template and dropping it costs about a second a test on a busy
server; emptying one is cheaper. A database handed back is reused only when, after its tables
are emptied and the template's rows put back, its state (schema, grants, sequences, database
settings, rows) equals the template's; any other database is dropped.
"""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

# Everything a test could change outside the rows of its tables, as sorted text lines.
STATE_QUERY = """
SELECT 'schema ' || n.nspname || ' ' || coalesce(n.nspacl::text, '')
  FROM pg_namespace n WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
UNION ALL
SELECT 'relation ' || c.oid::regclass::text || ' ' || c.relkind::text || ' '
       || coalesce(c.relacl::text, '') || ' ' || coalesce(c.reloptions::text, '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
UNION ALL
SELECT 'column ' || a.attrelid::regclass::text || ' ' || a.attnum || ' ' || a.attname || ' '
       || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
       || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
   AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' '
       || pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
UNION ALL
SELECT 'view ' || c.oid::regclass::text || ' ' || pg_get_viewdef(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm') AND n.nspname NOT LIKE 'pg\\_%'
   AND n.nspname <> 'information_schema'
UNION ALL
SELECT 'sequence ' || schemaname || '.' || sequencename || ' '
       || coalesce(last_value::text, 'unused') FROM pg_sequences
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text || ' ' || md5(p.prosrc)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
UNION ALL
SELECT 'setting ' || coalesce(setrole::regrole::text, '') || ' ' || setconfig::text
  FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
 WHERE d.datname = current_database()
ORDER BY 1
"""

TABLES_QUERY = """
SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
 WHERE schemaname NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema' ORDER BY 1
"""


def _state(connection: psycopg.Connection[tuple[str]]) -> list[str]:
    return [row[0] for row in connection.execute(STATE_QUERY)]


def _tables(connection: psycopg.Connection[tuple[str]]) -> list[str]:
    return [row[0] for row in connection.execute(TABLES_QUERY)]


def _rows(connection: psycopg.Connection[tuple[str]], table: str) -> list[str]:
    """Every row of ``table`` as JSON text, sorted."""
    query = sql.SQL("SELECT row_to_json(t)::text FROM {} AS t ORDER BY 1").format(sql.SQL(table))
    return [row[0] for row in connection.execute(query)]


class PostgresPool:
    """One worker's migrated databases: handed out one test at a time, reset when handed back.

    A database is reused only if resetting it leaves exactly the template's state; otherwise
    (a changed schema, a database setting, an unexpected sequence) it is dropped.
    """

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url = admin_url
        self.template = template
        self.free: list[str] = []
        self.every: list[str] = []
        with psycopg.connect(self._url(template)) as connection:
            self.state = _state(connection)
            tables = _tables(connection)
            self.rows = {table: _rows(connection, table) for table in tables}

    def _url(self, database: str) -> str:
        return psycopg.conninfo.make_conninfo(self.admin_url, dbname=database)

    def take(self) -> str:
        """The name of a database in the template's state, now the caller's."""
        if self.free:
            return self.free.pop()
        name = f"um_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.every.append(name)
        return name

    def give_back(self, name: str) -> None:
        """Reset ``name`` for the next test, or drop it when it cannot be the template's again."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        try:
            reset = self._reset(name)
        except psycopg.Error:
            reset = False  # a database the test left unusable (dropped tables, no connections)
        if reset:
            self.free.append(name)
        else:
            self.drop(name)

    def _reset(self, name: str) -> bool:
        """Empty every table, put the template's rows back; whether the state is the template's."""
        with psycopg.connect(self._url(name)) as connection:
            tables = _tables(connection)
            if tables != list(self.rows):
                return False
            listed = sql.SQL(", ").join(sql.SQL(table) for table in tables)
            connection.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(listed))
            for table, rows in self.rows.items():
                if rows:
                    connection.execute(
                        sql.SQL(
                            "INSERT INTO {0} SELECT (json_populate_record(NULL::{0}, r::json)).*"
                            " FROM unnest(%s::text[]) AS r"
                        ).format(sql.SQL(table)),
                        (rows,),
                    )
            same = _state(connection) == self.state and all(
                _rows(connection, table) == rows for table, rows in self.rows.items() if rows
            )
            if not same:
                connection.rollback()
            return same

    def drop(self, name: str) -> None:
        """Drop one of this pool's databases."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.free:
            self.free.remove(name)

    def drop_all(self) -> None:
        """Drop every database this pool made."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            for name in self.every:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.free.clear()
        self.every.clear()
