"""What the store keeps for each source: read positions and how the last pass went.

Positions move only with a successful pass, in the same transaction that records it; a
failed pass records only that it failed. Every replica reads the same record, so each exports
the same ``usage_source_up`` and last-success time whichever replica ran the pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.store.schema import (
    memberships,
    organizations,
    site_roles,
    source_passes,
    source_positions,
    users,
)
from exporter.store.upsert import insert


@dataclasses.dataclass(frozen=True, slots=True)
class PassRecord:
    """The last pass of a source by any replica."""

    last_attempt_at: int
    last_success_at: int | None
    ok: bool


async def read_positions(connection: AsyncConnection, source: str) -> dict[str, int]:
    """Table name -> position (epoch microseconds) of the last successful pass."""
    rows = await connection.execute(
        sa.select(source_positions.c.table_name, source_positions.c.position_us).where(
            source_positions.c.source == source
        )
    )
    return {table: int(position) for table, position in rows}


async def read_pass(connection: AsyncConnection, source: str) -> PassRecord | None:
    """How the last pass went, ``None`` before the first one."""
    row = (
        await connection.execute(sa.select(source_passes).where(source_passes.c.source == source))
    ).first()
    if row is None:
        return None
    return PassRecord(
        last_attempt_at=int(row.last_attempt_at),
        last_success_at=None if row.last_success_at is None else int(row.last_success_at),
        ok=bool(row.last_pass_ok),
    )


async def record_success(
    connection: AsyncConnection, source: str, positions: Mapping[str, int], *, now: float
) -> None:
    """Move the positions and record a successful pass, in the caller's transaction."""
    dialect = connection.dialect.name
    if positions:
        statement = insert(source_positions, dialect)
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=["source", "table_name"],
                set_={"position_us": statement.excluded.position_us},
            ),
            [
                {"source": source, "table_name": table, "position_us": position}
                for table, position in sorted(positions.items())
            ],
        )
    await _record(connection, source, now=now, ok=True)


async def record_failure(connection: AsyncConnection, source: str, *, now: float) -> None:
    """Record a failed pass; positions and the last success stay as they were."""
    await _record(connection, source, now=now, ok=False)


async def _record(connection: AsyncConnection, source: str, *, now: float, ok: bool) -> None:
    values: dict[str, object] = {"last_attempt_at": int(now), "last_pass_ok": ok}
    if ok:
        values["last_success_at"] = int(now)
    statement = insert(source_passes, connection.dialect.name).values(source=source, **values)
    await connection.execute(
        statement.on_conflict_do_update(index_elements=["source"], set_=values)
    )


@dataclasses.dataclass(frozen=True, slots=True)
class StoredUser:
    """A user as the store holds it, in the terms a source compares with the platform's."""

    username: str
    name: str
    avatar_hash: str
    status: str
    site_roles: frozenset[str]
    organizations: Mapping[str, frozenset[str]]
    deleted: bool
    source: str | None
    placeholder: bool


async def read_users(connection: AsyncConnection) -> dict[str, StoredUser]:
    """Every user (deleted ones too) with its site roles and memberships, by id."""
    roles: dict[str, set[str]] = {}
    for user_id, role in await connection.execute(
        sa.select(site_roles.c.user_id, site_roles.c.role)
    ):
        roles.setdefault(user_id, set()).add(role)
    member_of: dict[str, dict[str, frozenset[str]]] = {}
    for organization_id, user_id, listed in await connection.execute(
        sa.select(memberships.c.organization_id, memberships.c.user_id, memberships.c.roles)
    ):
        member_of.setdefault(user_id, {})[organization_id] = frozenset(listed.split())
    return {
        row.id: StoredUser(
            username=row.username,
            name=row.name,
            avatar_hash=row.avatar_hash,
            status=row.status,
            site_roles=frozenset(roles.get(row.id, ())),
            organizations=member_of.get(row.id, {}),
            deleted=row.deleted_at is not None,
            source=row.source,
            placeholder=bool(row.placeholder),
        )
        for row in await connection.execute(sa.select(users))
    }


async def rename_for_swap(connection: AsyncConnection, organization_ids: list[str]) -> None:
    """Give these organizations a name no one else can hold (``~`` + id) in the transaction.

    When two organizations swap names, each PUT would find the other holding its new name;
    moving both out of the way first lets both PUTs through. Ids never contain ``~``.
    """
    for organization_id in organization_ids:
        await connection.execute(
            sa.update(organizations)
            .where(organizations.c.id == organization_id)
            .values(name=f"~{organization_id}"[:64])
        )
