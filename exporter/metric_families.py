"""Every metric family the service exports, defined once: name, type, help and labels.

The collectors (``exporter.metrics``) fill these families and describe themselves from them;
``docs/metrics.md``'s table is checked against them. A counter's name is written without
``_total``, which the client library adds to its sample. No family has a per-user label.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

_NOT_SUMMABLE = " Distinct count: never sum() it across organization, category or window."


@dataclasses.dataclass(frozen=True, slots=True)
class Family:
    """One metric family."""

    name: str
    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...] = ()

    @property
    def sample_name(self) -> str:
        """The name its samples carry (counters end in ``_total``)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name

    def new(self) -> GaugeMetricFamily | CounterMetricFamily:
        """An empty family to add samples to."""
        if self.kind == "counter":
            return CounterMetricFamily(self.name, self.help, labels=list(self.labels))
        return GaugeMetricFamily(self.name, self.help, labels=list(self.labels))


# --- the usage families, one set per refresh (SnapshotCollector)

ACTIVE_USERS = Family(
    "usage_active_users",
    "gauge",
    "Distinct users with at least one active minute in the rolling window ending at the last "
    "refresh." + _NOT_SUMMABLE,
    ("organization", "category", "window"),
)
ACTIVITY_SECONDS = Family(
    "usage_activity_seconds",
    "counter",
    "Active time ever recorded, 60 s per active minute; summed over categories it is time per "
    "action (a minute in two actions counts in both). Never decreases.",
    ("organization", "category"),
)
USERS = Family(
    "usage_users",
    "gauge",
    "Users in the directory (members of the organization); deleted and suspended users and "
    "service accounts excluded." + _NOT_SUMMABLE,
    ("organization",),
)
DORMANT_USERS = Family(
    "usage_dormant_users",
    "gauge",
    "Of those, users with no activity within the dormancy period (counted from their creation "
    "when never active)." + _NOT_SUMMABLE,
    ("organization",),
)
SUSPENDED_USERS = Family(
    "usage_suspended_users",
    "gauge",
    "Suspended members of the organization (not seats: not in usage_users)." + _NOT_SUMMABLE,
    ("organization",),
)
LAST_ACTIVITY = Family(
    "usage_last_activity_timestamp_seconds",
    "gauge",
    "Start of the newest active minute recorded (Unix time).",
    ("organization", "category"),
)
ORGANIZATION_INFO = Family(
    "usage_organization_info",
    "gauge",
    "Always 1: joins organization names to ids and display names.",
    ("organization", "organization_id", "display_name"),
)
SNAPSHOT_FAMILIES = (
    ACTIVE_USERS,
    ACTIVITY_SECONDS,
    USERS,
    DORMANT_USERS,
    SUSPENDED_USERS,
    LAST_ACTIVITY,
    ORGANIZATION_INFO,
)

# --- the process's own state, read at every scrape (LiveCollector)

SOURCE_UP = Family(
    "usage_source_up",
    "gauge",
    "1 when the last sync pass of the source (by any replica) succeeded, else 0.",
    ("source",),
)
SOURCE_LAST_SUCCESS = Family(
    "usage_source_last_success_timestamp_seconds",
    "gauge",
    "When the last successful sync pass of the source finished (Unix time).",
    ("source",),
)
SOURCE_EVENTS = Family(
    "usage_source_events",
    "counter",
    "Rows of each source table that this process turned into activity.",
    ("source", "table"),
)
SOURCE_ERRORS = Family(
    "usage_source_errors", "counter", "Sync passes of this process that failed.", ("source",)
)
SOURCE_FAMILIES = (SOURCE_UP, SOURCE_LAST_SUCCESS, SOURCE_EVENTS, SOURCE_ERRORS)
"""Exported only when a source is configured."""

INGEST_EVENTS = Family("usage_ingest_events", "counter", "Events accepted by this process.")
INGEST_REJECTED = Family(
    "usage_ingest_rejected_batches", "counter", "Batches this process refused for bad input."
)
UP = Family(
    "usage_up",
    "gauge",
    "1 when the last refresh from the store succeeded and the store takes writes, else 0.",
)
LAST_REFRESH = Family(
    "usage_last_refresh_timestamp_seconds",
    "gauge",
    "When the last successful refresh finished (Unix time).",
)
REFRESH_DURATION = Family(
    "usage_refresh_duration_seconds", "gauge", "How long the last successful refresh took."
)
REFRESH_ERRORS = Family("usage_refresh_errors", "counter", "Refreshes that failed.")
LIVE_FAMILIES = (
    *SOURCE_FAMILIES,
    INGEST_EVENTS,
    INGEST_REJECTED,
    UP,
    LAST_REFRESH,
    REFRESH_DURATION,
    REFRESH_ERRORS,
)

FAMILIES = (*SNAPSHOT_FAMILIES, *LIVE_FAMILIES)
"""Every family the service defines (the client library's ``process_*`` ones come on top)."""
