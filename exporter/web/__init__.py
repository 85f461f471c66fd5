"""``create_app(config)``: the aiohttp application with every route and resource."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from exporter.config import Config
from exporter.metrics import live_registry
from exporter.metrics_render import LiveRenderer
from exporter.process_state import IngestCounters
from exporter.refresh import Refresher
from exporter.sources import SyncScheduler
from exporter.sources.coder import CoderSource
from exporter.store import Clock, Store
from exporter.web import directory, ingest, me, metrics, openapi, ops, report, view
from exporter.web.bodies import MAX_BODY_BYTES
from exporter.web.errors import error_middleware
from exporter.web.keys import (
    CONFIG,
    INGEST_COUNTERS,
    LIVE_METRICS,
    REFRESHER,
    REPORT_GATE,
    SOURCES,
    STORE,
)
from exporter.web.report_gate import ReportGate

__all__ = ["create_app"]


def create_app(
    config: Config, *, clock: Clock = time.time, migrate: bool = True
) -> web.Application:
    """Build the application; the store opens (and migrates) when the app starts."""
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=MAX_BODY_BYTES + 1024,
        # Bodies are decoded by ``bodies.read_bytes``, where a bad or unknown encoding is a
        # JSON 400/415 (aiohttp's decoder answers those in plain text, or with a 500).
        handler_args={"auto_decompress": False},
    )
    app[CONFIG] = config
    app[INGEST_COUNTERS] = IngestCounters()
    app[REPORT_GATE] = ReportGate(running=config.report_concurrency, waiting=config.report_queue)
    app.cleanup_ctx.append(_store_context(config, clock, migrate=migrate))
    app.cleanup_ctx.append(_sources_context)
    app.cleanup_ctx.append(_refresher_context)
    view.install(app)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", metrics.get_metrics)
    app.router.add_post("/api/v1/activity", ingest.post_activity)
    app.router.add_get("/api/v1/me", me.get_me)
    app.router.add_get("/api/v1/organizations", directory.get_organizations)
    app.router.add_put("/api/v1/organizations/{id}", directory.put_organization)
    app.router.add_delete("/api/v1/organizations/{id}", directory.delete_organization)
    app.router.add_get("/api/v1/users", directory.get_users)
    app.router.add_put("/api/v1/users/{id}", directory.put_user)
    app.router.add_delete("/api/v1/users/{id}", directory.delete_user)
    app.router.add_get("/api/private/metrics/activity", report.get_activity_report)
    app.router.add_get(openapi.PATH, openapi.get_openapi)
    return app


_Context = Callable[[web.Application], AsyncIterator[None]]


def _store_context(config: Config, clock: Clock, *, migrate: bool) -> _Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        store = Store.open(config, clock=clock)
        if migrate:
            await store.migrate()
        app[STORE] = store
        yield
        await store.close()

    return context


async def _sources_context(app: web.Application) -> AsyncIterator[None]:
    """Sync each configured source in the background: a pass at start, then every interval."""
    config = app[CONFIG]
    schedulers = []
    if config.coder_database_url is not None:
        source = CoderSource(app[STORE], config)
        schedulers.append(SyncScheduler(source, app[STORE], interval=config.coder_sync_interval))
    app[SOURCES] = schedulers
    async with contextlib.AsyncExitStack() as stack:
        for scheduler in schedulers:
            stack.push_async_callback(scheduler.source.close)
            await stack.enter_async_context(scheduler.running())
        yield


async def _refresher_context(app: web.Application) -> AsyncIterator[None]:
    """Refresh once before serving (a failure only means usage_up 0), then in the background."""
    refresher = Refresher(app[STORE], interval=app[CONFIG].refresh_interval)
    app[REFRESHER] = refresher
    counters = app[INGEST_COUNTERS]
    sources = [scheduler.status for scheduler in app[SOURCES]]
    app[LIVE_METRICS] = LiveRenderer(
        live_registry(lambda: refresher.status, lambda: counters, lambda: sources),
        version=lambda: (
            dataclasses.astuple(refresher.status),
            dataclasses.astuple(counters),
            [dataclasses.astuple(status) for status in sources],
        ),
    )
    await refresher.refresh()
    async with refresher.running():
        yield
