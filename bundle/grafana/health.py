"""The collapsed Service health row of the main dashboard: the service itself, per replica."""

from __future__ import annotations

from bundle.grafana.blocks import Grid, prom_target, stat, thresholds, timeseries
from bundle.grafana.queries import Queries


def add_health_row(g: Grid, q: Queries) -> None:
    """Replicas up, store refresh, data age, refresh duration and errors, ingest."""
    g.row("Service health", collapsed=True)
    g.add(
        stat(
            "Replicas up",
            "Replicas of the service that Prometheus scraped successfully (up of the job).",
            [prom_target(f"sum({q.series('up')})", "replicas up")],
            steps=thresholds((None, "red"), (1, "green")),
            unit="short",
            decimals=0,
        ),
        w=8,
        h=4,
    )
    g.add(
        stat(
            "Store refresh",
            "usage_up of the worst replica: Failing when its last refresh from the store "
            "failed (the gauges then keep their previous values).",
            [prom_target(f"min({q.series('usage_up')})", "usage_up")],
            unit="short",
            steps=thresholds((None, "red"), (1, "green")),
            mappings=[
                {
                    "options": {
                        "0": {"color": "red", "index": 0, "text": "Failing"},
                        "1": {"color": "green", "index": 1, "text": "OK"},
                    },
                    "type": "value",
                }
            ],
        ),
        w=8,
        h=4,
    )
    g.add(
        stat(
            "Data age",
            "Time since the oldest replica's last successful refresh. The gauges are "
            "recomputed every USAGE_METRICS_REFRESH_INTERVAL (30 s by default); minutes here "
            "mean the dashboards show stale numbers.",
            [
                prom_target(
                    f"time() - min({q.series('usage_last_refresh_timestamp_seconds')})", "age"
                )
            ],
            unit="s",
            steps=thresholds((None, "green"), (90, "orange"), (300, "red")),
        ),
        w=8,
        h=4,
    )
    g.add(
        timeseries(
            "Refresh duration",
            "How long each replica's last refresh from the store took.",
            [prom_target(q.series("usage_refresh_duration_seconds"), "{{instance}}")],
            unit="s",
        ),
        w=8,
        h=8,
    )
    g.add(
        timeseries(
            "Refresh errors",
            "Failed refreshes per minute, by replica. Any value above zero means the store "
            "was unreachable or a query failed; see the service's logs.",
            [prom_target(q.rate("usage_refresh_errors_total") + " * 60", "{{instance}}")],
            unit="cpm",
            calcs=("max", "lastNotNull"),
        ),
        w=8,
        h=8,
    )
    g.add(
        timeseries(
            "Ingest",
            "Activity events accepted per second and batches refused for bad input, summed "
            "over replicas (each replica counts what it received itself).",
            [
                prom_target(f"sum({q.rate('usage_ingest_events_total')})", "events accepted"),
                prom_target(
                    f"sum({q.rate('usage_ingest_rejected_batches_total')})",
                    "batches rejected",
                    "B",
                ),
            ],
            unit="cps",
            calcs=("mean", "max"),
        ),
        w=8,
        h=8,
    )
