"""Rendering the exposition: the snapshot part once per refresh, the live part per scrape.

Each format (Prometheus text 0.0.4 and OpenMetrics 1.0) is rendered the first time a scrape
asks for it after a refresh and kept with the snapshot, so later scrapes only render the few
live samples and join bytes. Compressed, the snapshot part is deflated once and the
compressor's state kept: a scrape copies it and finishes the stream with the live part, so
the answer is one gzip member (some clients, curl among them, read only the first).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

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
_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


class Exposition:
    """The snapshot's families, each format rendered on first use and then kept.

    A refresh only collects the readings; a scraper asks for one format, usually gzip, so a
    refresh costs one rendering instead of four. OpenMetrics is kept without its ``# EOF``.
    """

    def __init__(self, readings: GaugeReadings | None) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(SnapshotCollector(readings))
        self._bodies: dict[bool, bytes] = {}
        self._deflated: dict[bool, tuple[bytes, Any]] = {}

    def body(self, *, openmetrics: bool) -> bytes:
        """The families in one format."""
        cached = self._bodies.get(openmetrics)
        if cached is None:
            if openmetrics:
                cached = _openmetrics(self._registry).removesuffix(_EOF)
            else:
                cached = generate_text(self._registry)
            self._bodies[openmetrics] = cached
        return cached

    def gzip_with(self, tail: bytes, *, openmetrics: bool) -> bytes:
        """One gzip member holding the families in one format followed by ``tail``."""
        deflated = self._deflated.get(openmetrics)
        if deflated is None:
            compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WINDOW)
            head = compressor.compress(self.body(openmetrics=openmetrics))
            deflated = (head + compressor.flush(zlib.Z_SYNC_FLUSH), compressor)
            self._deflated[openmetrics] = deflated
        head, compressor = deflated
        finishing = compressor.copy()
        return head + finishing.compress(tail) + finishing.flush()


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
        self._cache: dict[bool, tuple[float, object, bytes]] = {}

    def render(self, *, openmetrics: bool) -> bytes:
        """The live part (OpenMetrics ends with ``# EOF``)."""
        now = self._monotonic()
        version = self._version()
        cached = self._cache.get(openmetrics)
        if cached is not None and now - cached[0] < self.max_age and cached[1] == version:
            return cached[2]
        body = _openmetrics(self.registry) if openmetrics else generate_text(self.registry)
        self._cache[openmetrics] = (now, version, body)
        return body


def render_scrape(
    exposition: Exposition, live: LiveRenderer, *, openmetrics: bool, compress: bool
) -> tuple[bytes, str]:
    """The body and content type of one scrape."""
    content_type = OPENMETRICS_TYPE if openmetrics else TEXT_TYPE
    tail = live.render(openmetrics=openmetrics)
    if compress:
        return exposition.gzip_with(tail, openmetrics=openmetrics), content_type
    return exposition.body(openmetrics=openmetrics) + tail, content_type
