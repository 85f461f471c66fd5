"""Which shape of Coder's schema a database has, and whether the role may read it.

The source reads only the columns below. Coder's schema has changed over the versions in use
since 2024: ``users.is_system`` (2025) and ``organizations.deleted`` (2025) may be missing; the
agent's session counts are four ``session_count_*`` columns, or one ``session_counts`` JSON
object in newer versions; an API key's scope is ``scope`` (one value) or ``scopes`` (a list).
Anything else missing fails the pass with one line naming it. Existence is read from the
catalog, which every role sees; each column the source needs must also be granted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.sources.base import SourceError

SESSION_COUNT_COLUMNS = (
    "session_count_ssh",
    "session_count_vscode",
    "session_count_jetbrains",
    "session_count_reconnecting_pty",
)
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "organizations": ("id", "name", "display_name", "is_default"),
    "users": ("id", "username", "name", "status", "deleted", "rbac_roles"),
    "organization_members": ("user_id", "organization_id", "roles"),
    "workspaces": ("id", "organization_id"),
    "workspace_app_stats": (
        "id",
        "user_id",
        "workspace_id",
        "access_method",
        "slug_or_port",
        "session_started_at",
        "session_ended_at",
    ),
    "workspace_agent_stats": ("created_at", "user_id", "workspace_id"),
    "api_keys": ("user_id", "created_at", "login_type"),
    "audit_logs": ("time", "user_id", "action", "status_code"),
}
"""Every table the source reads, with the columns it always needs."""

_COLUMNS = sa.text(
    """
    SELECT c.relname, a.attname, has_column_privilege(c.oid, a.attnum, 'SELECT')
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0
                                      AND NOT a.attisdropped
    WHERE c.oid = ANY (CAST(:tables AS regclass[]))
    """
)
_FOUND = sa.text(
    "SELECT name FROM unnest(CAST(:names AS text[])) AS name WHERE to_regclass(name) IS NOT NULL"
)


@dataclasses.dataclass(frozen=True, slots=True)
class CoderShape:
    """The optional parts of Coder's schema that this database has."""

    users_is_system: bool
    organizations_deleted: bool
    session_counts_json: bool  # ``session_counts`` instead of the four ``session_count_*``
    api_key_scope: str | None  # ``scope``, ``scopes`` or None

    def optional_columns(self) -> list[tuple[str, str]]:
        """The optional columns that the source reads from this shape."""
        used = [("workspace_agent_stats", column) for column in self.session_count_columns]
        if self.users_is_system:
            used.append(("users", "is_system"))
        if self.organizations_deleted:
            used.append(("organizations", "deleted"))
        if self.api_key_scope is not None:
            used.append(("api_keys", self.api_key_scope))
        return used

    @property
    def session_count_columns(self) -> tuple[str, ...]:
        """The columns that hold the agent's session counts."""
        return ("session_counts",) if self.session_counts_json else SESSION_COUNT_COLUMNS


async def read_shape(connection: AsyncConnection) -> CoderShape:
    """The shape of the database; raise ``SourceError`` naming what is missing or not granted."""
    found = set((await connection.execute(_FOUND, {"names": sorted(REQUIRED)})).scalars())
    for table in REQUIRED:
        if table not in found:
            raise SourceError(
                f"Coder's database has no table {table}: this is not a Coder v2 database, or "
                "the URL names another database or schema"
            )
    columns: dict[str, dict[str, bool]] = {table: {} for table in REQUIRED}
    for table, column, granted in await connection.execute(_COLUMNS, {"tables": sorted(REQUIRED)}):
        columns[str(table)][str(column)] = bool(granted)
    wanted: list[tuple[str, str]] = []
    for table, needed in REQUIRED.items():
        for column in needed:
            if column not in columns[table]:
                raise SourceError(
                    f"Coder's database has no column {table}.{column}: "
                    "this version of Coder's schema is not supported"
                )
            wanted.append((table, column))
    shape = CoderShape(
        users_is_system="is_system" in columns["users"],
        organizations_deleted="deleted" in columns["organizations"],
        session_counts_json=_session_counts_json(columns["workspace_agent_stats"]),
        api_key_scope=next((c for c in ("scopes", "scope") if c in columns["api_keys"]), None),
    )
    wanted += shape.optional_columns()
    denied = [f"{table}.{column}" for table, column in wanted if not columns[table][column]]
    if denied:
        raise SourceError(
            f"the role may not read {', '.join(denied[:4])}"
            + (f" and {len(denied) - 4} more columns" if len(denied) > 4 else "")
            + ": grant SELECT on them (see docs/coder.md)"
        )
    return shape


def _session_counts_json(columns: Mapping[str, bool]) -> bool:
    if all(column in columns for column in SESSION_COUNT_COLUMNS):
        return False
    if "session_counts" in columns:
        return True
    missing = next(column for column in SESSION_COUNT_COLUMNS if column not in columns)
    raise SourceError(
        f"Coder's database has no column workspace_agent_stats.{missing} (nor "
        "session_counts): this version of Coder's schema is not supported"
    )
