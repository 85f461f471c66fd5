"""The collectors behind /metrics, filling the families of ``exporter.metric_families``.

``SnapshotCollector`` turns one refresh's readings into the usage families; it does no I/O.
``LiveCollector`` reports the process's own state (refresh status, ingest counters, sources),
which changes between refreshes. Both describe themselves from the same family table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter import metric_families as f
from exporter.model import ALL_ORGANIZATIONS_KEY, ANY, EVENT_CATEGORIES, Category
from exporter.process_state import IngestCounters, RefreshStatus
from exporter.sources.status import SourceStatus
from exporter.store.gauges import WINDOWS, GaugeReadings


class SnapshotCollector(Collector):
    """The usage families of one refresh."""

    def __init__(self, readings: GaugeReadings | None) -> None:
        self.readings = readings

    def describe(self) -> Iterator[Metric]:
        """The families, without samples."""
        return (family.new() for family in f.SNAPSHOT_FAMILIES)

    def collect(self) -> Iterator[Metric]:
        """Every organization x category x window, zeros included; ``any`` for the unions."""
        readings = self.readings
        if readings is None:
            return
        labels = {org.id: org.name for org in readings.organizations}
        gauge_orgs = [(ALL_ORGANIZATIONS_KEY, ANY), *labels.items()]
        categories = [Category.ANY, *EVENT_CATEGORIES]

        active = f.ACTIVE_USERS.new()
        for org_id, org_name in gauge_orgs:
            for category in categories:
                for window in WINDOWS:
                    value = readings.active_users.get((org_id, category, window), 0)
                    active.add_metric([org_name, category.token, window], value)
        yield active

        seconds = f.ACTIVITY_SECONDS.new()
        for org_id, org_name in labels.items():
            for category in EVENT_CATEGORIES:
                minutes = readings.total_minutes.get((org_id, category), 0)
                seconds.add_metric([org_name, category.token], minutes * 60.0)
        yield seconds

        for family, values in (
            (f.USERS, readings.users),
            (f.DORMANT_USERS, readings.dormant_users),
            (f.SUSPENDED_USERS, readings.suspended_users),
        ):
            counts = family.new()
            for org_id, org_name in gauge_orgs:
                counts.add_metric([org_name], values.get(org_id, 0))
            yield counts

        last = f.LAST_ACTIVITY.new()
        for org_id, org_name in gauge_orgs:
            for category in categories:
                minute = readings.last_activity.get((org_id, category))
                if minute is not None:
                    last.add_metric([org_name, category.token], minute)
        yield last

        info = f.ORGANIZATION_INFO.new()
        for org in readings.organizations:
            info.add_metric([org.name, org.id, org.display_name], 1)
        yield info


class LiveCollector(Collector):
    """The process's own state, read at scrape time."""

    def __init__(
        self,
        status: Callable[[], RefreshStatus],
        counters: Callable[[], IngestCounters],
        sources: Callable[[], Sequence[SourceStatus]] = tuple,
    ) -> None:
        self._status = status
        self._counters = counters
        self._sources = sources

    def describe(self) -> Iterator[Metric]:
        """The families, without samples (the source ones only when a source is configured)."""
        sources = bool(self._sources())
        return (
            family.new() for family in f.LIVE_FAMILIES if sources or family not in f.SOURCE_FAMILIES
        )

    def collect(self) -> Iterator[Metric]:
        """Refresh status, ingest counters and the configured sources' sync."""
        status = self._status()
        counters = self._counters()
        yield from _source_families(self._sources())
        yield _one(f.INGEST_EVENTS, counters.events_accepted)
        yield _one(f.INGEST_REJECTED, counters.batches_rejected)
        yield _one(f.UP, int(status.up))
        if status.last_success is not None:
            yield _one(f.LAST_REFRESH, status.last_success)
        if status.last_duration is not None:
            yield _one(f.REFRESH_DURATION, status.last_duration)
        yield _one(f.REFRESH_ERRORS, status.errors)


def _one(family: f.Family, value: float) -> Metric:
    """A family of one unlabelled sample."""
    metric = family.new()
    metric.add_metric([], value)
    return metric


def _source_families(statuses: Sequence[SourceStatus]) -> Iterator[Metric]:
    """``usage_source_*``: only for configured sources (none: no family at all)."""
    if not statuses:
        return
    up, success, events, errors = (family.new() for family in f.SOURCE_FAMILIES)
    for status in statuses:
        up.add_metric([status.source], int(status.up))
        if status.last_success is not None:
            success.add_metric([status.source], status.last_success)
        for table, count in sorted(status.events.items()):
            events.add_metric([status.source, table], count)
        errors.add_metric([status.source], status.errors)
    yield from (up, success, events, errors)


def live_registry(
    status: Callable[[], RefreshStatus],
    counters: Callable[[], IngestCounters],
    sources: Callable[[], Sequence[SourceStatus]] = tuple,
) -> CollectorRegistry:
    """A private registry with the live collector and the process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveCollector(status, counters, sources))
    ProcessCollector(registry=registry)
    return registry
