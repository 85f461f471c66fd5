"""Prometheus metric families (SPEC 4), built fresh from data on every ``collect()``.

``SnapshotCollector`` turns one refresh's readings into the usage families; it does no I/O.
``LiveCollector`` reports the process's own state (refresh status, ingest counters), which
changes between refreshes. Neither ever carries a per-user label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.counters import IngestCounters
from exporter.model import ALL_ORGANIZATIONS_KEY, ANY, EVENT_CATEGORIES, Category
from exporter.sources.status import SourceStatus
from exporter.store.gauges import WINDOWS, GaugeReadings

if TYPE_CHECKING:
    from exporter.refresh import RefreshStatus

_NOT_SUMMABLE = " Distinct count: never sum() it across organization, category or window."


class SnapshotCollector(Collector):
    """The usage families of one refresh."""

    def __init__(self, readings: GaugeReadings | None) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        """Every organization x category x window, zeros included; ``any`` for the unions."""
        readings = self.readings
        if readings is None:
            return
        labels = {org.id: org.name for org in readings.organizations}
        gauge_orgs = [(ALL_ORGANIZATIONS_KEY, ANY), *labels.items()]
        categories = [Category.ANY, *EVENT_CATEGORIES]

        active = GaugeMetricFamily(
            "usage_active_users",
            "Distinct users with at least one active minute in the rolling window ending at "
            "the last refresh." + _NOT_SUMMABLE,
            labels=["organization", "category", "window"],
        )
        for org_id, org_name in gauge_orgs:
            for category in categories:
                for window in WINDOWS:
                    value = readings.active_users.get((org_id, category, window), 0)
                    active.add_metric([org_name, category.token, window], value)
        yield active

        seconds = CounterMetricFamily(
            "usage_activity_seconds",
            "Active time ever recorded, 60 s per active minute; summed over categories it is "
            "time per action (a minute in two actions counts in both). Never decreases.",
            labels=["organization", "category"],
        )
        for org_id, org_name in labels.items():
            for category in EVENT_CATEGORIES:
                minutes = readings.total_minutes.get((org_id, category), 0)
                seconds.add_metric([org_name, category.token], minutes * 60.0)
        yield seconds

        for name, values, text in (
            (
                "usage_users",
                readings.users,
                "Users in the directory (members of the organization); deleted and suspended "
                "users and service accounts excluded.",
            ),
            (
                "usage_dormant_users",
                readings.dormant_users,
                "Of those, users with no activity within the dormancy period (counted from "
                "their creation when never active).",
            ),
            (
                "usage_suspended_users",
                readings.suspended_users,
                "Suspended members of the organization (not seats: not in usage_users).",
            ),
        ):
            family = GaugeMetricFamily(name, text + _NOT_SUMMABLE, labels=["organization"])
            for org_id, org_name in gauge_orgs:
                family.add_metric([org_name], values.get(org_id, 0))
            yield family

        last = GaugeMetricFamily(
            "usage_last_activity_timestamp_seconds",
            "Start of the newest active minute recorded (Unix time).",
            labels=["organization", "category"],
        )
        for org_id, org_name in gauge_orgs:
            for category in categories:
                minute = readings.last_activity.get((org_id, category))
                if minute is not None:
                    last.add_metric([org_name, category.token], minute)
        yield last

        info = GaugeMetricFamily(
            "usage_organization_info",
            "Always 1: joins organization names to ids and display names.",
            labels=["organization", "organization_id", "display_name"],
        )
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

    def collect(self) -> Iterator[Metric]:
        """Refresh status, ingest counters and the configured sources' sync."""
        status = self._status()
        counters = self._counters()
        yield from _source_families(self._sources())
        yield CounterMetricFamily(
            "usage_ingest_events",
            "Events accepted by this process.",
            value=counters.events_accepted,
        )
        yield CounterMetricFamily(
            "usage_ingest_rejected_batches",
            "Batches this process refused for bad input.",
            value=counters.batches_rejected,
        )
        yield GaugeMetricFamily(
            "usage_up",
            "1 when the last refresh from the store succeeded, else 0.",
            value=int(status.up),
        )
        if status.last_success is not None:
            yield GaugeMetricFamily(
                "usage_last_refresh_timestamp_seconds",
                "When the last successful refresh finished (Unix time).",
                value=status.last_success,
            )
        if status.last_duration is not None:
            yield GaugeMetricFamily(
                "usage_refresh_duration_seconds",
                "How long the last successful refresh took.",
                value=status.last_duration,
            )
        yield CounterMetricFamily(
            "usage_refresh_errors", "Refreshes that failed.", value=status.errors
        )


def _source_families(statuses: Sequence[SourceStatus]) -> Iterator[Metric]:
    """``usage_source_*``: only for configured sources (none: no family at all)."""
    if not statuses:
        return
    up = GaugeMetricFamily(
        "usage_source_up",
        "1 when the last sync pass of the source (by any replica) succeeded, else 0.",
        labels=["source"],
    )
    success = GaugeMetricFamily(
        "usage_source_last_success_timestamp_seconds",
        "When the last successful sync pass of the source finished (Unix time).",
        labels=["source"],
    )
    events = CounterMetricFamily(
        "usage_source_events",
        "Rows of each source table that this process turned into activity.",
        labels=["source", "table"],
    )
    errors = CounterMetricFamily(
        "usage_source_errors", "Sync passes of this process that failed.", labels=["source"]
    )
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


def exported_metric_names() -> frozenset[str]:
    """Names of every sample the service can export (counters with ``_total``)."""
    from exporter.refresh import RefreshStatus  # noqa: PLC0415  (refresh imports this module)
    from exporter.store.gauges import LiveOrganization  # noqa: PLC0415

    readings = GaugeReadings(
        organizations=[LiveOrganization("o", "o", "")],
        active_users={},
        last_activity={(ALL_ORGANIZATIONS_KEY, Category.ANY): 0},
        total_minutes={},
        users={},
        dormant_users={},
        suspended_users={},
    )
    status = RefreshStatus(up=True, last_success=0.0, last_duration=0.0)
    source = SourceStatus("coder", up=True, last_success=0.0, events=Counter({"table": 1}))
    registry = live_registry(lambda: status, IngestCounters, lambda: [source])
    registry.register(SnapshotCollector(readings))
    return frozenset(
        sample.name
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    )
