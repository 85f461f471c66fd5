"""``orgs`` and ``users`` commands."""

from __future__ import annotations

import argparse
import uuid

from exporter.cli.common import CommandError, print_table, run_with_store
from exporter.errors import ApiError
from exporter.model import (
    DEFAULT_ORGANIZATION_ROLE,
    ORGANIZATION_ROLES,
    SITE_ROLES,
    check_id,
    check_organization_name,
    check_username,
)
from exporter.store import Store, directory


def orgs_create(args: argparse.Namespace) -> int:
    """Create (or replace) an organization; prints its id."""
    try:
        name = check_organization_name(args.name)
        organization_id = check_id(args.id or name)
    except ValueError as error:
        raise CommandError(f"invalid organization: {error}") from None

    async def work(store: Store) -> None:
        async with store.write() as connection:
            await store.directory(connection).put_organization(
                organization_id, name=name, display_name=args.display_name or ""
            )

    run_with_store(args, work)
    print(organization_id)
    return 0


def orgs_list(args: argparse.Namespace) -> int:
    """Print the organizations as a table."""

    async def work(store: Store) -> list[directory.Organization]:
        async with store.read() as connection:
            return await directory.list_organizations(connection)

    rows: list[tuple[str, ...]] = [("ID", "NAME", "DISPLAY NAME", "PLACEHOLDER")]
    rows += [
        (o.id, o.name, o.display_name, "yes" if o.placeholder else "no")
        for o in run_with_store(args, work, migrate=False)
    ]
    print_table(rows)
    return 0


def _membership(text: str) -> tuple[str, str]:
    organization, _, role = text.partition(":")
    role = role or DEFAULT_ORGANIZATION_ROLE
    if role not in ORGANIZATION_ROLES:
        raise CommandError(
            f"unknown organization role {role!r}; roles: {', '.join(sorted(ORGANIZATION_ROLES))}"
        )
    return organization, role


def users_create(args: argparse.Namespace) -> int:
    """Create (or replace) a user; prints its id."""
    try:
        username = check_username(args.username)
        user_id = check_id(args.id or str(uuid.uuid4()))
    except ValueError as error:
        raise CommandError(f"invalid user: {error}") from None
    unknown = sorted(set(args.role) - SITE_ROLES)
    if unknown:
        raise CommandError(
            f"unknown site role {unknown[0]!r}; roles: {', '.join(sorted(SITE_ROLES))}"
        )
    wanted = [_membership(text) for text in args.org]

    async def work(store: Store) -> None:
        async with store.write() as connection:
            organizations: dict[str, list[str]] = {}
            for organization, role in wanted:
                found = await directory.find_organization(connection, organization)
                organizations.setdefault(found.id, []).append(role)
            await store.directory(connection).put_user(
                user_id,
                directory.UserRecord(
                    username=username,
                    name=args.name or "",
                    roles=sorted(set(args.role)),
                    organizations=organizations,
                    status=args.status,
                ),
            )

    run_with_store(args, work)
    print(user_id)
    return 0


def users_list(args: argparse.Namespace) -> int:
    """Print the users as a table."""

    async def work(store: Store) -> list[dict[str, object]]:
        async with store.read() as connection:
            return await store.list_users(connection)

    rows: list[tuple[str, ...]] = [
        ("ID", "USERNAME", "NAME", "ROLES", "ORGANIZATIONS", "STATUS", "LAST ACTIVITY", "DORMANT")
    ]
    for user in run_with_store(args, work, migrate=False):
        rows.append(
            (
                str(user["id"]),
                str(user["username"]),
                str(user["name"]),
                ",".join(user["roles"]),  # type: ignore[arg-type]
                ",".join(user["organizations"]),  # type: ignore[arg-type]
                str(user["status"]),
                str(user["last_activity_at"] or "never"),
                "yes" if user["dormant"] else "no",
            )
        )
    print_table(rows)
    return 0


def users_delete(args: argparse.Namespace) -> int:
    """Delete a user by id or username."""

    async def work(store: Store) -> str:
        async with store.write() as connection:
            user_id = await directory.find_user_id(connection, args.user)
            await directory.delete_user(connection, user_id, now=store.clock())
            return user_id

    try:
        print(run_with_store(args, work))
    except ApiError as error:  # pragma: no cover - run_with_store converts these
        raise CommandError(error.message) from None
    return 0
