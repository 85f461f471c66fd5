"""The report's one-pass JSON is byte for byte orjson's dump of the same report as objects."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.model import Category
from exporter.report import Collected, ReportRequest

T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
USER_IDS = st.text("abz019._:-", min_size=1, max_size=8)
TEXT = st.text(st.characters(codec="utf-8"), max_size=6)  # quotes, controls, non-ASCII
ROLES = st.lists(st.sampled_from(["site-auditor", "site-admin", "organization-admin"]), unique=True)


def _collected(edges: list[dt.datetime], rows: dict[str, tuple[Any, ...]]) -> Collected:
    """A report over ``edges`` in which each user has ``minutes`` in every bucket."""
    edges_us = [int(edge.timestamp()) * 1_000_000 for edge in edges]
    request = ReportRequest(edges=tuple(edges), category=Category.ANY, org=None)
    collected = Collected(request, edges_us, [[] for _ in edges[1:]], {}, {})
    for user_id, (profile, minutes) in sorted(rows.items()):  # as bucket_minutes gives them
        collected.found[user_id] = (user_id, *profile)
        for bucket in range(len(edges) - 1):
            if minutes[bucket % len(minutes)]:
                collected.per_bucket[bucket].append((user_id, minutes[bucket % len(minutes)]))
        collected.totals[user_id] = sum(count for _, count in collected.per_bucket[0]) or 1
    return collected


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # a loaded machine
@given(
    rows=st.dictionaries(
        USER_IDS,
        st.tuples(
            st.one_of(
                st.tuples(st.none(), st.none(), st.none(), st.none()),  # not in the directory
                st.tuples(TEXT, TEXT, TEXT, ROLES.map(" ".join)),
            ),
            st.lists(st.integers(0, 3), min_size=1, max_size=3),  # ties on purpose
        ),
        max_size=6,
    ),
    buckets=st.integers(1, 4),
)
def test_one_pass_json_is_the_dumped_objects(rows: dict[str, Any], buckets: int) -> None:
    edges = [T0 + dt.timedelta(days=7 * n) for n in range(buckets + 1)]
    expected = orjson.dumps(_collected(edges, rows).to_dict())
    assert _collected(edges, rows).to_json() == expected


def test_nanoseconds_beyond_64_bits() -> None:
    """A bucket of centuries: orjson cannot write its nanoseconds, the one pass can."""
    edges = [dt.datetime(1000, 1, 1, tzinfo=dt.UTC), dt.datetime(9000, 1, 1, tzinfo=dt.UTC)]
    body = _collected(edges, {"u1": ((None, None, None, None), [5])}).to_json()
    expected = _collected(edges, {"u1": ((None, None, None, None), [5])}).to_dict()
    assert json.loads(body) == expected
    assert expected["activity"][0]["duration"] > 2**64
