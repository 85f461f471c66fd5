"""Placeholders: users and organizations that events name before the directory does.

An event (or a user's ``organizations`` map) naming an unknown user or organization creates it
as a placeholder so that nothing is lost (docs/api.md): a user's username is its id, an
organization's name is its id slugified, with a hash suffix when that is invalid or taken.
Users never PUT become members of every organization they have activity in. Also here: the
renames that keep names unique when a PUT takes a placeholder's name, and the organization
limit. Functions run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.errors import BadRequest, Conflict
from exporter.model import (
    DEFAULT_ORGANIZATION_ROLE,
    is_valid_organization_name,
    placeholder_organization_names,
    suffixed_name,
)
from exporter.store.schema import memberships, organizations, users
from exporter.store.sql import array_parameter, one_of
from exporter.store.upsert import insert

_DIGEST_DIGITS = (6, 10, 16, 32)
"""Hash suffix lengths tried in turn: 6 as documented, longer in the rare case that is taken."""


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


async def renamed_organization(connection: AsyncConnection, name: str, owner_id: str) -> str:
    """A free ``name-<hash of owner_id>`` for an organization that yields ``name``."""
    return await _free_name(
        (suffixed_name(name, owner_id, n) for n in _DIGEST_DIGITS),
        lambda candidate: _organization_name_taken(connection, candidate),
        f"organization {owner_id!r}",
    )


async def _username_taken(connection: AsyncConnection, username: str) -> bool:
    query = sa.select(users.c.id).where(users.c.username == username, users.c.deleted_at.is_(None))
    return (await connection.execute(query)).first() is not None


async def renamed_user(
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
    await check_organization_limit(connection, len(missing), max_organizations)
    for organization_id in missing:
        await make_way_for_id(connection, organization_id)
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


async def check_organization_limit(
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
    """A name is taken when another organization has it as its name or as its id."""
    query = sa.select(organizations.c.id).where(
        sa.or_(organizations.c.name == name, organizations.c.id == name)
    )
    return (await connection.execute(query)).first() is not None


async def live_organization_with_id(connection: AsyncConnection, name: str) -> str | None:
    """``name`` when it is the id of a live organization that is not a placeholder."""
    query = sa.select(organizations.c.id).where(
        organizations.c.id == name,
        organizations.c.deleted_at.is_(None),
        organizations.c.placeholder.is_(False),
    )
    return (await connection.execute(query)).scalars().first()


async def make_way_for_id(connection: AsyncConnection, organization_id: str) -> None:
    """Keep ``org=`` meaning one organization when ``organization_id`` comes into use (docs/api.md).

    An organization id may not equal another organization's name: a placeholder or deleted
    organization holding that name gives way (it is renamed with a hash suffix); a live one
    makes it a ``409``.
    """
    holder = (
        await connection.execute(
            sa.select(
                organizations.c.id,
                organizations.c.name,
                organizations.c.placeholder,
                organizations.c.deleted_at,
            ).where(
                organizations.c.name == organization_id,
                organizations.c.id != organization_id,
            )
        )
    ).first()
    if holder is None:
        return
    if not holder.placeholder and holder.deleted_at is None:
        raise Conflict(
            f"Organization id {organization_id[:64]!r} is the name of organization "
            f"{holder.id!r}; an id may not equal another organization's name.",
            detail="Send the organization's id, not its name.",
        )
    await connection.execute(
        sa.update(organizations)
        .where(organizations.c.id == holder.id)
        .values(name=await renamed_organization(connection, holder.name, holder.id))
    )


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
    FROM unnest(string_to_array(:organizations, ','), string_to_array(:users, ','))
         AS pair(organization_id, user_id)
    JOIN users ON users.id = pair.user_id AND NOT users.managed
    ORDER BY pair.organization_id COLLATE "C", pair.user_id COLLATE "C"
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
        usernames[user_id] = await renamed_user(
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
        listed = list(pairs)  # the statement sorts them
        await connection.execute(
            _INSERT_IMPLICIT_MEMBERSHIPS,
            {
                "organizations": array_parameter(org for org, _ in listed),
                "users": array_parameter(user for _, user in listed),
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
