"""Typed keys for what the application shares between handlers."""

from __future__ import annotations

from aiohttp import web

from exporter.config import Config
from exporter.metrics_render import LiveRenderer
from exporter.process_state import IngestCounters
from exporter.refresh import Refresher
from exporter.sources import SyncScheduler
from exporter.store import Store
from exporter.web.assets import Assets
from exporter.web.report_gate import ReportGate

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
INGEST_COUNTERS = web.AppKey("ingest_counters", IngestCounters)
REFRESHER = web.AppKey("refresher", Refresher)
LIVE_METRICS = web.AppKey("live_metrics", LiveRenderer)
SOURCES = web.AppKey("sources", list[SyncScheduler])
REPORT_GATE = web.AppKey("report_gate", ReportGate)
VIEW_ASSETS = web.AppKey("view_assets", Assets)
VIEW_PAGE = web.AppKey("view_page", bytes)
