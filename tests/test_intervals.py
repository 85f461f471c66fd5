"""The report's interval grammar and calendar bucket boundaries."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.intervals import (
    MAX_BUCKETS,
    Interval,
    TooManyBuckets,
    bucket_edges,
    parse_interval,
    shift,
)

UTC = dt.UTC
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 day", Interval(1, "day")),
        ("1 days", Interval(1, "day")),
        ("90 DAY", Interval(90, "day")),
        ("2 Weeks", Interval(2, "week")),
        ("  3   months  ", Interval(3, "month")),
        ("1\tyear", Interval(1, "year")),
        ("15 minutes", Interval(15, "minute")),
        ("12 hours", Interval(12, "hour")),
    ],
)
def test_grammar_accepts(text: str, expected: Interval) -> None:
    """Counts, singular or plural units, any case and surrounding blanks are accepted."""
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0 day",
        "00 day",
        "01 day",
        "-1 day",
        "1day",
        "1 fortnight",
        "1 days s",
        "day",
        "1.5 day",
        "",
        "1 dayss",
        "1 da\u017fs",  # LATIN SMALL LETTER LONG S folds to "s" without re.ASCII
        "\u0661 day",  # ARABIC-INDIC DIGIT ONE
        "1 day\n2 day",
    ],
)
def test_grammar_rejects(text: str) -> None:
    """Zero, leading zeros, missing blanks, unknown units and non-ASCII look-alikes are refused."""
    with pytest.raises(ValueError, match="is not an interval"):
        parse_interval(text)


def test_huge_count_is_one_bucket() -> None:
    """A count past the calendar's end is valid: the whole range is one bucket."""
    start = dt.datetime(2022, 8, 1, tzinfo=UTC)
    end = dt.datetime(2022, 9, 1, tzinfo=UTC)
    for text in ("9" * 5000 + " days", "99999 years", "10000000000 weeks"):
        assert bucket_edges(start, end, parse_interval(text)) == [start, end]


@pytest.mark.parametrize(
    ("start", "times", "expected"),
    [
        (dt.datetime(2023, 1, 31), 1, dt.datetime(2023, 2, 28)),
        (dt.datetime(2024, 1, 31), 1, dt.datetime(2024, 2, 29)),
        (dt.datetime(2023, 1, 31), 2, dt.datetime(2023, 3, 31)),
        (dt.datetime(2023, 1, 31), 3, dt.datetime(2023, 4, 30)),
        (dt.datetime(2023, 1, 31), 12, dt.datetime(2024, 1, 31)),
        (dt.datetime(2023, 12, 15, 10, 30), 1, dt.datetime(2024, 1, 15, 10, 30)),
        (dt.datetime(2023, 11, 30), 3, dt.datetime(2024, 2, 29)),
        (dt.datetime(2023, 3, 31), -1, dt.datetime(2023, 2, 28)),
    ],
)
def test_month_arithmetic(start: dt.datetime, times: int, expected: dt.datetime) -> None:
    """Adding months clamps to the month's last day and always counts from the start."""
    month = Interval(1, "month")
    assert shift(start.replace(tzinfo=UTC), month, times) == expected.replace(tzinfo=UTC)


def test_year_arithmetic_on_leap_day() -> None:
    """Feb 29 plus a year is Feb 28; plus four years is Feb 29 again."""
    leap = dt.datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert shift(leap, Interval(1, "year"), 1) == dt.datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert shift(leap, Interval(1, "year"), 4) == dt.datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert shift(leap, Interval(2, "year"), 2) == dt.datetime(2028, 2, 29, 12, tzinfo=UTC)


def test_monthly_edges_from_january_31() -> None:
    """Monthly buckets from Jan 31 start on Feb 29, Mar 31, Apr 30 (never chained)."""
    start = dt.datetime(2024, 1, 31, tzinfo=UTC)
    edges = bucket_edges(start, dt.datetime(2024, 5, 15, tzinfo=UTC), Interval(1, "month"))
    assert [edge.date().isoformat() for edge in edges] == [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-15",
    ]


def test_months_follow_the_start_offset() -> None:
    """Calendar months are counted on the wall clock of start's own offset (+05:30)."""
    start = dt.datetime(2024, 1, 31, 0, 0, tzinfo=IST)  # 2024-01-30T18:30:00Z
    edges = bucket_edges(start, dt.datetime(2024, 4, 1, tzinfo=UTC), Interval(1, "month"))
    assert [edge.astimezone(UTC).isoformat() for edge in edges] == [
        "2024-01-30T18:30:00+00:00",
        "2024-02-28T18:30:00+00:00",  # Feb 29 00:00 +05:30
        "2024-03-30T18:30:00+00:00",  # Mar 31 00:00 +05:30
        "2024-04-01T00:00:00+00:00",
    ]


def test_last_bucket_is_shorter() -> None:
    """August by week: five buckets, the last from Aug 29 to Aug 31 (three days)."""
    start = dt.datetime(2022, 8, 1, tzinfo=UTC)
    end = dt.datetime(2022, 8, 31, tzinfo=UTC)
    edges = bucket_edges(start, end, parse_interval("1 week"))
    assert [edge.day for edge in edges] == [1, 8, 15, 22, 29, 31]


def test_end_not_after_start() -> None:
    """An empty or inverted range is refused."""
    moment = dt.datetime(2022, 8, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="end must be after start"):
        bucket_edges(moment, moment, Interval(1, "day"))
    with pytest.raises(ValueError, match="end must be after start"):
        bucket_edges(moment, moment - dt.timedelta(seconds=1), Interval(1, "day"))


def test_bucket_limit() -> None:
    """Exactly 1000 buckets are fine; 1001 are refused."""
    start = dt.datetime(2022, 8, 1, tzinfo=UTC)
    minute = Interval(1, "minute")
    edges = bucket_edges(start, start + dt.timedelta(minutes=MAX_BUCKETS), minute)
    assert len(edges) == MAX_BUCKETS + 1
    with pytest.raises(TooManyBuckets, match="more than 1000 buckets"):
        bucket_edges(start, start + dt.timedelta(minutes=MAX_BUCKETS, seconds=1), minute)
    with pytest.raises(TooManyBuckets):
        bucket_edges(start, dt.datetime(9999, 1, 1, tzinfo=UTC), minute)


def test_range_up_to_the_calendar_end() -> None:
    """Boundaries that would pass year 9999 end the range instead of failing."""
    start = dt.datetime(9000, 1, 31, tzinfo=UTC)
    end = dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    edges = bucket_edges(start, end, Interval(5, "year"))
    assert len(edges) == 201
    assert edges[-2] == dt.datetime(9995, 1, 31, tzinfo=UTC)


_UNITS = st.sampled_from(["minute", "hour", "day", "week", "month", "year"])


@given(
    start=st.datetimes(
        min_value=dt.datetime(1990, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, IST, dt.timezone(dt.timedelta(hours=-7))]),
    ),
    length=st.timedeltas(min_value=dt.timedelta(microseconds=1), max_value=dt.timedelta(days=800)),
    interval=st.builds(Interval, st.integers(1, 40), _UNITS),
)
def test_edges_tile_the_range(start: dt.datetime, length: dt.timedelta, interval: Interval) -> None:
    """Edges start at start, end at end, increase strictly and are start + i * interval."""
    end = start + length
    try:
        edges = bucket_edges(start, end, interval)
    except TooManyBuckets:
        limit = shift(start, interval, MAX_BUCKETS)
        assert limit is not None
        assert limit < end
        return
    assert edges[0] == start
    assert edges[-1] == end
    assert all(a < b for a, b in itertools.pairwise(edges))
    assert edges[1:-1] == [shift(start, interval, i) for i in range(1, len(edges) - 1)]
    after = shift(start, interval, len(edges) - 1)
    assert after is None or after >= end
    assert len(edges) - 1 <= MAX_BUCKETS
