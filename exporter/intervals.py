"""The report's ``<N> <unit>`` interval grammar and calendar bucket boundaries (docs/api.md).

Bucket *i* starts at ``start + i * interval``, always counted from ``start`` (never chained)
in ``start``'s own UTC offset: Jan 31 + 1 month = Feb 28/29, Jan 31 + 2 months = Mar 31.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
from typing import Final

MAX_BUCKETS: Final = 1000
UNITS: Final = ("minute", "hour", "day", "week", "month", "year")

_GRAMMAR: Final = re.compile(
    r"\s*([1-9][0-9]*)\s+(minute|hour|day|week|month|year)s?\s*", re.ASCII | re.IGNORECASE
)
_FIXED_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_MAX_DIGITS: Final = 15
"""Any count this long already reaches past year 9999 in every unit; clamping keeps it cheap."""


class TooManyBuckets(ValueError):
    """The range holds more than ``MAX_BUCKETS`` buckets of the interval."""


@dataclasses.dataclass(frozen=True, slots=True)
class Interval:
    """A bucket length: ``count`` calendar ``unit``s."""

    count: int
    unit: str

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count != 1 else ''}"


def parse_interval(text: str) -> Interval:
    """Parse ``1 day``, ``90 Days``, ``2 weeks``; raise ``ValueError`` for anything else."""
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text[:64]!r} is not an interval like '1 day': a positive whole number, a space "
            f"and one of {', '.join(UNITS)} (plural allowed)"
        )
    digits, unit = match.groups()
    count = int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS
    return Interval(count, unit.lower())


def shift(start: dt.datetime, interval: Interval, times: int) -> dt.datetime | None:
    """``start + times * interval`` in ``start``'s offset; ``None`` past the calendar's end."""
    amount = interval.count * times
    try:
        if interval.unit in _FIXED_SECONDS:
            return start + dt.timedelta(seconds=amount * _FIXED_SECONDS[interval.unit])
        months = amount * 12 if interval.unit == "year" else amount
        year, month_index = divmod(start.month - 1 + months, 12)
        year += start.year
        if year > dt.MAXYEAR:
            return None
        day = min(start.day, calendar.monthrange(year, month_index + 1)[1])
        return start.replace(year=year, month=month_index + 1, day=day)
    except OverflowError:
        return None


def bucket_edges(
    start: dt.datetime, end: dt.datetime, interval: Interval, *, limit: int = MAX_BUCKETS
) -> list[dt.datetime]:
    """``[start, start + interval, …, end]``: bucket *i* is ``[edges[i], edges[i + 1])``.

    The last bucket ends at ``end`` and may be shorter. Raise ``ValueError`` when ``end`` is
    not after ``start`` and ``TooManyBuckets`` beyond ``limit`` buckets.
    """
    if end <= start:
        raise ValueError("end must be after start")
    edges = [start]
    times = 1
    while (edge := shift(start, interval, times)) is not None and edge < end:
        if times >= limit:
            raise TooManyBuckets(
                f"{interval} from start to end makes more than {limit} buckets; "
                "use a longer interval or a shorter range"
            )
        edges.append(edge)
        times += 1
    edges.append(end)
    return edges
