"""Reading the directory for ``GET /api/v1/users`` and the command line."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.model import ALL_ORGANIZATIONS_KEY
from exporter.store.schema import last_seen, memberships, site_roles, users
from exporter.timeutil import format_utc

_anywhere = last_seen.alias("anywhere")
USERS_SEEN = users.outerjoin(
    _anywhere,
    sa.and_(
        _anywhere.c.organization_id == ALL_ORGANIZATIONS_KEY, _anywhere.c.user_id == users.c.id
    ),
)
"""``users`` with each user's "last seen" row of every organization (none: never active)."""

LAST_ACTIVITY = _anywhere.c.last_any.label("last_activity_at")
"""In ``USERS_SEEN``: the start of the user's newest active minute anywhere, NULL for none."""


async def list_users(
    connection: AsyncConnection,
    *,
    now: float,
    dormancy: float,
    organization_ids: Collection[str] | None = None,
    dormant_only: bool = False,
) -> list[dict[str, Any]]:
    """Live users (optionally members of some organizations), by username, as the API shows them.

    A user is dormant with no activity within ``dormancy`` of ``now``, counted from the last
    activity anywhere or, never active, from the user's creation.
    Narrowed to ``organization_ids``, ``last_activity_at`` is the newest activity in those
    organizations: a listing never shows when someone was active elsewhere.
    """
    query = (
        sa.select(users, LAST_ACTIVITY)
        .select_from(USERS_SEEN)
        .where(users.c.deleted_at.is_(None))
        .order_by(users.c.username)
    )
    if organization_ids is not None:
        scope = sorted(organization_ids)
        members = sa.select(memberships.c.user_id).where(memberships.c.organization_id.in_(scope))
        scoped = (
            sa.select(last_seen.c.user_id, sa.func.max(last_seen.c.last_any).label("last"))
            .where(last_seen.c.organization_id.in_(scope))
            .group_by(last_seen.c.user_id)
            .subquery("scoped")
        )
        query = (
            sa.select(users, LAST_ACTIVITY, scoped.c.last.label("scoped_last"))
            .select_from(USERS_SEEN.outerjoin(scoped, scoped.c.user_id == users.c.id))
            .where(users.c.deleted_at.is_(None), users.c.id.in_(members))
            .order_by(users.c.username)
        )
    rows = list(await connection.execute(query))
    ids = [row.id for row in rows]
    roles: dict[str, list[str]] = defaultdict(list)
    organizations: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for user_id, role in await connection.execute(
            sa.select(site_roles.c.user_id, site_roles.c.role)
            .where(site_roles.c.user_id.in_(chunk))
            .order_by(site_roles.c.role)
        ):
            roles[user_id].append(role)
        for user_id, org, org_roles in await connection.execute(
            sa.select(
                memberships.c.user_id, memberships.c.organization_id, memberships.c.roles
            ).where(memberships.c.user_id.in_(chunk))
        ):
            organizations[user_id][org] = org_roles.split()
    listed = []
    for row in rows:
        shown = row.scoped_last if organization_ids is not None else row.last_activity_at
        reference = row.last_activity_at if row.last_activity_at is not None else row.created_at
        dormant = reference <= now - dormancy
        if dormant_only and not dormant:
            continue
        listed.append(
            {
                "id": row.id,
                "username": row.username,
                "name": row.name,
                "avatar_hash": row.avatar_hash,
                "roles": roles[row.id],
                "organizations": organizations[row.id],
                "status": row.status,
                "last_activity_at": None if shown is None else format_utc(shown),
                "dormant": dormant,
                "placeholder": bool(row.placeholder),
            }
        )
    return listed
