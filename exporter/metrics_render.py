"""Rendering the exposition: the snapshot part once per refresh, the live part per scrape.

Both formats (Prometheus text 0.0.4 and OpenMetrics 1.0) are rendered when a snapshot is
made, plain and gzip-compressed, so a scrape only renders the few live samples and joins
bytes. Gzip members may be concatenated: a multi-member stream is valid gzip.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True, slots=True)
class Exposition:
    """The snapshot's families, rendered; OpenMetrics without its ``# EOF`` line."""

    text: bytes
    openmetrics: bytes
    text_gzip: bytes
    openmetrics_gzip: bytes


def render_snapshot(readings: GaugeReadings | None) -> Exposition:
    """Render one refresh's families in both formats, plain and gzip."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(readings))
    text = generate_text(registry)
    openmetrics = _openmetrics(registry).removesuffix(_EOF)
    return Exposition(
        text=text,
        openmetrics=openmetrics,
        text_gzip=gzip.compress(text, _GZIP_LEVEL, mtime=0),
        openmetrics_gzip=gzip.compress(openmetrics, _GZIP_LEVEL, mtime=0),
    )


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
    if openmetrics:
        head = exposition.openmetrics_gzip if compress else exposition.openmetrics
        content_type = OPENMETRICS_TYPE
    else:
        head = exposition.text_gzip if compress else exposition.text
        content_type = TEXT_TYPE
    return head + live.render(openmetrics=openmetrics, compress=compress), content_type
