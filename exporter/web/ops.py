"""Operational routes: liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from exporter.errors import StoreUnavailable
from exporter.web.keys import STORE


async def healthz(_request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """The store is reachable and migrated."""
    if not await request.app[STORE].is_ready():
        raise StoreUnavailable("The activity store is unreachable or not migrated.")
    return web.json_response({"status": "ready"})
