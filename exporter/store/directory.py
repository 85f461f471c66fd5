"""Organizations, users and memberships (docs/api.md); placeholders live in ``placeholders``.

Functions here run inside the caller's transaction and raise ``exporter.errors`` for
conflicts the client must hear about. Callers outside the store write through
``DirectoryWrites`` (``Store.directory``), which applies the store's own limits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.errors import Conflict, NotFound
from exporter.model import ACTIVE
from exporter.store.placeholders import (
    check_organization_limit,
    ensure_organizations,
    live_organization_with_id,
    make_way_for_id,
    renamed_organization,
    renamed_user,
)
from exporter.store.schema import api_tokens, memberships, organizations, site_roles, users
from exporter.store.sql import one_of
from exporter.store.upsert import insert


@dataclasses.dataclass(frozen=True, slots=True)
class Organization:
    """An organization as the API shows it."""

    id: str
    name: str
    display_name: str
    placeholder: bool
    deleted: bool
    source: str | None = None


def _organization(row: sa.Row[tuple[object, ...]]) -> Organization:
    return Organization(
        id=row.id,
        name=row.name,
        display_name=row.display_name,
        placeholder=bool(row.placeholder),
        deleted=row.deleted_at is not None,
        source=row.source,
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
    """The organization with this id or else this name (an exact id match wins).

    Live organizations come first: a deleted one is found (its history stays in reports) only
    when no live organization has that id or name.
    """
    live = organizations.c.deleted_at.is_(None)
    by_id = organizations.c.id == id_or_name
    by_name = organizations.c.name == id_or_name.lower()
    for condition in (sa.and_(live, by_id), sa.and_(live, by_name), by_id, by_name):
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
    source: str | None = None,
) -> bool:
    """Create or replace an organization; ``True`` when it was created.

    A name held by a placeholder, or by a deleted organization, is taken from it (the holder
    is renamed with a hash suffix); a name held by another live organization is a conflict.
    So that ``org=`` means one organization, a name may not be a live organization's id, nor
    the id a live organization's name (``make_way_for_id``): ``409``; placeholders give way.
    Creating an organization, or undeleting one, counts against ``max_organizations``.
    ``source`` names the platform the record was read from (``None``: the API or CLI).
    """
    holder = (
        await connection.execute(
            sa.select(
                organizations.c.id, organizations.c.placeholder, organizations.c.deleted_at
            ).where(organizations.c.name == name)
        )
    ).first()
    if (
        holder is not None
        and holder.id != organization_id
        and not holder.placeholder
        and holder.deleted_at is None
    ):
        raise Conflict(f"Organization name {name!r} is taken by another organization.")
    if name != organization_id and await live_organization_with_id(connection, name):
        raise Conflict(
            f"Organization name {name!r} is the id of another organization; "
            "a name may not equal another organization's id."
        )
    await make_way_for_id(connection, organization_id)
    holder = (
        await connection.execute(
            sa.select(organizations.c.id).where(
                organizations.c.name == name, organizations.c.id != organization_id
            )
        )
    ).first()
    if holder is not None:  # a placeholder or deleted organization: it yields the name
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
    values = {
        "name": name,
        "display_name": display_name,
        "placeholder": False,
        "deleted_at": None,
        "source": source,
    }
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
    status: str = ACTIVE


_BATCH = 2000


async def put_users(
    connection: AsyncConnection,
    records: Mapping[str, UserRecord],
    *,
    now: float,
    max_organizations: int,
    source: str | None = None,
    deleted: Collection[str] = (),
) -> set[str]:
    """Create or fully replace users, a few statements however many; the ids created.

    Users are undeleted, except those listed in ``deleted``: a profile of a user the platform
    has deleted is written as deleted (from ``now`` unless it was already) and its tokens are
    revoked, so its username clashes with nobody. A username held by a placeholder is taken
    (the placeholder is renamed); held by another live user outside ``records``, it is a
    conflict. ``source`` names the platform the records were read from (``None``: the API or
    the command line).
    """
    created: set[str] = set()
    ids = sorted(records)
    for first in range(0, len(ids), _BATCH):
        batch = {user_id: records[user_id] for user_id in ids[first : first + _BATCH]}
        gone = {user_id for user_id in batch if user_id in deleted}
        await _take_usernames(
            connection, {i: r.username for i, r in batch.items() if i not in gone}
        )
        await ensure_organizations(
            connection,
            {org for record in batch.values() for org in record.organizations},
            now=now,
            max_organizations=max_organizations,
        )
        created |= await _upsert_users(connection, batch, gone, now=now, source=source)
        await _replace_roles(connection, batch)
        if gone:
            await _revoke_tokens(connection, gone, now=now)
    return created


async def _upsert_users(
    connection: AsyncConnection,
    batch: Mapping[str, UserRecord],
    gone: set[str],
    *,
    now: float,
    source: str | None,
) -> set[str]:
    """Insert or replace the users' rows; the ids that were new."""
    dialect = connection.dialect.name
    known = set(
        (
            await connection.execute(
                sa.select(users.c.id).where(one_of(users.c.id, sorted(batch), dialect))
            )
        ).scalars()
    )
    statement = insert(users, dialect)
    replaced = {
        name: statement.excluded[name]
        for name in (
            "username",
            "name",
            "avatar_hash",
            "status",
            "placeholder",
            "managed",
            "source",
        )
    }
    # Deleted stays deleted from when it first was; anything else is live again.
    replaced["deleted_at"] = sa.case(
        (statement.excluded.deleted_at.is_(None), None),
        else_=sa.func.coalesce(users.c.deleted_at, statement.excluded.deleted_at),
    )
    await connection.execute(
        statement.on_conflict_do_update(index_elements=["id"], set_=replaced),
        [
            {
                "id": user_id,
                "username": record.username,
                "name": record.name,
                "avatar_hash": record.avatar_hash,
                "status": record.status,
                "placeholder": False,
                "managed": True,
                "source": source,
                "created_at": int(now),
                "deleted_at": int(now) if user_id in gone else None,
            }
            for user_id, record in batch.items()
        ],
    )
    return set(batch) - known


async def _replace_roles(connection: AsyncConnection, batch: Mapping[str, UserRecord]) -> None:
    """The users' site roles and memberships become exactly those of their records."""
    dialect = connection.dialect.name
    ids = sorted(batch)
    await connection.execute(
        sa.delete(site_roles).where(one_of(site_roles.c.user_id, ids, dialect))
    )
    await connection.execute(
        sa.delete(memberships).where(one_of(memberships.c.user_id, ids, dialect))
    )
    roles = [
        {"user_id": user_id, "role": role}
        for user_id, record in batch.items()
        for role in sorted(set(record.roles))
    ]
    if roles:
        await connection.execute(sa.insert(site_roles), roles)
    members = [
        {"organization_id": org, "user_id": user_id, "roles": " ".join(sorted(set(org_roles)))}
        for user_id, record in batch.items()
        for org, org_roles in sorted(record.organizations.items())
    ]
    if members:
        await connection.execute(sa.insert(memberships), members)


async def _take_usernames(connection: AsyncConnection, wanted: Mapping[str, str]) -> None:
    """Free each wanted username (user id -> username) for the user that wants it.

    A placeholder holding one is renamed; so is a user of the batch that holds another's
    wanted username while changing its own (to ``~`` + its id until its own row is written,
    so that users of one batch may swap names). Anyone else holding one is a conflict.
    """
    if not wanted:
        return
    holders = await connection.execute(
        sa.select(users.c.id, users.c.username, users.c.placeholder).where(
            one_of(users.c.username, sorted(set(wanted.values())), connection.dialect.name),
            users.c.deleted_at.is_(None),
        )
    )
    claimed = {username: user_id for user_id, username in wanted.items()}
    for holder_id, username, placeholder in list(holders):
        if claimed[username] == holder_id:
            continue
        if holder_id in wanted:
            new_name = f"~{holder_id}"[:64]
        elif placeholder:
            new_name = await renamed_user(connection, username, holder_id)
        else:
            raise Conflict(f"Username {username!r} is taken by another user.")
        await connection.execute(
            sa.update(users).where(users.c.id == holder_id).values(username=new_name)
        )


async def _revoke_tokens(
    connection: AsyncConnection, user_ids: Collection[str], *, now: float
) -> None:
    await connection.execute(
        sa.update(api_tokens)
        .where(
            one_of(api_tokens.c.user_id, sorted(user_ids), connection.dialect.name),
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=int(now))
    )


async def delete_user(connection: AsyncConnection, user_id: str, *, now: float) -> None:
    """Mark a user deleted and revoke its tokens; its history stays in reports."""
    result = await connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.deleted_at.is_(None))
        .values(deleted_at=int(now))
    )
    if not result.rowcount:
        raise NotFound(f"User {user_id!r} does not exist.")
    await _revoke_tokens(connection, [user_id], now=now)


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


@dataclasses.dataclass(frozen=True, slots=True)
class DirectoryWrites:
    """Directory writes in one transaction (``connection``), at ``now``.

    Creating organizations counts against the store's limit, ``max_organizations``.
    """

    connection: AsyncConnection
    now: float
    max_organizations: int

    async def put_organization(
        self, organization_id: str, *, name: str, display_name: str, source: str | None = None
    ) -> bool:
        """``put_organization``: ``True`` when it was created."""
        return await put_organization(
            self.connection,
            organization_id,
            name=name,
            display_name=display_name,
            now=self.now,
            max_organizations=self.max_organizations,
            source=source,
        )

    async def put_user(self, user_id: str, record: UserRecord, *, now: float | None = None) -> bool:
        """Create or fully replace a user (undeleting it), at ``now`` when given.

        ``True`` when it was created.
        """
        created = await self.put_users({user_id: record}, now=now)
        return user_id in created

    async def put_users(
        self,
        records: Mapping[str, UserRecord],
        *,
        source: str | None = None,
        deleted: Collection[str] = (),
        now: float | None = None,
    ) -> set[str]:
        """``put_users``: the ids created."""
        return await put_users(
            self.connection,
            records,
            now=self.now if now is None else now,
            max_organizations=self.max_organizations,
            source=source,
            deleted=deleted,
        )
