"""Ingest properties on SQLite and PostgreSQL: activity is a set; order and splits don't matter.

The store is not reset between Hypothesis examples, so each example works under fresh user
and organization ids and compares only the rows of those ids.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.events import Event
from exporter.model import Category
from exporter.store import Store
from exporter.store.ordering import in_key_order
from exporter.store.schema import LAST_SEEN_COLUMNS, last_seen
from tests.support import T0, RawEvent, raw_to_events, stored_activity, stored_totals

USERS = 3
ORGANIZATIONS = 2
EPOCH_MINUTE = int(T0.timestamp()) // 60

# (user, organization, category, start minute after now - 200 min, minutes; 0 = point event)
raw_events = st.tuples(
    st.integers(0, USERS - 1),
    st.integers(0, ORGANIZATIONS - 1),
    st.sampled_from([c for c in Category if c is not Category.ANY]),
    st.integers(0, 100),
    st.integers(0, 90),
)
batches = st.lists(raw_events, min_size=1, max_size=25)


def _events_of(store: Store, raw: list[RawEvent], prefix: str) -> list[Event]:
    return raw_to_events(store, raw, prefix, EPOCH_MINUTE - 200)


async def _state(store: Store, prefix: str) -> tuple[dict[Any, int], dict[Any, int]]:
    """Rollup rows and totals of one prefix, with the prefix taken out of the keys."""
    rows = {
        (org.removeprefix(prefix), category, hour, user.removeprefix(prefix)): mask
        for (org, category, hour, user), mask in (await stored_activity(store)).items()
        if user.startswith(prefix)
    }
    totals = {
        (org.removeprefix(prefix), category): minutes
        for (org, category), minutes in (await stored_totals(store)).items()
        if org.startswith(prefix)
    }
    return rows, totals


def _fresh() -> str:
    return f"p{uuid.uuid4().hex[:10]}-"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=batches,
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 25), max_size=4),
    replays=st.lists(st.integers(0, 4), max_size=3),
)
async def test_any_order_and_split_and_replay_store_the_same_activity(
    store: Store, raw: list[RawEvent], order: Any, cuts: list[int], replays: list[int]
) -> None:
    """Ingesting a batch once equals ingesting it shuffled, split and partly replayed."""
    once_prefix, split_prefix = _fresh(), _fresh()
    once = await store.ingest(_events_of(store, raw, once_prefix))
    expected = await _state(store, once_prefix)

    shuffled = list(raw)
    order.shuffle(shuffled)
    bounds = sorted({0, len(shuffled), *(min(c, len(shuffled)) for c in cuts)})
    parts = [shuffled[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    new_minutes = 0
    for part in parts:
        new_minutes += (await store.ingest(_events_of(store, part, split_prefix))).new_minutes
    for index in replays:
        again = await store.ingest(_events_of(store, parts[index % len(parts)], split_prefix))
        assert again.new_minutes == 0

    assert await _state(store, split_prefix) == expected
    assert once.new_minutes == once.minutes
    assert new_minutes == once.minutes
    assert sum(expected[1].values()) == once.minutes


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=batches, order=st.randoms(use_true_random=False))
async def test_replaying_a_batch_in_another_order_adds_nothing(
    store: Store, raw: list[RawEvent], order: Any
) -> None:
    """A replay, in any order, reports the same ``minutes``, no new ones, and changes no row."""
    prefix = _fresh()
    first = await store.ingest(_events_of(store, raw, prefix))
    before = await _state(store, prefix)
    shuffled = list(raw)
    order.shuffle(shuffled)
    again = await store.ingest(_events_of(store, shuffled, prefix))
    assert (again.accepted, again.minutes, again.new_minutes) == (len(raw), first.minutes, 0)
    assert await _state(store, prefix) == before


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=batches)
async def test_unions_hold_the_or_of_their_parts(store: Store, raw: list[RawEvent]) -> None:
    """Each ``any`` row is the OR of the category rows, and ``*`` the OR over organizations."""
    prefix = _fresh()
    await store.ingest(_events_of(store, raw, prefix))
    rows, totals = await _state(store, prefix)
    real = {k: v for k, v in rows.items() if k[0] != "*" and k[1] != Category.ANY}
    unions: dict[tuple[Any, ...], int] = {}
    for (org, category, hour, user), mask in real.items():
        for key in itertools.product((org, "*"), (category, Category.ANY)):
            full = (key[0], int(key[1]), hour, user)
            unions[full] = unions.get(full, 0) | mask
    assert rows == unions
    expected_totals: dict[tuple[str, int], int] = {}
    for (org, category, _hour, _user), mask in real.items():
        expected_totals[(org, category)] = (
            expected_totals.get((org, category), 0) + mask.bit_count()
        )
    assert totals == expected_totals


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=batches, cuts=st.lists(st.integers(0, 25), min_size=1, max_size=4))
async def test_concurrent_parts_store_the_same_activity(
    store: Store, raw: list[RawEvent], cuts: list[int]
) -> None:
    """Parts of a batch ingested at the same time (racing placeholders) equal the whole."""
    once_prefix, split_prefix = _fresh(), _fresh()
    once = await store.ingest(_events_of(store, raw, once_prefix))
    bounds = sorted({0, len(raw), *(min(c, len(raw)) for c in cuts)})
    parts = [raw[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    results = await asyncio.gather(
        *(store.ingest(_events_of(store, part, split_prefix)) for part in parts + parts)
    )
    assert sum(result.new_minutes for result in results) == once.minutes
    assert await _state(store, split_prefix) == await _state(store, once_prefix)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=batches, cut=st.integers(0, 25), order=st.randoms(use_true_random=False))
async def test_last_seen_holds_each_newest_minute(
    store: Store, raw: list[RawEvent], cut: int, order: random.Random
) -> None:
    """Each category column is the newest stored minute of that slice; NULL when there is none.

    The batch goes in as two parts in a random order, so a part may bring older minutes than
    the row holds, or categories the row has not seen yet.
    """
    prefix = _fresh()
    events = _events_of(store, raw, prefix)
    parts = [events[:cut], events[cut:]]
    order.shuffle(parts)
    for part in parts:
        await store.ingest(part)
    rows, _ = await _state(store, prefix)
    expected: dict[tuple[str, str], list[int | None]] = {}
    for (org, category, hour, user), mask in rows.items():
        seen = expected.setdefault((org, user), [None] * len(LAST_SEEN_COLUMNS))
        minute = hour + 60 * (mask.bit_length() - 1)
        seen[category] = max(seen[category] or minute, minute)
    async with store.read() as connection:
        stored = {
            (org.removeprefix(prefix), user.removeprefix(prefix)): list(minutes)
            for org, user, *minutes in await connection.execute(
                sa.select(last_seen).where(last_seen.c.user_id.startswith(prefix))
            )
        }
    assert stored == expected


@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["o1", "o2", "*"]), st.integers(0, 50), st.text(max_size=4)),
        st.integers(),
        max_size=200,
    )
)
def test_rows_in_key_order_are_sorted_rows(rows: dict[tuple[str, int, str], int]) -> None:
    """``in_key_order`` gives exactly what one ``sorted`` over the items gives."""
    assert in_key_order(rows) == sorted(rows.items())
