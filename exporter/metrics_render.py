"""Rendering the exposition: the snapshot part once per refresh, the live part per scrape.

Each format (Prometheus text 0.0.4 and OpenMetrics 1.0), plain or gzip-compressed, is
rendered the first time a scrape asks for it after a refresh and kept with the snapshot, so
later scrapes only render the few live samples and join bytes. Gzip members may be
concatenated: a multi-member stream is valid gzip.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.exposition import generate_latest as generate_text
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.metrics import SnapshotCollector
from exporter.store.gauges import GaugeReadings

TEXT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_EOF = b"# EOF\n"
_GZIP_LEVEL = 6


class Exposition:
    """The snapshot's families, each variant rendered on first use and then kept.

    A refresh only collects the readings; a scraper asks for one format, usually gzip, so a
    refresh costs one rendering instead of four. OpenMetrics is kept without its ``# EOF``.
    """

    def __init__(self, readings: GaugeReadings | None) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(SnapshotCollector(readings))
        self._bodies: dict[tuple[bool, bool], bytes] = {}

    def body(self, *, openmetrics: bool, compress: bool) -> bytes:
        """The families in one format, gzip-compressed when asked."""
        cached = self._bodies.get((openmetrics, compress))
        if cached is not None:
            return cached
        if compress:
            plain = self.body(openmetrics=openmetrics, compress=False)
            rendered = gzip.compress(plain, _GZIP_LEVEL, mtime=0)
        elif openmetrics:
            rendered = _openmetrics(self._registry).removesuffix(_EOF)
        else:
            rendered = generate_text(self._registry)
        self._bodies[(openmetrics, compress)] = rendered
        return rendered


def render_snapshot(readings: GaugeReadings | None) -> Exposition:
    """One refresh's families, ready to render in either format."""
    return Exposition(readings)


def _openmetrics(registry: CollectorRegistry) -> bytes:
    rendered: bytes = generate_openmetrics(registry)  # type: ignore[no-untyped-call]
    return rendered


def wants_openmetrics(accept: str) -> bool:
    """True when the scraper accepts OpenMetrics (Prometheus asks for it first)."""
    return any(
        part.split(";")[0].strip().lower() == "application/openmetrics-text"
        for part in accept.split(",")
    )


class LiveRenderer:
    """Renders the live registry again only when its values change or ``max_age`` passes.

    ``version`` returns something that changes whenever the service's own values do (refresh
    status, ingest counters), so those are never stale; only the process metrics (CPU, memory)
    may be up to ``max_age`` old, far below any scrape interval. A burst of scrapes renders once.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        version: Callable[[], object],
        max_age: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.max_age = max_age
        self._version = version
        self._monotonic = monotonic
        self._cache: dict[tuple[bool, bool], tuple[float, object, bytes]] = {}

    def render(self, *, openmetrics: bool, compress: bool) -> bytes:
        """The live part (OpenMetrics ends with ``# EOF``), gzip-compressed when asked."""
        now = self._monotonic()
        version = self._version()
        cached = self._cache.get((openmetrics, compress))
        if cached is not None and now - cached[0] < self.max_age and cached[1] == version:
            return cached[2]
        body = _openmetrics(self.registry) if openmetrics else generate_text(self.registry)
        if compress:
            body = gzip.compress(body, 1, mtime=0)
        self._cache[(openmetrics, compress)] = (now, version, body)
        return body


def render_scrape(
    exposition: Exposition, live: LiveRenderer, *, openmetrics: bool, compress: bool
) -> tuple[bytes, str]:
    """The body and content type of one scrape."""
    head = exposition.body(openmetrics=openmetrics, compress=compress)
    content_type = OPENMETRICS_TYPE if openmetrics else TEXT_TYPE
    return head + live.render(openmetrics=openmetrics, compress=compress), content_type
