"""Generate the Grafana dashboards of usage-metrics.

The JSON under ``grafana/dashboards/`` is this script's output and is committed, so Grafana and
reviewers read plain files; ``tests/test_grafana_bundle.py`` checks that re-running the script
changes nothing. Edit this file, then run::

    python grafana/generate.py            # rewrite grafana/dashboards/*.json
    python grafana/generate.py --check    # exit 1 when the committed JSON is out of date

Standard library only. The rules the dashboards live by are enforced here by construction:

* every panel and target reads its data source through the dashboard's data source variable;
* distinct-user gauges (``usage_active_users``) are only ever combined with ``max``: replicas
  export the same values, and distinct counts of organizations, actions or windows do not add up;
* the Organization and Action variables offer ``any`` (the service's distinct union) as "Any" and
  never Grafana's All option;
* every range selector uses ``$__rate_interval`` (or ``$__range`` for a period mean).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"

SCHEMA_VERSION = 39
GRID_WIDTH = 24
TAGS = ["usage-metrics", "coder"]

PROMETHEUS_TYPE = "prometheus"
PROMETHEUS_UID = "usage-metrics-prometheus"
PROMETHEUS_NAME = "Usage metrics Prometheus"
POSTGRES_TYPE = "grafana-postgresql-datasource"
POSTGRES_UID = "usage-metrics-postgres"
POSTGRES_NAME = "Usage metrics PostgreSQL"

PROM = {"type": PROMETHEUS_TYPE, "uid": "${datasource}"}
PG = {"type": POSTGRES_TYPE, "uid": "${pg_datasource}"}

SERVICE_JOB = "usage-metrics"

# (UI name, token, colour) of the Action filter, in the order of the platform's Metrics view.
ACTIONS = (
    ("Any", "any", "text"),
    ("IDE", "ide", "blue"),
    ("Login", "login", "green"),
    ("App", "app", "purple"),
    ("Tunnel", "tunnel", "orange"),
    ("Web Terminal", "web_terminal", "yellow"),
)

ORG = 'organization="$organization"'
ACTION = 'category="$action"'

DAY_BOUNDARY_NOTE = (
    "The 1d window rolls: each point counts the distinct users active in the 24 hours before it "
    "(up to one refresh interval earlier), so the point at 00:00 UTC is the previous calendar "
    "day's daily active users (UTC), which is what the platform's Metrics view draws per day."
)


# --------------------------------------------------------------------------- PromQL helpers


def selector(metric: str, *matchers: str) -> str:
    """``metric{m1, m2}`` (or the bare metric name without matchers)."""
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def max_by(labels: str, expr: str) -> str:
    """Collapse replicas: every replica exports the same value, so ``max`` is the value."""
    return f"max by ({labels}) ({expr})"


def active_users(window: str, *matchers: str, by: str = "organization, category") -> str:
    """Distinct users active in ``window``; never summed, always ``max`` over replicas."""
    return max_by(by, selector("usage_active_users", *matchers, f'window="{window}"'))


def rate(metric: str, *matchers: str) -> str:
    """Per-second rate over Grafana's ``$__rate_interval`` (at least four scrapes)."""
    return f"rate({selector(metric, *matchers)}[$__rate_interval])"


def time_spent_hours_per_day() -> str:
    """Hours per day spent in each action, for one organization or for all of them.

    The activity counters carry no ``organization="any"`` series. For one organization the first
    branch selects it; for "Any" that branch is empty and the second sums the per-organization
    counters (time adds up across organizations, unlike distinct users). The ``unless`` keeps the
    second branch out whenever a real organization is selected.
    """
    per_org = max_by("organization, category", rate("usage_activity_seconds_total", ORG))
    every_org = max_by("organization, category", rate("usage_activity_seconds_total"))
    return (
        "(\n"
        f"  sum by (category) ({per_org})\n"
        "  or\n"
        f"  (\n    sum by (category) ({every_org})\n"
        f"    unless on () {selector('usage_organization_info', ORG)}\n  )\n"
        ") * 86400 / 3600"
    )


# --------------------------------------------------------------------------- targets


def prom_target(
    expr: str, legend: str, ref_id: str = "A", *, instant: bool = False, interval: str = ""
) -> Json:
    """One Prometheus query of a panel."""
    target: Json = {
        "datasource": PROM,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend,
        "range": not instant,
        "refId": ref_id,
    }
    if interval:
        target["interval"] = interval
    return target


def sql_target(sql: str, *, fmt: str = "table", ref_id: str = "A") -> Json:
    """One raw SQL query of a panel (``fmt`` is ``table`` or ``time_series``)."""
    return {
        "datasource": PG,
        "editorMode": "code",
        "format": fmt,
        "rawQuery": True,
        "rawSql": sql,
        "refId": ref_id,
    }


# --------------------------------------------------------------------------- panels


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """Absolute thresholds; the first step's value is ``None`` (the base colour)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


BASE = thresholds((None, "green"))


def action_overrides() -> list[Json]:
    """Show series named by category token under their UI name, in a fixed colour."""
    return [
        {
            "matcher": {"id": "byName", "options": token},
            "properties": [
                {"id": "displayName", "value": name},
                {"id": "color", "value": {"fixedColor": colour, "mode": "fixed"}},
            ],
        }
        for name, token, colour in ACTIONS
    ]


def panel(
    kind: str,
    title: str,
    description: str,
    targets: Sequence[Json],
    *,
    unit: str,
    datasource: Json,
    options: Json,
    defaults: Json | None = None,
    overrides: Sequence[Json] = (),
) -> Json:
    """Fields every visual panel has; gridPos and id are set by :class:`Grid`."""
    return {
        "datasource": datasource,
        "description": description,
        "fieldConfig": {"defaults": {"unit": unit, **(defaults or {})}, "overrides": [*overrides]},
        "options": options,
        "targets": list(targets),
        "title": title,
        "type": kind,
    }


def reduce(calc: str = "lastNotNull", *, values: bool = False, fields: str = "") -> Json:
    """``reduceOptions`` of stat, gauge and bar gauge panels."""
    return {"calcs": [calc], "fields": fields, "values": values}


def timeseries(
    title: str,
    description: str,
    targets: Sequence[Json],
    *,
    unit: str,
    datasource: Json = PROM,
    calcs: Sequence[str] = ("mean", "lastNotNull", "max"),
    bars: bool = False,
    overrides: Sequence[Json] = (),
    decimals: int | None = None,
) -> Json:
    """A time series panel with a table legend showing ``calcs``."""
    custom: Json = {
        "axisSoftMin": 0,
        # Daily bars are stamped with the start of their day: draw them over that day.
        "barAlignment": 1 if bars else 0,
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 60 if bars else 10,
        "lineWidth": 1 if bars else 2,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "none"},
    }
    defaults: Json = {"color": {"mode": "palette-classic"}, "custom": custom, "min": 0}
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {
        "legend": {
            "calcs": list(calcs),
            "displayMode": "table" if calcs else "list",
            "placement": "bottom",
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel(
        "timeseries",
        title,
        description,
        targets,
        unit=unit,
        datasource=datasource,
        options=options,
        defaults=defaults,
        overrides=overrides,
    )


def stat(
    title: str,
    description: str,
    targets: Sequence[Json],
    *,
    unit: str,
    datasource: Json = PROM,
    steps: Json = BASE,
    sparkline: bool = True,
    decimals: int | None = None,
    mappings: Sequence[Json] = (),
) -> Json:
    """A single-value panel showing the last value (with a sparkline of the range)."""
    defaults: Json = {
        "color": {"mode": "thresholds"},
        "mappings": list(mappings),
        "thresholds": steps,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {
        "colorMode": "value",
        "graphMode": "area" if sparkline else "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": reduce(),
        "textMode": "auto",
        "wideLayout": True,
    }
    return panel(
        "stat",
        title,
        description,
        targets,
        unit=unit,
        datasource=datasource,
        options=options,
        defaults=defaults,
    )


def gauge(title: str, description: str, targets: Sequence[Json], *, unit: str) -> Json:
    """A gauge from 0 to 1 (a ratio)."""
    steps = thresholds((None, "red"), (0.25, "orange"), (0.5, "green"))
    return panel(
        "gauge",
        title,
        description,
        targets,
        unit=unit,
        datasource=PROM,
        options={
            "orientation": "auto",
            "reduceOptions": reduce(),
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
        },
        defaults={"color": {"mode": "thresholds"}, "max": 1, "min": 0, "thresholds": steps},
    )


def bargauge(
    title: str,
    description: str,
    targets: Sequence[Json],
    *,
    unit: str,
    datasource: Json,
    rows: bool = False,
    overrides: Sequence[Json] = (),
) -> Json:
    """Horizontal bars: one per series, or one per table row when ``rows``."""
    return panel(
        "bargauge",
        title,
        description,
        targets,
        unit=unit,
        datasource=datasource,
        options={
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": reduce(values=rows, fields="/^Active hours$/" if rows else ""),
            "showUnfilled": True,
            "valueMode": "color",
        },
        defaults={"color": {"mode": "continuous-BlPu"}, "min": 0, "thresholds": BASE},
        overrides=overrides,
    )


def table(
    title: str,
    description: str,
    targets: Sequence[Json],
    *,
    units: dict[str, str],
    sort_by: str,
) -> Json:
    """A table of SQL rows; ``units`` sets a unit per column, other columns are ``short``."""
    overrides = [
        {"matcher": {"id": "byName", "options": column}, "properties": [{"id": "unit", "value": u}]}
        for column, u in units.items()
    ]
    return panel(
        "table",
        title,
        description,
        targets,
        unit="short",
        datasource=PG,
        options={
            "cellHeight": "sm",
            "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False},
            "showHeader": True,
            "sortBy": [{"desc": True, "displayName": sort_by}],
        },
        defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
        overrides=overrides,
    )


class Grid:
    """Lays panels out left to right in a 24-column grid, wrapping to a new line when full.

    Panels after a collapsed row live inside that row (Grafana's JSON model); their positions
    are where they appear once the row is expanded.
    """

    def __init__(self) -> None:
        self.panels: list[Json] = []
        self._next_id = 1
        self._x = 0
        self._y = 0
        self._line_height = 0
        self._row: Json | None = None

    def _newline(self) -> None:
        self._y += self._line_height
        self._x = 0
        self._line_height = 0

    def _take_id(self, item: Json) -> None:
        item["id"] = self._next_id
        self._next_id += 1

    def row(self, title: str, *, collapsed: bool = False) -> None:
        """Start a row; the panels added next belong to it."""
        self._newline()
        row: Json = {
            "collapsed": collapsed,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": self._y},
            "panels": [],
            "title": title,
            "type": "row",
        }
        self._take_id(row)
        self.panels.append(row)
        self._row = row if collapsed else None
        self._y += 1

    def add(self, item: Json, *, w: int, h: int) -> None:
        """Place ``item`` (w columns wide, h units high) after the previous panel."""
        if self._x + w > GRID_WIDTH:
            self._newline()
        item["gridPos"] = {"h": h, "w": w, "x": self._x, "y": self._y}
        self._take_id(item)
        self._x += w
        self._line_height = max(self._line_height, h)
        (self._row["panels"] if self._row is not None else self.panels).append(item)


# --------------------------------------------------------------------------- variables


def datasource_variable(name: str, label: str, plugin: str, uid: str, text: str) -> Json:
    """Pick the data source; defaults to the provisioned one (by uid)."""
    return {
        "current": {"selected": False, "text": text, "value": uid},
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": plugin,
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


ANY_CURRENT = {"selected": True, "text": "Any", "value": "any"}


def action_variable() -> Json:
    """The Action filter: the UI name is shown, the category token is the value."""
    return {
        "current": ANY_CURRENT,
        "description": "Only count activity of this action; Any is the distinct union.",
        "hide": 0,
        "includeAll": False,
        "label": "Action",
        "multi": False,
        "name": "action",
        "options": [
            {"selected": value == "any", "text": name, "value": value}
            for name, value, _colour in ACTIONS
        ],
        "query": ", ".join(f"{name} : {token}" for name, token, _colour in ACTIONS),
        "skipUrlSync": False,
        "type": "custom",
    }


def organization_variable(
    datasource: Json, query: str, *, regex: str = "", sort: int = 0, description: str
) -> Json:
    """The Organization filter: "Any" (value ``any``) and each organization by name."""
    return {
        "current": ANY_CURRENT,
        "datasource": datasource,
        "definition": query,
        "description": description,
        "hide": 0,
        "includeAll": False,
        "label": "Organization",
        "multi": False,
        "name": "organization",
        "options": [],
        "query": query,
        "refresh": 1,
        "regex": regex,
        "skipUrlSync": False,
        "sort": sort,
        "type": "query",
    }


# Grafana 11 has no static options on query variables, so the Prometheus query itself yields the
# "Any" option: a constant series {organization="any", title="Any"} next to one series per
# organization. The regex takes the value from `organization` and the text from `title` when
# present (else the value). Sort 1 (alphabetical) puts "Any" before lower-case names.
PROM_ORGANIZATION_QUERY = (
    "query_result("
    'label_replace(label_replace(vector(1), "organization", "any", "", ""), "title", "Any", "", "")'
    " or max by (organization) (usage_organization_info))"
)
PROM_ORGANIZATION_REGEX = '/organization="(?<value>[^"]+)"(?:,title="(?<text>[^"]+)")?/'

PG_ORGANIZATION_QUERY = (
    "SELECT __text, __value FROM ("
    "SELECT 0 AS sort_key, 'Any' AS __text, 'any' AS __value "
    "UNION ALL SELECT 1, name, name FROM usage_organizations"
    ") AS choices ORDER BY sort_key, __value"
)


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    variables: Iterable[Json],
    grid: Grid,
) -> Json:
    """The dashboard envelope shared by both dashboards."""
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["usage-metrics"],
                "targetBlank": False,
                "title": "Usage metrics",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ],
        "liveNow": False,
        "panels": grid.panels,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": list(TAGS),
        "templating": {"list": list(variables)},
        "time": {"from": "now-30d", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# --------------------------------------------------------------------------- main dashboard


def main_dashboard() -> Json:
    """Usage metrics: the platform's Manage > Metrics view, from Prometheus."""
    dau = active_users("1d", ORG, ACTION)
    wau = active_users("7d", ORG, ACTION)
    mau = active_users("30d", ORG, ACTION)
    hau = active_users("1h", ORG, ACTION)
    period_mean = max_by(
        "organization, category",
        "avg_over_time("
        + selector("usage_active_users", ORG, ACTION, 'window="1d"')
        + "[$__range] @ end())",
    )
    calendar_dau = max_by(
        "organization, category",
        selector("usage_active_users", ORG, ACTION, 'window="1d"') + " offset -1d",
    )
    users = max_by("organization", selector("usage_users", ORG))
    dormant = max_by("organization", selector("usage_dormant_users", ORG))
    active_30d = active_users("30d", ORG, 'category="any"', by="organization")
    count = {"unit": "short", "decimals": 0}

    g = Grid()
    g.row("Overview")
    g.add(
        stat(
            "Daily active users",
            "Distinct users with at least one ${action:text} minute in the last 24 hours "
            "(rolling window, organization ${organization:text}).",
            [prom_target(dau, "DAU")],
            **count,
        ),
        w=4,
        h=4,
    )
    g.add(
        stat(
            "Weekly active users",
            "Distinct users active in the last 7 days (rolling window).",
            [prom_target(wau, "WAU")],
            **count,
        ),
        w=4,
        h=4,
    )
    g.add(
        stat(
            "Monthly active users",
            "Distinct users active in the last 30 days (rolling window).",
            [prom_target(mau, "MAU")],
            **count,
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
            [prom_target(f"{dau}\n/\nclamp_min({mau}, 1)", "stickiness")],
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
            **count,
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
                        selector("usage_last_activity_timestamp_seconds", ORG, ACTION),
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
            **count,
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
            **count,
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
                    active_users("1d", ORG, 'category!="any"', by="category"), "{{category}}"
                )
            ],
            overrides=action_overrides(),
            **count,
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
                    active_users("1d", 'organization!="any"', ACTION, by="organization"),
                    "{{organization}}",
                )
            ],
            **count,
        ),
        w=12,
        h=9,
    )
    g.add(
        timeseries(
            "Time spent by action (hours per day)",
            "Active time per action as a daily rate: the increase of "
            "usage_activity_seconds_total per second, times 86400 s, in hours. A minute spent "
            "in two actions counts in both. The counters have no organization=any series: with "
            "Organization Any the panel sums the counters of every organization (time adds up "
            "across organizations, distinct users do not); otherwise it shows the chosen one.",
            [prom_target(time_spent_hours_per_day(), "{{category}}")],
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
                    active_users("30d", ORG, 'category!="any"', by="category"),
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
            **count,
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
            **count,
        ),
        w=6,
        h=4,
    )
    g.add(
        stat(
            "Active in the last 30 days",
            "Distinct users of the organization active in any action in the last 30 days.",
            [prom_target(active_30d, "active in 30 days")],
            **count,
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
            **count,
        ),
        w=24,
        h=8,
    )

    g.row("Service health", collapsed=True)
    g.add(
        stat(
            "Replicas up",
            "Replicas of the service that Prometheus scraped successfully "
            f'(up{{job="{SERVICE_JOB}"}}).',
            [prom_target(f'sum(up{{job="{SERVICE_JOB}"}})', "replicas up")],
            steps=thresholds((None, "red"), (1, "green")),
            **count,
        ),
        w=8,
        h=4,
    )
    g.add(
        stat(
            "Store refresh",
            "usage_up of the worst replica: Failing when its last refresh from the store "
            "failed (the gauges then keep their previous values).",
            [prom_target("min(usage_up)", "usage_up")],
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
            [prom_target("time() - min(usage_last_refresh_timestamp_seconds)", "age")],
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
            [prom_target("usage_refresh_duration_seconds", "{{instance}}")],
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
            [prom_target(rate("usage_refresh_errors_total") + " * 60", "{{instance}}")],
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
                prom_target(f"sum({rate('usage_ingest_events_total')})", "events accepted"),
                prom_target(
                    f"sum({rate('usage_ingest_rejected_batches_total')})",
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

    return dashboard(
        uid="usage-metrics-main",
        title="Usage metrics",
        description=(
            "Active users by action and organization, time spent and seats, as the platform's "
            "Manage > Metrics view shows them, from the usage-metrics exporter."
        ),
        variables=[
            datasource_variable(
                "datasource", "Data source", PROMETHEUS_TYPE, PROMETHEUS_UID, PROMETHEUS_NAME
            ),
            organization_variable(
                PROM,
                PROM_ORGANIZATION_QUERY,
                regex=PROM_ORGANIZATION_REGEX,
                sort=1,
                description="Only count activity in this organization; Any is the distinct "
                "union over organizations.",
            ),
            action_variable(),
        ],
        grid=g,
    )


# --------------------------------------------------------------------------- people dashboard

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


# --------------------------------------------------------------------------- output

DASHBOARDS = {
    "usage-metrics.json": main_dashboard,
    "usage-metrics-people.json": people_dashboard,
}


def render(document: Json) -> str:
    """Pretty JSON with sorted keys and a trailing newline: stable, diff-friendly output."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name -> file content of every dashboard."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards, or with ``--check`` report whether the files are up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the files differ from the output"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, content in rendered().items():
        path = DASHBOARD_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(name)
        if not args.check:
            DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/generate.py", file=sys.stderr)
        return 1
    for name in stale:
        print(f"wrote {DASHBOARD_DIR / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
