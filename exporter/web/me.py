"""``GET /api/v1/me``: who a token belongs to and which organizations it may read.

Any valid token may ask (a token that reads nothing learns that it reads nothing); the
Metrics view uses it to offer "Any" only to readers of every organization.
"""

from __future__ import annotations

from aiohttp import web

from exporter.store import directory
from exporter.web.auth import principal
from exporter.web.directory import readable_organizations
from exporter.web.keys import STORE


async def get_me(request: web.Request) -> web.Response:
    """The token's user, its site roles, and the organizations whose report it may read."""
    who = await principal(request)
    async with request.app[STORE].read() as connection:
        username, name = await directory.names_of(connection, who.user_id)
        readable = await readable_organizations(connection, who)
    return web.json_response(
        {
            "id": who.user_id,
            "username": username,
            "name": name,
            "roles": sorted(who.site_roles),
            "reads_every_organization": who.reads_everything,
            "readable_organizations": [org.id for org in readable],
        }
    )
