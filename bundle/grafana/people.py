"""Usage metrics — people: per-user activity, read from PostgreSQL reader functions."""

from __future__ import annotations

from bundle.grafana.blocks import Grid, Json, bargauge, sql_target, stat, table, timeseries
from bundle.grafana.constants import PG, POSTGRES_NAME, POSTGRES_TYPE, POSTGRES_UID
from bundle.grafana.variables import (
    PG_ORGANIZATION_QUERY,
    action_variable,
    dashboard,
    datasource_variable,
    organization_variable,
)

ARGS = "$__timeFrom(), $__timeTo(), '$organization', '$action'"
PER_USER = f"FROM usage_activity_per_user({ARGS})"
"""One row per user active in the time range (grafana/README.md has the functions)."""
PER_DAY = f"FROM usage_activity_per_day({ARGS})"
"""One row per UTC day with activity in the time range."""
HOURS = "SUM(active_minutes) / 60.0"


def people_dashboard() -> Json:
    """Usage metrics — people: per-user activity, read from PostgreSQL reader functions."""
    g = Grid()
    g.add(
        stat(
            "Active users",
            "Distinct users with at least one active minute in the time range (hours are "
            "counted by their start).",
            [sql_target(f'SELECT COUNT(*) AS "Active users"\n{PER_USER}')],
            datasource=PG,
            unit="short",
            decimals=0,
            sparkline=False,
        ),
        w=8,
        h=4,
    )
    g.add(
        stat(
            "Active hours",
            "Active minutes of all these users in the time range, in hours.",
            [sql_target(f'SELECT {HOURS} AS "Active hours"\n{PER_USER}')],
            datasource=PG,
            unit="h",
            decimals=1,
            sparkline=False,
        ),
        w=8,
        h=4,
    )
    g.add(
        stat(
            "Hours per active user",
            "Active hours divided by active users in the time range.",
            [sql_target(f'SELECT {HOURS} / NULLIF(COUNT(*), 0) AS "Hours per user"\n{PER_USER}')],
            datasource=PG,
            unit="h",
            decimals=1,
            sparkline=False,
        ),
        w=8,
        h=4,
    )
    g.add(
        bargauge(
            "Top 10 users by active hours",
            "The ten users with the most active time in the time range for the chosen "
            "organization and action.",
            [
                sql_target(
                    'SELECT username AS "User", '
                    f'active_minutes / 60.0 AS "Active hours"\n{PER_USER}\n'
                    'ORDER BY "Active hours" DESC, "User"\n'
                    "LIMIT 10"
                )
            ],
            unit="h",
            datasource=PG,
            rows=True,
        ),
        w=10,
        h=10,
    )
    g.add(
        timeseries(
            "Active users per day",
            "Distinct users active on each UTC calendar day (days without activity are 0). "
            "Unlike the rolling gauge of the main dashboard, each point is labelled with the "
            "day it counts.",
            [
                sql_target(
                    "SELECT $__timeGroupAlias(time, '1d', 0), "
                    f'active_users AS "Active users"\n{PER_DAY}\n'
                    "ORDER BY 1",
                    fmt="time_series",
                )
            ],
            datasource=PG,
            unit="short",
            decimals=0,
            bars=True,
            calcs=("mean", "max"),
        ),
        w=14,
        h=10,
    )
    g.add(
        table(
            "Activity per user",
            "Every user active in the time range: active hours, the number of UTC calendar "
            "days with activity, and the start of the last active hour.",
            [
                sql_target(
                    "SELECT\n"
                    '  username AS "Username",\n'
                    '  name AS "Name",\n'
                    '  active_minutes / 60.0 AS "Active hours",\n'
                    '  active_days AS "Active days",\n'
                    '  last_active AS "Last active",\n'
                    '  user_id AS "User ID"\n'
                    f"{PER_USER}\n"
                    'ORDER BY "Active hours" DESC, "Username"\n'
                    "LIMIT 1000"
                )
            ],
            units={"Active hours": "h", "Active days": "short", "Last active": "dateTimeAsIso"},
            sort_by="Active hours",
        ),
        w=24,
        h=12,
    )
    g.add(
        timeseries(
            "Active hours per day",
            "Active minutes of all users on each UTC calendar day, in hours.",
            [
                sql_target(
                    "SELECT $__timeGroupAlias(time, '1d', 0), "
                    f'active_minutes / 60.0 AS "Active hours"\n{PER_DAY}\n'
                    "ORDER BY 1",
                    fmt="time_series",
                )
            ],
            datasource=PG,
            unit="h",
            decimals=1,
            bars=True,
            calcs=("sum", "mean", "max"),
        ),
        w=24,
        h=8,
    )

    return dashboard(
        uid="usage-metrics-people",
        title="Usage metrics — people",
        description=(
            "Who is active and for how long, per user, from the reader functions "
            "usage_activity_per_user and usage_activity_per_day and the view "
            "usage_organizations of the usage-metrics store (PostgreSQL)."
        ),
        variables=[
            datasource_variable(
                "pg_datasource", "PostgreSQL", POSTGRES_TYPE, POSTGRES_UID, POSTGRES_NAME
            ),
            organization_variable(
                PG,
                PG_ORGANIZATION_QUERY,
                description="Only count activity in this organization; Any is the distinct "
                "union over organizations.",
            ),
            action_variable(),
        ],
        grid=g,
    )
