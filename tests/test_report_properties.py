"""Properties of the activity report on both stores, against a brute-force oracle.

The store is not reset between Hypothesis examples: each example uses users of its own
(a fresh id prefix) and looks only at them, so earlier examples cannot disturb it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter.intervals import bucket_edges, parse_interval
from exporter.model import EVENT_CATEGORIES
from exporter.report import build_report, parse_parameters, resolve_organization
from exporter.store import Store, day_blocks
from exporter.timeutil import to_microseconds
from tests.report_helpers import ingest
from tests.support import T0, open_days_from

UTC = dt.UTC
WINDOW = T0 - dt.timedelta(days=1)  # events start in the 12 hours from here
WINDOW_S = int(WINDOW.timestamp())
LONG_WINDOW = T0 - dt.timedelta(days=300)  # events for calendar buckets start in 290 days
ORGANIZATIONS = (None, "o1", "o2")  # None: the default organization
CATEGORIES = tuple(c.token for c in EVENT_CATEGORIES)
OFFSETS = (UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=7)))
INTERVALS = {  # interval -> its shortest length in seconds
    "1 minute": 60,
    "7 minutes": 420,
    "1 hour": 3600,
    "90 minutes": 5400,
    "3 hours": 10800,
    "1 day": 86400,
    "1 week": 604800,
    "1 month": 28 * 86400,
}
PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_prefixes = itertools.count()

Event = tuple[int, str | None, str, int, int | None]  # user, org, category, epoch s, length s


def _events(starts: st.SearchStrategy[int]) -> st.SearchStrategy[list[Event]]:
    return st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(ORGANIZATIONS),
            st.sampled_from(CATEGORIES),
            starts,
            st.one_of(st.none(), st.integers(0, 90), st.integers(0, 240 * 60)),
        ),
        min_size=1,
        max_size=20,
    )


events_strategy = _events(st.integers(WINDOW_S, WINDOW_S + 12 * 3600))


@st.composite
def ranges(draw: st.DrawFn) -> dict[str, str]:
    """Report parameters over the events' window: any offset, sub-second starts."""
    interval = draw(st.sampled_from(sorted(INTERVALS)) | st.sampled_from(["1 minute", "7 minutes"]))
    start = WINDOW + dt.timedelta(
        seconds=draw(st.integers(-2 * 3600, 12 * 3600)),
        microseconds=draw(st.sampled_from([0, 0, 1, 500_000])),
    )
    length = draw(st.integers(1, min(16 * 3600, 1000 * INTERVALS[interval])))
    offset = draw(st.sampled_from(OFFSETS))
    return {
        "start": start.astimezone(offset).isoformat(),
        "end": (start + dt.timedelta(seconds=length)).astimezone(offset).isoformat(),
        "interval": interval,
    }


OpenDays = tuple[int, int] | None
"""(first open day, days closed after the ingest), in days from the range's first UTC day."""

open_days = st.none() | st.tuples(st.integers(-1, 62), st.integers(0, 3))
open_days_near = st.none() | st.tuples(st.integers(-1, 2), st.integers(0, 2))


async def _ingest_example(
    store: Store,
    events: Sequence[Event],
    open_days: OpenDays = None,
    params: dict[str, str] | None = None,
) -> str:
    """Store the example's events under a fresh user prefix; return the prefix.

    With ``open_days`` the days from a day near the report's start on are open while the
    events go in (hourly rows only), and some of them are closed afterwards.
    """
    if open_days is not None and params is not None:
        first_day = int(dt.datetime.fromisoformat(params["start"]).timestamp()) // 86400
        await open_days_from(store, first_day + open_days[0])
    prefix = await _store_events(store, events)
    if open_days is not None and params is not None and open_days[1]:
        async with store.write() as connection:
            first_open = await day_blocks.first_open_day(connection)
            await day_blocks.close_days(connection, before=first_open + open_days[1])
    return prefix


async def _store_events(store: Store, events: Sequence[Event]) -> str:
    prefix = f"p{next(_prefixes)}-"
    payload = []
    for user, org, category, epoch, length in events:
        start = dt.datetime.fromtimestamp(epoch, tz=UTC)
        event: dict[str, Any] = {
            "user_id": f"{prefix}{user}",
            "category": category,
            "time": start.isoformat(),
        }
        if org is not None:
            event["organization_id"] = org
        if length is not None:
            event["end_time"] = (start + dt.timedelta(seconds=length)).isoformat()
        payload.append(event)
    if payload:
        await ingest(store, payload)
    return prefix


async def _report(store: Store, params: dict[str, str]) -> list[dict[str, int]]:
    """The report's buckets as counts of the current example's users (durations checked)."""
    body = await _report_body(store, params)
    return [
        {e["user_id"]: e["count"] for e in bucket["user_activity"]} for bucket in body["activity"]
    ]


async def _report_body(store: Store, params: dict[str, str]) -> dict[str, Any]:
    request = parse_parameters(params)
    async with store.read() as connection:
        organization_id = await resolve_organization(connection, request.org)
        return await build_report(connection, request, organization_id=organization_id)


def _mine(buckets: list[dict[str, int]], prefix: str) -> list[dict[str, int]]:
    return [{u: c for u, c in bucket.items() if u.startswith(prefix)} for bucket in buckets]


def _brute_force(
    events: Sequence[Event], prefix: str, params: dict[str, str]
) -> list[dict[str, int]]:
    """Counts per bucket from the raw events: sets of (user, minute) in Python."""
    start = dt.datetime.fromisoformat(params["start"])
    end = dt.datetime.fromisoformat(params["end"])
    edges = [
        to_microseconds(e) for e in bucket_edges(start, end, parse_interval(params["interval"]))
    ]
    active: set[tuple[str, int]] = set()
    for user, org, category, begin, length in events:
        if params.get("org") not in (None, org or "default"):
            continue
        if params.get("category", "any") not in ("any", category):
            continue
        finish = begin if length is None else begin + length
        last = begin // 60 if finish == begin else -(-finish // 60) - 1
        active.update((f"{prefix}{user}", minute) for minute in range(begin // 60, last + 1))
    buckets: list[dict[str, int]] = [defaultdict(int) for _ in edges[:-1]]
    for member, minute in active:
        moment = minute * 60 * 10**6
        for index, (low, high) in enumerate(itertools.pairwise(edges)):
            if low <= moment < high:
                buckets[index][member] += 1
    return [dict(bucket) for bucket in buckets]


@settings(PROPERTY_SETTINGS, max_examples=100)
@example(
    events=[(0, None, "ide", WINDOW_S + 3600, 3600), (1, "o1", "app", WINDOW_S + 3630, 0)],
    params={
        "start": (WINDOW + dt.timedelta(seconds=3750)).isoformat(),
        "end": (WINDOW + dt.timedelta(seconds=4300)).isoformat(),
        "interval": "1 minute",
    },
    category="any",
    org=None,
    open_days=None,
)
@given(
    events=events_strategy,
    params=ranges(),
    category=st.sampled_from(("any", *CATEGORIES)),
    org=st.sampled_from((None, "o1", "default")),
    open_days=open_days_near,
)
async def test_matches_brute_force(
    store: Store,
    *,
    events: list[Event],
    params: dict[str, str],
    category: str,
    org: str | None,
    open_days: OpenDays,
) -> None:
    """The report equals a brute-force count of distinct (user, minute) from the raw events.

    Days cut by an edge are read one-sided from a closed day's total, or whole from the hours
    when they are open.
    """
    prefix = await _ingest_example(store, events, open_days, params)
    params = {**params, "category": category} | ({"org": org} if org else {})
    body = await _report_body(store, params)
    got = _mine(
        [{e["user_id"]: e["count"] for e in b["user_activity"]} for b in body["activity"]], prefix
    )
    assert got == _brute_force(events, prefix, params)
    for bucket in body["activity"]:
        durations = [(-e["duration"], e["user_id"]) for e in bucket["user_activity"]]
        assert durations == sorted(durations)
        assert all(e["count"] > 0 for e in bucket["user_activity"])


@PROPERTY_SETTINGS
@given(events=events_strategy, params=ranges())
async def test_totals_are_sums_and_buckets_tile(
    store: Store, events: list[Event], params: dict[str, str]
) -> None:
    """User totals are the sums of their buckets; bucket times and durations tile the range."""
    prefix = await _ingest_example(store, events)
    body = await _report_body(store, params)
    sums: dict[str, int] = defaultdict(int)
    for bucket in body["activity"]:
        for entry in bucket["user_activity"]:
            sums[entry["user_id"]] += entry["count"]
    assert set(body["users"]) == set(sums)
    for user_id, user in body["users"].items():
        assert user["id"] == user_id
        assert user["total_count"] == sums[user_id]
        assert user["total_duration"] == sums[user_id] * 60 * 10**9
    assert {u for u in sums if u.startswith(prefix)} <= {f"{prefix}{e[0]}" for e in events}
    start = dt.datetime.fromisoformat(params["start"])
    end = dt.datetime.fromisoformat(params["end"])
    assert (
        sum(b["duration"] for b in body["activity"])
        == (end - start) // dt.timedelta(microseconds=1) * 1000
    )
    moment = start
    for bucket in body["activity"]:
        assert bucket["duration"] > 0
        assert bucket["time"] == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        moment += dt.timedelta(microseconds=bucket["duration"] // 1000)
    assert moment == end


@PROPERTY_SETTINGS
@given(events=events_strategy, params=ranges())
async def test_any_is_a_union_of_categories(
    store: Store, events: list[Event], params: dict[str, str]
) -> None:
    """Per bucket and user, ``any`` is at least each category and at most their sum."""
    prefix = await _ingest_example(store, events)
    union = _mine(await _report(store, {**params, "category": "any"}), prefix)
    single = [
        _mine(await _report(store, {**params, "category": token}), prefix) for token in CATEGORIES
    ]
    for index, bucket in enumerate(union):
        users = set(bucket).union(*(s[index] for s in single))
        for user in users:
            parts = [s[index].get(user, 0) for s in single]
            assert max(parts) <= bucket.get(user, 0) <= sum(parts)


@PROPERTY_SETTINGS
@given(events=events_strategy, params=ranges(), cut=st.floats(0, 1))
async def test_split_at_a_boundary(
    store: Store, events: list[Event], params: dict[str, str], cut: float
) -> None:
    """A report over [a, c) is the one over [a, b) followed by [b, c) for a boundary b."""
    prefix = await _ingest_example(store, events)
    whole = await _report_body(store, params)
    times = [dt.datetime.fromisoformat(params["start"])]
    for bucket in whole["activity"][:-1]:
        times.append(times[-1] + dt.timedelta(microseconds=bucket["duration"] // 1000))
    if len(times) < 2:
        return
    k = 1 + int(cut * (len(times) - 2))
    b = times[k].isoformat()
    left = await _report_body(store, {**params, "end": b})
    right = await _report_body(store, {**params, "start": b})
    assert left["activity"] + right["activity"] == whole["activity"]
    totals: defaultdict[str, int] = defaultdict(int)
    for part in (left, right):
        for user_id, user in part["users"].items():
            totals[user_id] += user["total_count"]
    assert {u: t for u, t in totals.items() if u.startswith(prefix)} == {
        u: user["total_count"] for u, user in whole["users"].items() if u.startswith(prefix)
    }


@st.composite
def calendar_cases(draw: st.DrawFn) -> tuple[list[Event], dict[str, str]]:
    """Long ranges, mostly by calendar months and years, and events around their edges."""
    interval = draw(
        st.sampled_from(["1 month", "1 month", "2 months", "1 year", "5 days", "1 week", "1 day"])
    )
    start = LONG_WINDOW + dt.timedelta(
        seconds=draw(st.integers(-40 * 86400, 290 * 86400)),
        microseconds=draw(st.sampled_from([0, 0, 1, 500_000])),
    )
    end = start + dt.timedelta(seconds=draw(st.integers(3600, 400 * 86400)))
    offset = draw(st.sampled_from(OFFSETS))
    params = {
        "start": start.astimezone(offset).isoformat(),
        "end": end.astimezone(offset).isoformat(),
        "interval": interval,
    }
    edges = bucket_edges(start, end, parse_interval(interval))
    first, last = int(LONG_WINDOW.timestamp()), int(LONG_WINDOW.timestamp()) + 290 * 86400
    near_edges = st.builds(
        lambda edge, delta: min(max(int(edge.timestamp()) + delta, first), last),
        st.sampled_from(edges),
        st.integers(-3 * 3600, 3 * 3600),
    )
    return draw(_events(near_edges | st.integers(first, last))), params


_WEEKS_FROM = LONG_WINDOW + dt.timedelta(days=10, hours=15, minutes=27, seconds=30)
_WEEK_EDGES = [int((_WEEKS_FROM + dt.timedelta(weeks=k)).timestamp()) for k in range(5)]


@settings(PROPERTY_SETTINGS, max_examples=100)
@example(  # 30 days by week from mid-afternoon: each edge's day is read from its shorter side
    case=(
        [
            (user, None, "ide", edge + delta, length)
            for user, (delta, length) in enumerate(
                [(-5 * 3600, 4 * 3600), (-1800, 7200), (3600, 600), (-11 * 3600, None)]
            )
            for edge in _WEEK_EDGES
        ],
        {
            "start": _WEEKS_FROM.isoformat(),
            "end": (_WEEKS_FROM + dt.timedelta(days=30)).isoformat(),
            "interval": "1 week",
        },
    ),
    category="any",
    open_days=None,
)
@given(case=calendar_cases(), category=st.sampled_from(("any", "ide")), open_days=open_days)
async def test_calendar_buckets_match_brute_force(
    store: Store, case: tuple[list[Event], dict[str, str]], category: str, open_days: OpenDays
) -> None:
    """Month and year buckets over most of the retention equal the brute-force count.

    Also when some of the days are open (their minutes in the hourly rows only).
    """
    events, params = case
    prefix = await _ingest_example(store, events, open_days, params)
    params = {**params, "category": category}
    got = _mine(await _report(store, params), prefix)
    assert got == _brute_force(events, prefix, params)


@st.composite
def midnight_cases(draw: st.DrawFn) -> tuple[list[Event], dict[str, str]]:
    """Ranges from a UTC midnight by whole days, weeks and months: mostly the day blocks."""
    interval = draw(st.sampled_from(["1 day", "2 days", "1 week", "1 month"]))
    first_day = int(LONG_WINDOW.timestamp()) // 86400 * 86400 + 86400
    start = dt.datetime.fromtimestamp(first_day + 86400 * draw(st.integers(0, 250)), UTC)
    end = start + dt.timedelta(
        days=draw(st.integers(1, 60)), hours=draw(st.sampled_from([0, 0, 5]))
    )
    params = {"start": start.isoformat(), "end": end.isoformat(), "interval": interval}
    edges = bucket_edges(start, end, parse_interval(interval))
    latest = int(T0.timestamp()) - 5 * 3600
    near_edges = st.builds(
        lambda edge, delta: min(int(edge.timestamp()) + delta, latest),
        st.sampled_from(edges),
        st.integers(-30 * 3600, 30 * 3600),
    )
    return draw(_events(near_edges)), params


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(case=midnight_cases(), category=st.sampled_from(("any", "tunnel")), open_days=open_days)
async def test_midnight_buckets_match_brute_force(
    store: Store, case: tuple[list[Event], dict[str, str]], category: str, open_days: OpenDays
) -> None:
    """Buckets of whole UTC days equal the brute-force count, the days closed or open.

    Closed days are read from the day blocks, open ones from the hourly rows.
    """
    events, params = case
    prefix = await _ingest_example(store, events, open_days, params)
    params = {**params, "category": category}
    got = _mine(await _report(store, params), prefix)
    assert got == _brute_force(events, prefix, params)
