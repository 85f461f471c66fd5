"""Rendering the exposition: the snapshot part once per refresh, the live part per scrape.

Both formats (Prometheus text 0.0.4 and OpenMetrics 1.0) are rendered when a snapshot is
made, plain and gzip-compressed, so a scrape only renders the few live samples and joins
bytes. Gzip members may be concatenated: a multi-member stream is valid gzip.
"""

from __future__ import annotations

import dataclasses
import gzip

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


def render_scrape(
    exposition: Exposition, live: CollectorRegistry, *, openmetrics: bool, compress: bool
) -> tuple[bytes, str]:
    """The body and content type of one scrape."""
    if openmetrics:
        tail = _openmetrics(live)  # ends with "# EOF"
        head = exposition.openmetrics_gzip if compress else exposition.openmetrics
        content_type = OPENMETRICS_TYPE
    else:
        tail = generate_text(live)
        head = exposition.text_gzip if compress else exposition.text
        content_type = TEXT_TYPE
    if compress:
        return head + gzip.compress(tail, 1, mtime=0), content_type
    return head + tail, content_type
