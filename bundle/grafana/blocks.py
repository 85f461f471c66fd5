"""Panels, targets and the grid: the building blocks every dashboard is made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bundle.grafana.constants import ACTIONS, GRID_WIDTH, PG, PROM

Json = dict[str, Any]


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
