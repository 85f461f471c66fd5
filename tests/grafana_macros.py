"""Grafana's PostgreSQL macros and template variables, filled in as Grafana fills them.

Per Grafana's PostgreSQL data source documentation: times are UTC in RFC 3339 with the range's
milliseconds (``$__timeFilter`` is ``BETWEEN``, both ends included), epoch macros are whole
seconds (the range's ends truncated), and ``$__timeGroup``'s fill argument only tells Grafana
how to fill gaps on its side, so it adds nothing to the SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def expand(sql: str, *, start: dt.datetime, end: dt.datetime, variables: Mapping[str, str]) -> str:
    """``sql`` with Grafana's macros for the range [start, end] and ``$name`` variables filled."""
    text_from, text_to = _rfc3339(start), _rfc3339(end)
    epoch_from, epoch_to = int(start.timestamp()), int(end.timestamp())

    def group(column: str, interval: str) -> str:
        seconds = int(interval[:-1]) * _UNITS[interval[-1]]
        return f"floor(extract(epoch from {column})/{seconds})*{seconds}"

    macros: dict[str, Callable[[list[str]], str]] = {
        "timeFilter": lambda a: f"{a[0]} BETWEEN '{text_from}' AND '{text_to}'",
        "timeFrom": lambda _: f"'{text_from}'",
        "timeTo": lambda _: f"'{text_to}'",
        "unixEpochFilter": lambda a: f"{a[0]} >= {epoch_from} AND {a[0]} <= {epoch_to}",
        "unixEpochFrom": lambda _: str(epoch_from),
        "unixEpochTo": lambda _: str(epoch_to),
        "timeGroup": lambda a: group(a[0], a[1]),
        "timeGroupAlias": lambda a: f'{group(a[0], a[1])} AS "time"',
        "time": lambda a: f'{a[0]} AS "time"',
    }

    def macro(match: re.Match[str]) -> str:
        name, raw = match.group(1), match.group(2)
        if name not in macros:
            raise ValueError(f"macro $__{name} is not filled in here")
        return macros[name]([arg.strip().strip("'") for arg in raw.split(",")])

    expanded = re.sub(r"\$__(\w+)\(([^()]*)\)", macro, sql)
    for name, value in variables.items():
        expanded = re.sub(rf"\$\{{{name}\}}|\${name}\b", value, expanded)
    if "$" in expanded:
        raise ValueError(f"unfilled macro or variable in {expanded!r}")
    return expanded


def _rfc3339(moment: dt.datetime) -> str:
    """Grafana's RFC 3339 text of a range end: UTC, milliseconds when there are any."""
    utc = moment.astimezone(dt.UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}".rstrip("0")
    return text + "Z"
