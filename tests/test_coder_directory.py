"""The Coder source's directory: Coder's organizations, users and roles, followed pass by pass."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from exporter.config import normalize_database_url
from exporter.sources.coder.directory import read_digest
from exporter.sources.coder.shape import read_shape
from exporter.sources.coder.source import create_coder_engine
from exporter.store import Store, directory
from exporter.store.gauges import read_gauges
from exporter.store.sources import StoredUser, read_users
from tests.coder_support import DORMANCY, coder_config, scheduler
from tests.coderdb import sqlalchemy_url
from tests.coderdb.generate import CoderData
from tests.coderdb.timeline import connect
from tests.support import FakeClock

SITE = {"owner": "site-admin", "user-admin": "site-manager", "auditor": "site-auditor"}
ORGANIZATION = {
    "organization-admin": "organization-admin",
    "organization-user-admin": "organization-manager",
    "organization-auditor": "organization-manager",
}


@pytest.fixture
async def synced(
    database_url: str, coder: tuple[str, CoderData], clock: FakeClock
) -> AsyncIterator[Store]:
    """A store after one pass over the fixture."""
    url, _ = coder
    store = Store.open(coder_config(database_url, url), clock=clock)
    await store.migrate()
    await _pass(store)
    yield store
    await store.close()


async def _pass(store: Store) -> int:
    sync = scheduler(store, store.config)
    try:
        summary = await sync.run_pass(wait=True)
    finally:
        await sync.source.close()
    assert summary is not None
    return summary.directory_changes


async def _users(store: Store) -> dict[str, StoredUser]:
    async with store.read() as connection:
        return await read_users(connection)


async def _organizations(store: Store) -> dict[str, directory.Organization]:
    async with store.read() as connection:
        found = await directory.list_organizations(connection, include_deleted=True)
    return {org.id: org for org in found}


async def test_every_role_and_status_maps_as_documented(
    synced: Store, coder: tuple[str, CoderData]
) -> None:
    """Site and organization roles, suspended, dormant, deleted and system users map as told."""
    _, data = coder
    users = await _users(synced)
    live = {o.id for o in data.organizations if not o.deleted}
    for user in data.users:
        if user.is_system:
            assert user.id not in users
            continue
        stored = users[user.id]
        assert stored.source == "coder"
        assert stored.username == user.username
        assert stored.deleted == user.deleted
        assert stored.status == ("suspended" if user.status == "suspended" else "active")
        assert stored.site_roles == {
            "site-member",
            *(SITE[r] for r in user.rbac_roles if r in SITE),
        }
        memberships = {
            m.organization_id: {
                "organization-member",
                *(ORGANIZATION[r] for r in m.roles if r in ORGANIZATION),
            }
            for m in data.members
            if m.user_id == user.id and m.organization_id in live
        }
        assert stored.organizations == memberships
    assert users[data.users[6].id].name == "Zoë gnp.exe"  # the bidi override is dropped
    seen_roles = {role for user in users.values() for role in user.site_roles}
    assert seen_roles == {"site-admin", "site-manager", "site-auditor", "site-member"}
    organizations = await _organizations(synced)
    for org in data.organizations:
        stored_org = organizations[org.id]
        assert (stored_org.deleted, stored_org.source) == (org.deleted, "coder")
        if not org.deleted:
            assert (stored_org.name, stored_org.display_name) == (org.name, org.display_name)
    assert await _pass(synced) == 0  # nothing changed: nothing written


async def test_seats_count_members_without_suspended_users(
    synced: Store, coder: tuple[str, CoderData]
) -> None:
    """usage_users leaves suspended and system users out; usage_suspended_users counts them."""
    _, data = coder
    async with synced.read() as connection:
        readings = await read_gauges(connection, now=synced.clock(), dormancy=DORMANCY)
    people = [u for u in data.users if not u.deleted and not u.is_system]
    suspended = [u for u in people if u.status == "suspended"]
    assert readings.users["*"] == len(people) - len(suspended)
    assert readings.suspended_users["*"] == len(suspended) == 1
    default = next(o.id for o in data.organizations if o.is_default)
    assert readings.users[default] == len(people) - 1  # everyone is in the default one


async def test_renames_deletions_and_swaps_follow_coder(
    synced: Store, coder: tuple[str, CoderData]
) -> None:
    """The next pass renames, swaps names, suspends and deletes as Coder did."""
    url, data = coder
    team1, team2 = data.organizations[1], data.organizations[2]
    a, b, c, d = (u for u in data.users[7:11])
    with connect(url) as connection:
        connection.execute(
            "UPDATE organizations SET name = 'renamed', display_name = 'Renamed' WHERE id = %s",
            (team1.id,),
        )
        # Two users swap usernames; a third is suspended, a fourth deleted; a role is granted.
        connection.execute("UPDATE users SET username = 'swap' WHERE id = %s", (a.id,))
        connection.execute("UPDATE users SET username = %s WHERE id = %s", (a.username, b.id))
        connection.execute("UPDATE users SET username = %s WHERE id = %s", (b.username, a.id))
        connection.execute(
            "UPDATE users SET status = 'suspended', rbac_roles = '{auditor}' WHERE id = %s", (c.id,)
        )
        connection.execute("UPDATE users SET deleted = true WHERE id = %s", (d.id,))
        connection.execute("UPDATE organizations SET deleted = true WHERE id = %s", (team2.id,))
    assert await _pass(synced) >= 6
    users = await _users(synced)
    organizations = await _organizations(synced)
    assert organizations[team1.id].name == "renamed"
    assert organizations[team2.id].deleted
    assert (users[a.id].username, users[b.id].username) == (b.username, a.username)
    assert users[c.id].status == "suspended"
    assert "site-auditor" in users[c.id].site_roles
    assert users[d.id].deleted
    assert users[d.id].username == d.username
    assert all(
        team2.id not in u.organizations
        for u in users.values()
        if u.source == "coder" and not u.deleted
    )
    assert await _pass(synced) == 0


async def test_records_of_the_api_are_left_alone(
    synced: Store, coder: tuple[str, CoderData]
) -> None:
    """API users and organizations stay; a Coder username they hold gets a suffix instead."""
    url, data = coder
    async with synced.write() as connection:
        writes = synced.directory(connection)
        await writes.put_organization("ops", name="ops", display_name="")
        await writes.put_user("api-user", directory.UserRecord(username="newcomer"))
    newcomer = data.users[12]
    with connect(url) as connection:
        connection.execute("UPDATE users SET username = 'newcomer' WHERE id = %s", (newcomer.id,))
        # No longer one of Coder's people (a system user now): it vanishes from the directory.
        connection.execute("UPDATE users SET is_system = true WHERE id = %s", (data.users[13].id,))
    await _pass(synced)
    users = await _users(synced)
    organizations = await _organizations(synced)
    assert users["api-user"].username == "newcomer"
    assert users["api-user"].source is None
    assert users[newcomer.id].username.startswith("newcomer-")
    assert not organizations["ops"].deleted
    assert users[data.users[13].id].deleted
    assert await _pass(synced) == 0  # the suffixed name is stable


async def test_a_running_source_follows_a_directory_change_at_its_next_pass(
    database_url: str, coder: tuple[str, CoderData], clock: FakeClock
) -> None:
    """One long-lived source sees a change at once, not only when it rechecks the directory."""
    url, data = coder
    store = Store.open(coder_config(database_url, url), clock=clock)
    await store.migrate()
    sync = scheduler(store, store.config)
    try:
        await sync.run_pass(wait=True)
        unchanged = await sync.run_pass(wait=True)
        assert unchanged is not None
        assert unchanged.directory_changes == 0
        user = data.users[7]
        with connect(url) as connection:
            connection.execute("UPDATE users SET name = 'Someone Else' WHERE id = %s", (user.id,))
        changed = await sync.run_pass(wait=True)
        assert changed is not None
        assert changed.directory_changes == 1
        assert (await _users(store))[user.id].name == "Someone Else"
    finally:
        await sync.source.close()
        await store.close()


_ORGANIZATION = "(SELECT id FROM organizations WHERE NOT is_default ORDER BY id LIMIT 1)"
_FIRST_USER = "(SELECT id FROM users ORDER BY id LIMIT 1)"
_LAST_USER = "(SELECT id FROM users ORDER BY id DESC LIMIT 1)"
_MEMBER = "(SELECT user_id FROM organization_members ORDER BY user_id LIMIT 1)"
DIGESTED_CHANGES = [
    f"UPDATE organizations SET name = name || 'x' WHERE id = {_ORGANIZATION}",
    f"UPDATE organizations SET display_name = 'Other' WHERE id = {_ORGANIZATION}",
    f"UPDATE organizations SET is_default = true WHERE id = {_ORGANIZATION}",
    f"UPDATE organizations SET deleted = NOT deleted WHERE id = {_ORGANIZATION}",
    f"UPDATE users SET username = username || 'x' WHERE id = {_FIRST_USER}",
    f"UPDATE users SET name = 'A, (quoted) \"name\"' WHERE id = {_FIRST_USER}",
    f"UPDATE users SET status = 'dormant' WHERE id = {_LAST_USER}",
    f"UPDATE users SET deleted = NOT deleted WHERE id = {_FIRST_USER}",
    f"UPDATE users SET rbac_roles = '{{owner}}' WHERE id = {_LAST_USER}",
    f"UPDATE users SET is_system = NOT is_system WHERE id = {_LAST_USER}",
    f"UPDATE organization_members SET roles = '{{organization-admin}}' WHERE user_id = {_MEMBER}",
    f"DELETE FROM organization_members WHERE user_id = {_MEMBER}",
]


async def test_the_directory_digest_changes_with_every_column_read(
    coder: tuple[str, CoderData],
) -> None:
    """Each change to a row or column that ``read_directory`` reads gives a new digest."""
    url, _ = coder
    engine = create_coder_engine(normalize_database_url(sqlalchemy_url(url)))

    async def digest() -> str:
        async with engine.connect() as connection:
            return await read_digest(connection, await read_shape(connection))

    try:
        seen = [await digest()]
        assert await digest() == seen[0]  # nothing changed, nothing differs
        for change in DIGESTED_CHANGES:
            with connect(url) as connection:
                connection.execute(change)
            seen.append(await digest())
            assert seen[-1] != seen[-2], change
    finally:
        await engine.dispose()
