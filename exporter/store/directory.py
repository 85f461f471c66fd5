"""Organizations, users and memberships (SPEC 2 and 3.3), including placeholders.

Functions here run inside the caller's transaction and raise ``exporter.errors`` for
conflicts the client must hear about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.errors import BadRequest, Conflict, NotFound
from exporter.model import (
    DEFAULT_ORGANIZATION_ROLE,
    SERVICE_ROLE,
    is_valid_organization_name,
    placeholder_organization_names,
    suffixed_name,
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


_DIGEST_DIGITS = (6, 10, 16, 32)
"""Hash suffix lengths tried in turn: 6 as SPEC 2 says, longer in the rare case that is taken."""


async def _free_name(
    candidates: Iterable[str], taken: Callable[[str], Awaitable[bool]], what: str
) -> str:
    for candidate in candidates:
        if not await taken(candidate):
            return candidate
    raise Conflict(f"No free name is left for {what}.")  # pragma: no cover - needs SHA collisions


async def _placeholder_organization_name(connection: AsyncConnection, organization_id: str) -> str:
    """The slug of the id when it is valid and free, else the slug with a free hash suffix."""
    wanted, _ = placeholder_organization_names(organization_id)
    candidates = [wanted] if is_valid_organization_name(wanted) else []
    candidates += [placeholder_organization_names(organization_id, n)[1] for n in _DIGEST_DIGITS]
    return await _free_name(
        candidates,
        lambda name: _organization_name_taken(connection, name),
        f"organization {organization_id!r}",
    )


async def _renamed_organization(connection: AsyncConnection, name: str, owner_id: str) -> str:
    """A free ``name-<hash of owner_id>`` for an organization that yields ``name``."""
    return await _free_name(
        (suffixed_name(name, owner_id, n) for n in _DIGEST_DIGITS),
        lambda candidate: _organization_name_taken(connection, candidate),
        f"organization {owner_id!r}",
    )


async def _username_taken(connection: AsyncConnection, username: str) -> bool:
    query = sa.select(users.c.id).where(users.c.username == username, users.c.deleted_at.is_(None))
    return (await connection.execute(query)).first() is not None


async def _renamed_user(
    connection: AsyncConnection, username: str, owner_id: str, also_taken: Collection[str] = ()
) -> str:
    """A free ``username-<hash of owner_id>`` among live users (and ``also_taken``)."""

    async def taken(candidate: str) -> bool:
        return candidate in also_taken or await _username_taken(connection, candidate)

    return await _free_name(
        (suffixed_name(username, owner_id, n) for n in _DIGEST_DIGITS), taken, f"user {owner_id!r}"
    )


async def ensure_organizations(
    connection: AsyncConnection, ids: Collection[str], *, now: float, max_organizations: int
) -> None:
    """Create placeholders for the ids that are not organizations yet."""
    if not ids:
        return
    known = set(
        (
            await connection.execute(
                sa.select(organizations.c.id).where(organizations.c.id.in_(sorted(ids)))
            )
        ).scalars()
    )
    missing = sorted(set(ids) - known)
    if not missing:
        return
    await _check_organization_limit(connection, len(missing), max_organizations)
    for organization_id in missing:
        name = await _placeholder_organization_name(connection, organization_id)
        await connection.execute(
            insert(organizations, connection.dialect.name)
            .values(
                id=organization_id,
                name=name,
                display_name="",
                placeholder=True,
                created_at=int(now),
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )


async def _check_organization_limit(
    connection: AsyncConnection, adding: int, max_organizations: int
) -> None:
    count = (
        await connection.execute(
            sa.select(sa.func.count()).where(organizations.c.deleted_at.is_(None))
        )
    ).scalar_one()
    if count + adding > max_organizations:
        raise BadRequest(
            f"Creating {adding} organization(s) would exceed the limit of {max_organizations}.",
            detail="USAGE_METRICS_MAX_ORGANIZATIONS bounds the organization label's cardinality.",
        )


async def _organization_name_taken(connection: AsyncConnection, name: str) -> bool:
    query = sa.select(organizations.c.id).where(organizations.c.name == name)
    return (await connection.execute(query)).first() is not None


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
            .values(name=await _renamed_organization(connection, name, holder.id))
        )
    existing = (
        await connection.execute(
            sa.select(organizations.c.deleted_at).where(organizations.c.id == organization_id)
        )
    ).first()
    if existing is None or existing.deleted_at is not None:
        await _check_organization_limit(connection, 1, max_organizations)
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


_INSERT_PLACEHOLDER_USERS = sa.text(
    """
    INSERT INTO users (id, username, name, avatar_hash, placeholder, managed, created_at)
    SELECT id, username, '', '', true, false, :now
    FROM unnest(CAST(:ids AS text[]), CAST(:usernames AS text[])) AS new(id, username)
    ON CONFLICT (id) DO NOTHING
    """
)

_INSERT_IMPLICIT_MEMBERSHIPS = sa.text(
    """
    INSERT INTO memberships (organization_id, user_id, roles)
    SELECT pair.organization_id, pair.user_id, :role
    FROM unnest(CAST(:organizations AS text[]), CAST(:users AS text[]))
         AS pair(organization_id, user_id)
    JOIN users ON users.id = pair.user_id AND NOT users.managed
    ORDER BY pair.organization_id, pair.user_id
    ON CONFLICT (organization_id, user_id) DO NOTHING
    """
)


async def ensure_users(connection: AsyncConnection, ids: Collection[str], *, now: float) -> None:
    """Create placeholders for the ids that are not users yet (username = id when free)."""
    if not ids:
        return
    dialect = connection.dialect.name
    known = set(
        (
            await connection.execute(
                sa.select(users.c.id).where(one_of(users.c.id, sorted(ids), dialect))
            )
        ).scalars()
    )
    missing = sorted(set(ids) - known)
    if not missing:
        return
    taken = set(
        (
            await connection.execute(
                sa.select(users.c.username).where(
                    one_of(users.c.username, missing, dialect), users.c.deleted_at.is_(None)
                )
            )
        ).scalars()
    )
    usernames = {user_id: user_id for user_id in missing if user_id not in taken}
    for user_id in sorted(taken):  # rare: another live user has this id as username
        usernames[user_id] = await _renamed_user(
            connection, user_id, user_id, also_taken=set(usernames.values())
        )
    if dialect == "postgresql":
        await connection.execute(
            _INSERT_PLACEHOLDER_USERS,
            {"ids": missing, "usernames": [usernames[u] for u in missing], "now": int(now)},
        )
        return
    await connection.execute(
        insert(users, connection.dialect.name).on_conflict_do_nothing(index_elements=["id"]),
        [
            {
                "id": user_id,
                "username": usernames[user_id],
                "name": "",
                "avatar_hash": "",
                "placeholder": True,
                "managed": False,
                "created_at": int(now),
            }
            for user_id in missing
        ],
    )


async def add_implicit_memberships(
    connection: AsyncConnection, pairs: Collection[tuple[str, str]]
) -> None:
    """Users never PUT become members of every organization they have activity in."""
    if not pairs:
        return
    if connection.dialect.name == "postgresql":
        ordered = sorted(pairs)
        await connection.execute(
            _INSERT_IMPLICIT_MEMBERSHIPS,
            {
                "organizations": [org for org, _ in ordered],
                "users": [user for _, user in ordered],
                "role": DEFAULT_ORGANIZATION_ROLE,
            },
        )
        return
    unmanaged = set(
        (
            await connection.execute(
                sa.select(users.c.id).where(
                    users.c.id.in_(sorted({user for _, user in pairs})), users.c.managed.is_(False)
                )
            )
        ).scalars()
    )
    rows = [
        {"organization_id": org, "user_id": user, "roles": DEFAULT_ORGANIZATION_ROLE}
        for org, user in sorted(pairs)
        if user in unmanaged
    ]
    if rows:
        statement = insert(memberships, connection.dialect.name).on_conflict_do_nothing(
            index_elements=["organization_id", "user_id"]
        )
        await connection.execute(statement, rows)


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
            .values(username=await _renamed_user(connection, record.username, holder.id))
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
