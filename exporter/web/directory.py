"""Directory routes (docs/api.md): organizations and users."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter import payloads
from exporter.auth import Principal
from exporter.errors import BadRequest, Forbidden, Validation, bad_field
from exporter.model import GUARDED_ROLES, check_id
from exporter.store import directory
from exporter.web.auth import principal
from exporter.web.bodies import read_json_object
from exporter.web.keys import CONFIG, STORE


async def _writer(request: web.Request) -> Principal:
    who = await principal(request)
    if not who.writes:
        raise Forbidden("Changing the directory needs the site-admin or activity-writer role.")
    return who


async def _reader(request: web.Request) -> Principal:
    who = await principal(request)
    if not who.reads_everything and not who.readable_organizations:
        raise Forbidden("Reading the directory needs a site reader or organization admin role.")
    return who


def _path_id(request: web.Request) -> str:
    try:
        return check_id(request.match_info["id"])
    except ValueError as error:
        raise bad_field("id", str(error), "The id in the path is invalid.") from None


async def put_organization(request: web.Request) -> web.Response:
    """Create or replace an organization: 201 when created, 200 when replaced."""
    await _writer(request)
    organization_id = _path_id(request)
    name, display_name = payloads.organization(await read_json_object(request))
    store = request.app[STORE]
    async with store.write() as connection:
        created = await store.directory(connection).put_organization(
            organization_id, name=name, display_name=display_name
        )
    body = {"id": organization_id, "name": name, "display_name": display_name, "placeholder": False}
    return web.json_response(body, status=201 if created else 200)


async def delete_organization(request: web.Request) -> web.Response:
    """Delete an organization (never the default one)."""
    await _writer(request)
    organization_id = _path_id(request)
    if organization_id == request.app[CONFIG].default_organization:
        raise BadRequest("The default organization cannot be deleted.")
    store = request.app[STORE]
    async with store.write() as connection:
        await directory.delete_organization(connection, organization_id, now=store.clock())
    return web.Response(status=204)


async def readable_organizations(
    connection: AsyncConnection, who: Principal
) -> list[directory.Organization]:
    """The live organizations whose report and directory this principal may read, by name."""
    found = await directory.list_organizations(connection)
    return [org for org in found if who.reads_organization(org.id)]


async def get_organizations(request: web.Request) -> web.Response:
    """Organizations this reader may see."""
    who = await _reader(request)
    async with request.app[STORE].read() as connection:
        found = await readable_organizations(connection, who)
    return web.json_response(
        {
            "organizations": [
                {
                    "id": org.id,
                    "name": org.name,
                    "display_name": org.display_name,
                    "placeholder": org.placeholder,
                }
                for org in found
            ]
        }
    )


async def put_user(request: web.Request) -> web.Response:
    """Create or fully replace a user: 201 when created, 200 when replaced."""
    who = await _writer(request)
    user_id = _path_id(request)
    record = payloads.user(await read_json_object(request))
    if not who.is_site_admin and _guarded(set(record.roles), record.organizations):
        raise Forbidden(
            "Only a site admin may grant a role that reads reports or activity-writer; "
            "an activity writer grants member roles only."
        )
    store = request.app[STORE]
    async with store.write() as connection:
        await _forbid_touching_privileged(connection, who, user_id)
        created = await store.directory(connection).put_user(user_id, record)
    body = {
        "id": user_id,
        "username": record.username,
        "name": record.name,
        "avatar_hash": record.avatar_hash,
        "roles": list(record.roles),
        "organizations": {org: list(roles) for org, roles in record.organizations.items()},
        "status": record.status,
    }
    return web.json_response(body, status=201 if created else 200)


async def delete_user(request: web.Request) -> web.Response:
    """Delete a user: it stops counting as a seat and its tokens stop working."""
    who = await _writer(request)
    user_id = _path_id(request)
    store = request.app[STORE]
    async with store.write() as connection:
        await _forbid_touching_privileged(connection, who, user_id)
        await directory.delete_user(connection, user_id, now=store.clock())
    return web.Response(status=204)


def _guarded(site: Collection[str], organizations: Mapping[str, Collection[str]]) -> bool:
    """Any of these roles is one only a site admin may grant, remove or change."""
    return bool(
        GUARDED_ROLES.intersection(site)
        or any(GUARDED_ROLES.intersection(roles) for roles in organizations.values())
    )


async def _forbid_touching_privileged(
    connection: AsyncConnection, who: Principal, user_id: str
) -> None:
    """An activity writer may not change (or demote, or delete) a user who holds a guarded role."""
    if who.is_site_admin:
        return
    site, organizations = await directory.roles_of(connection, user_id)
    if _guarded(site, organizations):
        raise Forbidden("Only a site admin may change a user who reads reports or writes activity.")


async def get_users(request: web.Request) -> web.Response:
    """Users this reader may see; ``?org=`` narrows, ``?dormant=true`` keeps dormant ones."""
    who = await _reader(request)
    store = request.app[STORE]
    repeated = [name for name in ("org", "dormant") if len(request.query.getall(name, [])) > 1]
    if repeated:
        raise BadRequest(
            f"Parameter {repeated[0]!r} is given more than once.",
            validations=[Validation(name, "is given more than once") for name in repeated],
        )
    dormant = request.query.get("dormant", "false").lower()
    if dormant not in ("true", "false"):
        raise bad_field("dormant", "must be true or false")
    wanted = request.query.get("org", "")  # empty: every organization, as in the report
    if wanted:
        try:
            check_id(wanted)
        except ValueError:
            raise bad_field("org", "must be an organization id or name") from None
    async with store.read() as connection:
        scope: set[str] | None = None
        if wanted:
            org = await directory.find_organization(connection, wanted)
            if not who.reads_organization(org.id):
                raise Forbidden(f"You may not read organization {org.name!r}.")
            scope = {org.id}
        elif not who.reads_everything:
            scope = set(who.readable_organizations)
        found = await store.list_users(
            connection,
            organization_ids=scope,
            dormant_only=dormant == "true",
        )
    if not who.reads_everything:  # an organization admin sees only its organizations' roles
        readable = who.readable_organizations
        for user in found:
            user["organizations"] = {
                org: roles for org, roles in user["organizations"].items() if org in readable
            }
    return web.json_response({"users": found})
