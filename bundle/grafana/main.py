"""The main dashboard, Usage metrics: the platform's Manage > Metrics view, from Prometheus."""

from __future__ import annotations

from bundle.grafana.blocks import (
    Grid,
    Json,
    action_overrides,
    bargauge,
    gauge,
    prom_target,
    stat,
    thresholds,
    timeseries,
)
from bundle.grafana.constants import (
    ACTION,
    DAY_BOUNDARY_NOTE,
    ORG,
    PROM,
    PROMETHEUS_TYPE,
)
from bundle.grafana.health import add_health_row
from bundle.grafana.queries import Queries, max_by
from bundle.grafana.variables import (
    PROM_ORGANIZATION_REGEX,
    action_variable,
    cluster_variable,
    dashboard,
    datasource_variable,
    job_variable,
    organization_variable,
    prometheus_organization_query,
)
from bundle.recording import ACTIVE, DORMANT, STICKINESS, USERS
from bundle.settings import Settings

COUNT = "short"


def main_dashboard(settings: Settings) -> Json:
    """Usage metrics: the platform's Manage > Metrics view, from Prometheus."""
    q = Queries(settings)
    dau = q.active_users("1d", ORG, ACTION)
    wau = q.active_users("7d", ORG, ACTION)
    mau = q.active_users("30d", ORG, ACTION)
    hau = q.active_users("1h", ORG, ACTION)
    period_mean = max_by(
        "organization, category",
        "avg_over_time(" + q.series(ACTIVE, ORG, ACTION, 'window="1d"') + "[$__range] @ end())",
    )
    calendar_dau = max_by(
        "organization, category",
        q.series(ACTIVE, ORG, ACTION, 'window="1d"') + " offset -1d",
    )
    stickiness = max_by("organization, category", q.series(STICKINESS, ORG, ACTION))
    users = max_by("organization", q.series(USERS, ORG))
    dormant = max_by("organization", q.series(DORMANT, ORG))
    active_30d = q.active_users("30d", ORG, 'category="any"', by="organization")

    g = Grid()
    g.row("Overview")
    g.add(
        stat(
            "Daily active users",
            "Distinct users with at least one ${action:text} minute in the last 24 hours "
            "(rolling window, organization ${organization:text}).",
            [prom_target(dau, "DAU")],
            unit=COUNT,
            decimals=0,
        ),
        w=4,
        h=4,
    )
    g.add(
        stat(
            "Weekly active users",
            "Distinct users active in the last 7 days (rolling window).",
            [prom_target(wau, "WAU")],
            unit=COUNT,
            decimals=0,
        ),
        w=4,
        h=4,
    )
    g.add(
        stat(
            "Monthly active users",
            "Distinct users active in the last 30 days (rolling window).",
            [prom_target(mau, "MAU")],
            unit=COUNT,
            decimals=0,
        ),
        w=4,
        h=4,
    )
    g.add(
        stat(
            "Stickiness (DAU / MAU)",
            "Share of the last 30 days' active users who were also active in the last 24 hours: "
            "100 % means everyone who used the platform this month used it today; low values "
            "mean occasional use.",
            [prom_target(stickiness, "stickiness")],
            unit="percentunit",
            decimals=1,
        ),
        w=4,
        h=4,
    )
    g.add(
        stat(
            "Active in the last hour",
            "Distinct users active in the last 60 minutes, the current minute included.",
            [prom_target(hau, "last hour")],
            unit=COUNT,
            decimals=0,
        ),
        w=4,
        h=4,
    )
    g.add(
        stat(
            "Last activity",
            "Start of the newest active minute recorded for this organization and action.",
            [
                prom_target(
                    max_by(
                        "organization, category",
                        q.series("usage_last_activity_timestamp_seconds", ORG, ACTION),
                    )
                    + " * 1000",
                    "last activity",
                    instant=True,
                )
            ],
            unit="dateTimeFromNow",
            sparkline=False,
        ),
        w=4,
        h=4,
    )
    g.add(
        timeseries(
            "Daily active users over time",
            "Distinct users active in the rolling 1d window, for the chosen organization and "
            "action, and its mean over the dashboard's time range (the dashed line; also the "
            "Mean column of the legend). " + DAY_BOUNDARY_NOTE,
            [
                prom_target(dau, "Daily active users"),
                prom_target(period_mean, "Period mean", "B"),
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "Period mean"},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
                        {"id": "custom.fillOpacity", "value": 0},
                        {"id": "color", "value": {"fixedColor": "orange", "mode": "fixed"}},
                    ],
                }
            ],
            unit=COUNT,
            decimals=0,
        ),
        w=12,
        h=9,
    )
    g.add(
        timeseries(
            "Daily active users per calendar day (UTC)",
            "One bar per UTC calendar day: the distinct users active during that day, as the "
            "platform's Metrics view draws them. Each bar is the rolling 1d gauge read at the "
            "following 00:00 UTC (a query step of one day, shifted by one day), so today has no "
            "bar until it is over.",
            [prom_target(calendar_dau, "Daily active users", interval="1d")],
            bars=True,
            calcs=("mean", "max"),
            unit=COUNT,
            decimals=0,
        ),
        w=12,
        h=9,
    )

    g.row("Activity")
    g.add(
        timeseries(
            "Active users by action",
            "Distinct users active in the rolling 1d window, one series per action, for the "
            "chosen organization. A user active in several actions counts in each, so the "
            "series do not add up to Any.",
            [
                prom_target(
                    q.active_users("1d", ORG, 'category!="any"', by="category"), "{{category}}"
                )
            ],
            overrides=action_overrides(),
            unit=COUNT,
            decimals=0,
        ),
        w=12,
        h=9,
    )
    g.add(
        timeseries(
            "Active users by organization (${action:text})",
            "Distinct users active in the rolling 1d window, one series per organization, for "
            "the chosen action. A user active in several organizations counts in each, so the "
            "series do not add up to Any.",
            [
                prom_target(
                    q.active_users("1d", 'organization!="any"', ACTION, by="organization"),
                    "{{organization}}",
                )
            ],
            unit=COUNT,
            decimals=0,
        ),
        w=12,
        h=9,
    )
    g.add(
        timeseries(
            "Time spent by action (hours per day)",
            "Active time per action in hours per day, at the pace of the last hour (the "
            "recorded organization_category:usage_activity_hours_per_day:rate1h). A minute "
            "spent in two actions counts in both. The counters have no organization=any series: "
            "with Organization Any the panel sums every organization (time adds up across "
            "organizations, distinct users do not); otherwise it shows the chosen one.",
            [prom_target(q.time_spent_hours_per_day(), "{{category}}")],
            overrides=action_overrides(),
            unit="h",
            decimals=1,
        ),
        w=12,
        h=9,
    )
    g.add(
        bargauge(
            "Monthly active users by action",
            "Distinct users active in each action in the last 30 days, for the chosen "
            "organization. The bars overlap: one user can use several actions.",
            [
                prom_target(
                    q.active_users("30d", ORG, 'category!="any"', by="category"),
                    "{{category}}",
                    instant=True,
                )
            ],
            unit="short",
            datasource=PROM,
            overrides=action_overrides(),
        ),
        w=12,
        h=9,
    )

    g.row("Seats")
    g.add(
        stat(
            "Users",
            "Users in the directory who are members of the organization, deleted users and "
            "service accounts excluded.",
            [prom_target(users, "users")],
            unit=COUNT,
            decimals=0,
        ),
        w=6,
        h=4,
    )
    g.add(
        stat(
            "Dormant users",
            "Of those users, the ones with no activity anywhere within the dormancy period "
            "(USAGE_METRICS_DORMANCY, 90 days by default): seats that could be reclaimed.",
            [prom_target(dormant, "dormant")],
            steps=thresholds((None, "green"), (1, "orange")),
            unit=COUNT,
            decimals=0,
        ),
        w=6,
        h=4,
    )
    g.add(
        stat(
            "Active in the last 30 days",
            "Distinct users of the organization active in any action in the last 30 days.",
            [prom_target(active_30d, "active in 30 days")],
            unit=COUNT,
            decimals=0,
        ),
        w=6,
        h=4,
    )
    g.add(
        gauge(
            "Seat utilisation",
            "Users active in the last 30 days divided by users in the directory.",
            [prom_target(f"{active_30d}\n/\nclamp_min({users}, 1)", "utilisation")],
            unit="percentunit",
        ),
        w=6,
        h=4,
    )
    g.add(
        timeseries(
            "Seats over time",
            "Users in the directory, dormant users and users active in the last 30 days, for "
            "the chosen organization.",
            [
                prom_target(users, "Users"),
                prom_target(dormant, "Dormant users", "B"),
                prom_target(active_30d, "Active in the last 30 days", "C"),
            ],
            calcs=("lastNotNull", "min", "max"),
            unit=COUNT,
            decimals=0,
        ),
        w=24,
        h=8,
    )

    add_health_row(g, q)

    return dashboard(
        uid="usage-metrics-main",
        title="Usage metrics",
        description=(
            "Active users by action and organization, time spent and seats, as the platform's "
            "Manage > Metrics view shows them, from the usage-metrics exporter."
        ),
        variables=[
            datasource_variable("datasource", "Data source", PROMETHEUS_TYPE, "default", "default"),
            *cluster_variable(settings),
            job_variable(settings),
            organization_variable(
                PROM,
                prometheus_organization_query(settings),
                regex=PROM_ORGANIZATION_REGEX,
                sort=1,
                description="Only count activity in this organization; Any is the distinct "
                "union over organizations.",
            ),
            action_variable(),
        ],
        grid=g,
    )
