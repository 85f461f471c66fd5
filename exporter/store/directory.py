"""Organizations, users and memberships (SPEC 2 and 3.3); placeholders live in ``placeholders``.

Functions here run inside the caller's transaction and raise ``exporter.errors`` for
conflicts the client must hear about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.errors import Conflict, NotFound
from exporter.model import (
    SERVICE_ROLE,
)
from exporter.store.placeholders import (
    check_organization_limit,
    ensure_organizations,
    renamed_organization,
    renamed_user,
)
from exporter.store.schema import api_tokens, memberships, organizations, site_roles, users


@dataclasses.dataclass(frozen=True, slots=True)
class Organization:
    """An organization as the API shows it."""

    id: str
    name: str
    display_name: str
    placeholder: bool
    deleted: bool


def _organization(row: sa.Row[tuple[object, ...]]) -> Organization:
    return Organization(
        id=row.id,
        name=row.name,
        display_name=row.display_name,
        placeholder=bool(row.placeholder),
        deleted=row.deleted_at is not None,
    )


async def list_organizations(
    connection: AsyncConnection, *, include_deleted: bool = False
) -> list[Organization]:
    """Every organization, by name."""
    query = sa.select(organizations).order_by(organizations.c.name)
    if not include_deleted:
        query = query.where(organizations.c.deleted_at.is_(None))
    return [_organization(row) for row in await connection.execute(query)]


async def find_organization(connection: AsyncConnection, id_or_name: str) -> Organization:
    """The organization with this id or else this name (an exact id match wins)."""
    for condition in (
        organizations.c.id == id_or_name,
        organizations.c.name == id_or_name.lower(),
    ):
        row = (await connection.execute(sa.select(organizations).where(condition))).first()
        if row is not None:
            return _organization(row)
    raise NotFound(f"Organization {id_or_name[:64]!r} does not exist.")


async def put_organization(
    connection: AsyncConnection,
    organization_id: str,
    *,
    name: str,
    display_name: str,
    now: float,
    max_organizations: int,
) -> bool:
    """Create or replace an organization; ``True`` when it was created.

    A name held by a placeholder, or by a deleted organization, is taken from it (the holder
    is renamed with a hash suffix); a name held by another live organization is a conflict.
    Creating an organization, or undeleting one, counts against ``max_organizations``.
    """
    holder = (
        await connection.execute(
            sa.select(
                organizations.c.id, organizations.c.placeholder, organizations.c.deleted_at
            ).where(organizations.c.name == name)
        )
    ).first()
    if holder is not None and holder.id != organization_id:
        if not holder.placeholder and holder.deleted_at is None:
            raise Conflict(f"Organization name {name!r} is taken by another organization.")
        await connection.execute(
            sa.update(organizations)
            .where(organizations.c.id == holder.id)
            .values(name=await renamed_organization(connection, name, holder.id))
        )
    existing = (
        await connection.execute(
            sa.select(organizations.c.deleted_at).where(organizations.c.id == organization_id)
        )
    ).first()
    if existing is None or existing.deleted_at is not None:
        await check_organization_limit(connection, 1, max_organizations)
    values = {"name": name, "display_name": display_name, "placeholder": False, "deleted_at": None}
    if existing is not None:
        await connection.execute(
            sa.update(organizations).where(organizations.c.id == organization_id).values(**values)
        )
        return False
    await connection.execute(
        sa.insert(organizations).values(id=organization_id, created_at=int(now), **values)
    )
    return True


async def delete_organization(
    connection: AsyncConnection, organization_id: str, *, now: float
) -> None:
    """Mark an organization deleted: its series leave /metrics, its history stays."""
    result = await connection.execute(
        sa.update(organizations)
        .where(organizations.c.id == organization_id, organizations.c.deleted_at.is_(None))
        .values(deleted_at=int(now))
    )
    if not result.rowcount:
        raise NotFound(f"Organization {organization_id!r} does not exist.")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord:
    """The directory's full record of a user, as PUT replaces it."""

    username: str
    name: str = ""
    avatar_hash: str = ""
    roles: Sequence[str] = ()
    organizations: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)


async def put_user(
    connection: AsyncConnection,
    user_id: str,
    record: UserRecord,
    *,
    now: float,
    max_organizations: int,
) -> bool:
    """Create or fully replace a user (undeleting it); ``True`` when it was created."""
    holder = (
        await connection.execute(
            sa.select(users.c.id, users.c.placeholder).where(
                users.c.username == record.username, users.c.deleted_at.is_(None)
            )
        )
    ).first()
    if holder is not None and holder.id != user_id:
        if not holder.placeholder:
            raise Conflict(f"Username {record.username!r} is taken by another user.")
        await connection.execute(
            sa.update(users)
            .where(users.c.id == holder.id)
            .values(username=await renamed_user(connection, record.username, holder.id))
        )
    await ensure_organizations(
        connection, set(record.organizations), now=now, max_organizations=max_organizations
    )
    values = {
        "username": record.username,
        "name": record.name,
        "avatar_hash": record.avatar_hash,
        "placeholder": False,
        "managed": True,
        "deleted_at": None,
    }
    updated = await connection.execute(
        sa.update(users).where(users.c.id == user_id).values(**values)
    )
    created = not updated.rowcount
    if created:
        await connection.execute(sa.insert(users).values(id=user_id, created_at=int(now), **values))
    await connection.execute(sa.delete(site_roles).where(site_roles.c.user_id == user_id))
    await connection.execute(sa.delete(memberships).where(memberships.c.user_id == user_id))
    if record.roles:
        await connection.execute(
            sa.insert(site_roles),
            [{"user_id": user_id, "role": role} for role in sorted(set(record.roles))],
        )
    if record.organizations:
        await connection.execute(
            sa.insert(memberships),
            [
                {"organization_id": org, "user_id": user_id, "roles": " ".join(sorted(set(roles)))}
                for org, roles in sorted(record.organizations.items())
            ],
        )
    return created


async def delete_user(connection: AsyncConnection, user_id: str, *, now: float) -> None:
    """Mark a user deleted and revoke its tokens; its history stays in reports."""
    result = await connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.deleted_at.is_(None))
        .values(deleted_at=int(now))
    )
    if not result.rowcount:
        raise NotFound(f"User {user_id!r} does not exist.")
    await connection.execute(
        sa.update(api_tokens)
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=int(now))
    )


async def find_user_id(connection: AsyncConnection, id_or_username: str) -> str:
    """The id of the user with this id or else this (live) username."""
    for condition in (
        users.c.id == id_or_username,
        sa.and_(users.c.username == id_or_username, users.c.deleted_at.is_(None)),
    ):
        found = (await connection.execute(sa.select(users.c.id).where(condition))).scalar()
        if found is not None:
            return str(found)
    raise NotFound(f"User {id_or_username[:64]!r} does not exist.")


async def names_of(connection: AsyncConnection, user_id: str) -> tuple[str, str]:
    """``(username, name)`` of a user, deleted or not."""
    row = (
        await connection.execute(
            sa.select(users.c.username, users.c.name).where(users.c.id == user_id)
        )
    ).one()
    return str(row.username), str(row.name)


async def roles_of(
    connection: AsyncConnection, user_id: str
) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Site roles and organization roles of a user."""
    site = frozenset(
        (
            await connection.execute(
                sa.select(site_roles.c.role).where(site_roles.c.user_id == user_id)
            )
        ).scalars()
    )
    rows = await connection.execute(
        sa.select(memberships.c.organization_id, memberships.c.roles).where(
            memberships.c.user_id == user_id
        )
    )
    return site, {org: frozenset(roles.split()) for org, roles in rows}


def is_service_account(roles: Collection[str]) -> bool:
    """Users whose only site role is ``activity-writer`` never count as users or seats."""
    return set(roles) == {SERVICE_ROLE}
