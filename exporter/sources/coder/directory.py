"""Coder's organizations, users and memberships, mapped onto the directory and applied.

Each pass reads the whole directory (it is small next to activity) and writes only what
differs from the store, through the same calls as the directory API, in one transaction:

* an organization not deleted is PUT (id = its uuid, its name lower-cased, its display name);
  a deleted one, or one this source wrote that has vanished, is DELETEd;
* a user not deleted and not a system user is PUT with mapped roles and ``status``
  ``suspended`` when Coder says so (else ``active``: dormancy stays ours); a deleted user is
  kept as a deleted profile (written even when never seen, for reports); a user this source
  wrote that vanished is DELETEd. Records written through the API or CLI are left alone.

A name held by a record written elsewhere is not taken: this source's record gets the name
with a hash suffix instead, and a warning is logged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.errors import Conflict
from exporter.model import (
    ACTIVE,
    DEFAULT_ORGANIZATION_ROLE,
    SUSPENDED,
    check_username,
    is_valid_organization_name,
    placeholder_organization_names,
    suffixed_name,
)
from exporter.payloads import clean_text
from exporter.sources.coder.shape import CoderShape
from exporter.store import Store, directory, sources
from exporter.store.directory import UserRecord

SOURCE = "coder"
log = logging.getLogger("exporter.sources.coder")

SITE_ROLES: Mapping[str, str] = {
    "owner": "site-admin",
    "user-admin": "site-manager",
    "auditor": "site-auditor",
}
"""Coder site role (``users.rbac_roles``) -> site role; every user is also ``site-member``."""

ORGANIZATION_ROLES: Mapping[str, str] = {
    "organization-admin": "organization-admin",
    "organization-user-admin": "organization-manager",
    "organization-auditor": "organization-manager",
}
"""Coder organization role -> organization role; every member is ``organization-member``."""


@dataclasses.dataclass(frozen=True, slots=True)
class CoderOrganization:
    """A row of Coder's ``organizations``."""

    id: str
    name: str
    display_name: str
    is_default: bool
    deleted: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CoderUser:
    """A row of Coder's ``users``."""

    id: str
    username: str
    name: str
    status: str
    deleted: bool
    rbac_roles: tuple[str, ...]
    is_system: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CoderDirectory:
    """Coder's directory as one pass read it."""

    organizations: list[CoderOrganization]
    users: list[CoderUser]
    memberships: dict[str, dict[str, tuple[str, ...]]]  # user id -> organization id -> roles

    @property
    def default_organization(self) -> str | None:
        """Coder's default organization: logins of users with no membership go there."""
        return next((o.id for o in self.organizations if o.is_default and not o.deleted), None)

    @property
    def system_users(self) -> list[str]:
        """Ids of Coder's system users, whose activity is skipped."""
        return sorted(user.id for user in self.users if user.is_system)

    def login_organizations(self, default: str) -> dict[str, list[str]]:
        """User id -> the live organizations a login of that user counts in."""
        live = {o.id for o in self.organizations if not o.deleted}
        return {
            user: sorted(org for org in orgs if org in live) or [default]
            for user, orgs in self.memberships.items()
        }


def _organizations_sql(shape: CoderShape) -> str:
    deleted = "deleted" if shape.organizations_deleted else "false"
    return (
        "SELECT CAST(id AS text) AS id, name, display_name, is_default, "
        f"{deleted} AS deleted FROM organizations"
    )


def _users_sql(shape: CoderShape) -> str:
    system = "is_system" if shape.users_is_system else "false"
    return (
        "SELECT CAST(id AS text) AS id, username, name, CAST(status AS text) AS status, deleted, "
        f"CAST(rbac_roles AS text[]) AS rbac_roles, {system} AS is_system FROM users"
    )


_MEMBERSHIPS_SQL = (
    "SELECT CAST(user_id AS text) AS user_id, CAST(organization_id AS text) AS organization_id, "
    "CAST(roles AS text[]) AS roles FROM organization_members"
)


async def read_directory(connection: AsyncConnection, shape: CoderShape) -> CoderDirectory:
    """Read Coder's organizations, users and memberships."""
    organizations = [
        CoderOrganization(str(i), str(n), str(d), bool(default), bool(gone))
        for i, n, d, default, gone in await connection.execute(
            sa.text(f"{_organizations_sql(shape)} ORDER BY id")
        )
    ]
    users = [
        CoderUser(str(i), str(u), str(n), str(s), bool(d), tuple(r or ()), bool(sys_))
        for i, u, n, s, d, r, sys_ in await connection.execute(
            sa.text(f"{_users_sql(shape)} ORDER BY id")
        )
    ]
    memberships: dict[str, dict[str, tuple[str, ...]]] = {}
    for user_id, organization_id, roles in await connection.execute(sa.text(_MEMBERSHIPS_SQL)):
        memberships.setdefault(str(user_id), {})[str(organization_id)] = tuple(roles or ())
    return CoderDirectory(organizations, users, memberships)


async def read_digest(connection: AsyncConnection, shape: CoderShape) -> str:
    """A digest of every row and column ``read_directory`` reads, computed in Coder's database.

    Equal digests mean an equal directory, so a pass can skip reading it (tens of thousands of
    rows on a large deployment) when it has not changed since the last one.
    """
    parts = ", E'\\f', ".join(
        f"(SELECT string_agg(CAST(t AS text), E'\\n' ORDER BY {order}) FROM ({sql}) AS t)"
        for sql, order in (
            (_organizations_sql(shape), "t.id"),
            (_users_sql(shape), "t.id"),
            (_MEMBERSHIPS_SQL, "t.user_id, t.organization_id"),
        )
    )
    statement = sa.text(f"SELECT encode(sha256(convert_to(concat({parts}), 'UTF8')), 'hex')")
    return str((await connection.execute(statement)).scalar_one())


def site_roles(rbac_roles: tuple[str, ...]) -> list[str]:
    """The site roles of a Coder user."""
    return sorted({"site-member", *(SITE_ROLES[r] for r in rbac_roles if r in SITE_ROLES)})


def organization_roles(roles: tuple[str, ...]) -> list[str]:
    """The organization roles of a Coder membership."""
    mapped = (ORGANIZATION_ROLES[role] for role in roles if role in ORGANIZATION_ROLES)
    return sorted({DEFAULT_ORGANIZATION_ROLE, *mapped})


def organization_name(organization: CoderOrganization) -> str:
    """The name a Coder organization gets here (deleted ones step aside with a suffix)."""
    name = organization.name.lower()
    if is_valid_organization_name(name) and not organization.deleted:
        return name
    slug, suffixed = placeholder_organization_names(name or organization.id)
    return suffixed if organization.deleted or not is_valid_organization_name(slug) else slug


def user_record(
    user: CoderUser, memberships: Mapping[str, tuple[str, ...]], live: set[str]
) -> UserRecord:
    """The directory record of a Coder user (memberships of live organizations only)."""
    try:
        username = check_username(user.username)
    except ValueError:
        username = user.id
    return UserRecord(
        username=username,
        name=clean_text(user.name),
        avatar_hash="",
        roles=site_roles(user.rbac_roles),
        organizations={
            org: organization_roles(roles)
            for org, roles in sorted(memberships.items())
            if org in live
        },
        status=SUSPENDED if user.status == SUSPENDED else ACTIVE,
    )


async def apply_directory(store: Store, coder: CoderDirectory) -> int:
    """Make the store's directory follow Coder's; the number of records written."""
    async with store.write() as connection:
        return await _Applier(store, connection, coder).apply()


class _Applier:
    """One pass's directory changes, inside one transaction."""

    def __init__(self, store: Store, connection: AsyncConnection, coder: CoderDirectory) -> None:
        self.store = store
        self.connection = connection
        self.coder = coder
        self.now = store.clock()
        self.writes = store.directory(connection, now=self.now)
        self.changes = 0

    async def apply(self) -> int:
        await self._organizations()
        await self._users()
        return self.changes

    async def _organizations(self) -> None:
        stored = {
            org.id: org
            for org in await directory.list_organizations(self.connection, include_deleted=True)
        }
        wanted = {
            org.id: (organization_name(org), clean_text(org.display_name))
            for org in self.coder.organizations
        }
        # Names move out of the way first, so that organizations may swap names.
        await sources.rename_for_swap(
            self.connection,
            [
                org_id
                for org_id, (name, _) in wanted.items()
                if org_id in stored
                and stored[org_id].source == SOURCE
                and not stored[org_id].deleted
                and not _named(stored[org_id].name, name, org_id)
            ],
        )
        for org in self.coder.organizations:
            name, display_name = wanted[org.id]
            held = stored.get(org.id)
            same = (
                held is not None
                and held.source == SOURCE
                and not held.placeholder
                and _named(held.name, name, org.id)
                and held.display_name == display_name
                and held.deleted == org.deleted
            )
            if not same:
                await self._put_organization(org, name, display_name, held)
        for org_id, held in stored.items():
            if held.source == SOURCE and not held.deleted and org_id not in wanted:
                await self._delete_organization(org_id)

    async def _put_organization(
        self,
        org: CoderOrganization,
        name: str,
        display_name: str,
        stored: directory.Organization | None,
    ) -> None:
        if org.deleted:
            if stored is not None and stored.deleted and stored.source == SOURCE:
                return
            if stored is None or stored.source != SOURCE or not _named(stored.name, name, org.id):
                await self._put_organization_record(org.id, name, display_name)
            await self._delete_organization(org.id)
            return
        await self._put_organization_record(org.id, name, display_name)

    async def _put_organization_record(self, org_id: str, name: str, display_name: str) -> None:
        for attempt, candidate in enumerate((name, suffixed_name(name, org_id))):
            try:
                await self.writes.put_organization(
                    org_id, name=candidate, display_name=display_name, source=SOURCE
                )
            except Conflict:
                if attempt:
                    raise
                log.warning(
                    "a Coder organization's name is taken by one created through the API; "
                    "it gets a suffix",
                    extra={"organization_id": org_id, "name": name},
                )
                continue
            self.changes += 1
            return

    async def _delete_organization(self, org_id: str) -> None:
        if org_id == self.store.config.default_organization:
            log.warning(
                "Coder deleted the organization that is this service's default; it stays",
                extra={"organization_id": org_id},
            )
            return
        await directory.delete_organization(self.connection, org_id, now=self.now)
        self.changes += 1

    async def _users(self) -> None:
        stored = await sources.read_users(self.connection)
        live = {org.id for org in self.coder.organizations if not org.deleted}
        people = [user for user in self.coder.users if not user.is_system]
        # Usernames held by live users written elsewhere (API, command line) stay theirs.
        elsewhere = {
            held.username: user_id
            for user_id, held in stored.items()
            if held.source != SOURCE and not held.placeholder and not held.deleted
        }
        changed: dict[str, UserRecord] = {}
        for user in people:
            record = user_record(user, self.coder.memberships.get(user.id, {}), live)
            current = stored.get(user.id)
            if current is not None and _same_user(current, record, user):
                continue
            if not user.deleted and elsewhere.get(record.username, user.id) != user.id:
                log.warning(
                    "a Coder user's username is taken by a user created through the API; "
                    "it gets a suffix",
                    extra={"user_id": user.id, "username": record.username},
                )
                record = dataclasses.replace(
                    record, username=suffixed_name(record.username, user.id)
                )
            changed[user.id] = record
        await self.writes.put_users(
            changed,
            source=SOURCE,
            deleted={user.id for user in people if user.deleted},
        )
        self.changes += len(changed)
        coder_ids = {user.id for user in people}
        for user_id, held in stored.items():
            if held.source == SOURCE and not held.deleted and user_id not in coder_ids:
                await directory.delete_user(self.connection, user_id, now=self.now)
                self.changes += 1


def _named(held: str, wanted: str, owner_id: str) -> bool:
    """The record holds the name it wants, or the suffixed one it got when that was taken."""
    return held in (wanted, suffixed_name(wanted, owner_id))


def _same_user(current: sources.StoredUser, record: UserRecord, user: CoderUser) -> bool:
    return (
        current.source == SOURCE
        and not current.placeholder
        and current.deleted == user.deleted
        and _named(current.username, record.username, user.id)
        and current.name == record.name
        and current.avatar_hash == record.avatar_hash
        and current.status == record.status
        and current.site_roles == frozenset(record.roles)
        and dict(current.organizations)
        == {org: frozenset(roles) for org, roles in record.organizations.items()}
    )
