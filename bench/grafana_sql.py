"""The SQL panels of the Grafana dashboards, filled in as Grafana's PostgreSQL data source does.

Grafana expands its macros before it sends a panel's ``rawSql``: ``$__timeFilter(col)`` becomes
``col BETWEEN '<from>' AND '<to>'`` (RFC 3339, UTC), ``$__timeFrom()``/``$__timeTo()`` the quoted
times, the ``$__unixEpoch…`` macros the same in epoch seconds, and ``$__timeGroup(col, '1d'[,
fill])`` ``floor(extract(epoch from col)/86400)*86400`` (``…Alias`` adds ``AS "time"``; the fill
value is applied by Grafana, not in SQL). Template variables (``$name`` and ``${name}``) are
replaced by their values. A panel with anything left to expand is refused rather than guessed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_GROUP = re.compile(r"\$__(timeGroup|timeGroupAlias|unixEpochGroup|unixEpochGroupAlias)\(([^)]*)\)")
_FILTER = re.compile(r"\$__(timeFilter|unixEpochFilter)\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclasses.dataclass(frozen=True)
class Panel:
    """One SQL panel: its dashboard file, title and raw SQL."""

    dashboard: str
    title: str
    raw_sql: str


def panels(directory: Path = DASHBOARDS) -> list[Panel]:
    """Every target with ``rawSql`` in every dashboard, rows' nested panels included."""
    found = []
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text())
        for panel in _walk(document.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("rawSql"):
                    found.append(Panel(path.stem, str(panel.get("title", "")), target["rawSql"]))
    return found


def _walk(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _walk(item.get("panels", []))


def fill(sql: str, *, start: float, end: float, variables: Mapping[str, str]) -> str:
    """``sql`` with Grafana's macros over [start, end] and ``variables`` expanded."""

    def quoted(epoch: float) -> str:
        return "'" + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) + "'"

    def group(match: re.Match[str]) -> str:
        macro, arguments = match[1], [a.strip() for a in match[2].split(",")]
        column, seconds = arguments[0], _seconds(arguments[1].strip("'\""))
        epoch = f"extract(epoch from {column})" if macro.startswith("time") else column
        expression = f"floor({epoch}/{seconds})*{seconds}"
        return f'{expression} AS "time"' if macro.endswith("Alias") else expression

    def time_filter(match: re.Match[str]) -> str:
        column = match[2].strip()
        if match[1] == "timeFilter":
            return f"{column} BETWEEN {quoted(start)} AND {quoted(end)}"
        return f"{column} >= {int(start)} AND {column} <= {int(end)}"

    sql = _GROUP.sub(group, sql)
    sql = _FILTER.sub(time_filter, sql)
    for macro, value in (
        ("$__timeFrom()", quoted(start)),
        ("$__timeTo()", quoted(end)),
        ("$__unixEpochFrom()", str(int(start))),
        ("$__unixEpochTo()", str(int(end))),
    ):
        sql = sql.replace(macro, value)

    def variable(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in variables:
            raise ValueError(f"nothing to fill in for ${name} in {sql!r}")
        return variables[name]

    return _VARIABLE.sub(variable, sql)


def _seconds(interval: str) -> int:
    """'1d', '5m', '30s' … in seconds."""
    match = re.fullmatch(r"(\d+)([smhdw])", interval)
    if match is None:
        raise ValueError(f"unknown Grafana interval {interval!r}")
    return int(match[1]) * _UNITS[match[2]]
