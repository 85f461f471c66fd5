"""Usage metrics — people: per-user activity, read from PostgreSQL views."""

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

SQL_FILTER = """\
FROM usage_activity_hourly
WHERE $__timeFilter(time)
  AND organization = '$organization'
  AND category = '$action'
  AND active_minutes > 0"""


def people_dashboard() -> Json:
    """Usage metrics — people: per-user activity, read from PostgreSQL views."""
    hours = "SUM(active_minutes) / 60.0"
    g = Grid()
    g.add(
        stat(
            "Active users",
            "Distinct users with at least one active minute in the time range (hours are "
            "counted by their start).",
            [sql_target(f'SELECT COUNT(DISTINCT user_id) AS "Active users"\n{SQL_FILTER}')],
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
            [sql_target(f'SELECT {hours} AS "Active hours"\n{SQL_FILTER}')],
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
            [
                sql_target(
                    f'SELECT {hours} / NULLIF(COUNT(DISTINCT user_id), 0) AS "Hours per user"\n'
                    f"{SQL_FILTER}"
                )
            ],
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
                    f'{hours} AS "Active hours"\n{SQL_FILTER}\n'
                    "GROUP BY user_id, username\n"
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
                    f'COUNT(DISTINCT user_id) AS "Active users"\n{SQL_FILTER}\n'
                    "GROUP BY 1\nORDER BY 1",
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
                    f'  {hours} AS "Active hours",\n'
                    "  COUNT(DISTINCT (time AT TIME ZONE 'UTC')::date) AS \"Active days\",\n"
                    '  MAX(time) AS "Last active",\n'
                    '  user_id AS "User ID"\n'
                    f"{SQL_FILTER}\n"
                    "GROUP BY user_id, username, name\n"
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
                    f'{hours} AS "Active hours"\n{SQL_FILTER}\n'
                    "GROUP BY 1\nORDER BY 1",
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
            "Who is active and for how long, per user, from the read-only PostgreSQL views "
            "usage_activity_hourly and usage_organizations of the usage-metrics store."
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
