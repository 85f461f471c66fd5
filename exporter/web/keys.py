"""Typed keys for what the application shares between handlers."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.config import Config
from exporter.counters import IngestCounters
from exporter.refresh import Refresher
from exporter.store import Store

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
INGEST_COUNTERS = web.AppKey("ingest_counters", IngestCounters)
REFRESHER = web.AppKey("refresher", Refresher)
LIVE_REGISTRY = web.AppKey("live_registry", CollectorRegistry)
