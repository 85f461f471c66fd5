"""Operational routes: liveness and readiness."""

from __future__ import annotations

import logging

from aiohttp import web

from exporter.errors import StoreUnavailable
from exporter.web.keys import STORE

log = logging.getLogger("exporter.web")


async def healthz(_request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """The store is reachable and migrated."""
    reason = await request.app[STORE].unready_reason()
    if reason is not None:
        log.warning("not ready: %s", reason)
        raise StoreUnavailable("The activity store is unreachable or not migrated.")
    return web.json_response({"status": "ready"})
