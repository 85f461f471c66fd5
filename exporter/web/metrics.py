"""``GET /metrics``: the exposition, never waiting on the store."""

from __future__ import annotations

import hmac

from aiohttp import web

from exporter.errors import Unauthorized
from exporter.metrics_render import render_scrape, wants_openmetrics
from exporter.web.keys import CONFIG, LIVE_METRICS, REFRESHER


async def get_metrics(request: web.Request) -> web.Response:
    """Serve the last snapshot's families plus the live ones, negotiated and maybe gzipped."""
    expected = request.app[CONFIG].metrics_token
    if expected is not None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode("utf-8", "surrogateescape"), expected.encode()
        ):
            raise Unauthorized(
                "/metrics needs Authorization: Bearer <USAGE_METRICS_METRICS_TOKEN>."
            )
    compress = "gzip" in request.headers.get("Accept-Encoding", "").lower()
    body, content_type = render_scrape(
        request.app[REFRESHER].exposition,
        request.app[LIVE_METRICS],
        openmetrics=wants_openmetrics(request.headers.get("Accept", "")),
        compress=compress,
    )
    response = web.Response(body=body, headers={"Content-Type": content_type})
    if compress:
        response.headers["Content-Encoding"] = "gzip"
    return response
