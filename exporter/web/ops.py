"""Operational routes: liveness, readiness and the landing page."""

from __future__ import annotations

import html

from aiohttp import web

from exporter import __version__
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


_LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>usage-metrics</title></head>
<body>
<h1>usage-metrics {version}</h1>
<p>Active users of your developer platform, by action and organization.</p>
<ul>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li><code>GET /api/private/metrics/activity</code>: the activity report (token required)</li>
<li><code>POST /api/v1/activity</code>: ingest events (token required)</li>
<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a></li>
<li><a href="https://github.com/usage-metrics/usage-metrics#readme">Documentation</a></li>
</ul>
</body></html>
"""


async def landing(_request: web.Request) -> web.Response:
    """A small page linking to the metrics and the docs."""
    return web.Response(
        text=_LANDING.format(version=html.escape(__version__)), content_type="text/html"
    )
