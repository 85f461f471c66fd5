"""What the Coder source keeps between reads: stored minutes, a first pass's user slices."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exporter.model import EVENT_CATEGORIES, HOUR, Category
from exporter.sources.coder.activity import EVERY_USER, CountedMinutes, UserSlice, user_slices
from exporter.sources.coder.cells import CellKey, StoredCells
from exporter.store.ingest import Minutes

KEYS = st.tuples(
    st.sampled_from(["o1", "o2"]),
    st.sampled_from([int(category) for category in EVENT_CATEGORIES]),
    st.integers(100, 103).map(lambda hour: hour * HOUR),
    st.sampled_from(["u1", "u2"]),
)
CELLS = st.dictionaries(KEYS, st.integers(1, 2**60 - 1), max_size=12)


def minutes(cells: Minutes) -> set[tuple[str, int, int, str]]:
    """Every (organization, category, epoch minute, user) of ``cells``."""
    return {
        (organization, category, hour // 60 + bit, user)
        for (organization, category, hour, user), mask in cells.items()
        for bit in range(60)
        if mask >> bit & 1
    }


@given(passes=st.lists(CELLS, max_size=5), since_hour=st.integers(99, 104))
def test_sent_minutes_plus_remembered_ones_cover_every_pass(
    passes: list[Minutes], since_hour: int
) -> None:
    """What passes send adds up to all they read; nothing is sent twice in remembered hours."""
    stored = StoredCells()
    stored.keep_from(since_hour * HOUR)
    sent: list[Minutes] = []
    for cells in passes:
        fresh: Minutes = {}
        stored.add_unstored(fresh, cells)
        stored.remember(fresh)
        sent.append(fresh)
    everything = set().union(*(minutes(cells) for cells in passes))
    assert set().union(*(minutes(cells) for cells in sent)) == everything
    remembered = [m for cells in sent for m in minutes(cells) if m[2] // 60 >= since_hour]
    assert len(remembered) == len(set(remembered))


def test_keep_from_forgets_older_hours_and_forget_empties() -> None:
    """Hours before the kept one are sent again; after ``forget`` everything is."""
    stored = StoredCells()
    stored.keep_from(100 * HOUR)
    old: CellKey = ("o", int(Category.IDE), 100 * HOUR, "u")
    new: CellKey = ("o", int(Category.IDE), 101 * HOUR, "u")
    stored.remember({old: 0b11, new: 0b11})

    def unstored(cells: Minutes) -> Minutes:
        pending: Minutes = {}
        stored.add_unstored(pending, cells)
        return pending

    assert unstored({old: 0b111, new: 0b111}) == {old: 0b100, new: 0b100}
    stored.keep_from(101 * HOUR)
    assert unstored({old: 0b1, new: 0b1}) == {old: 0b1}
    stored.forget()
    assert len(stored) == 0
    assert unstored({new: 0b1}) == {new: 0b1}


def test_unstored_minutes_are_added_to_what_is_pending() -> None:
    """A pending batch gathers cells of several chunks, ORing masks of the same key."""
    stored = StoredCells()
    key: CellKey = ("o", int(Category.LOGIN), 100 * HOUR, "u")
    pending: Minutes = {key: 0b1}
    stored.add_unstored(pending, {key: 0b10})
    stored.remember({key: 0b100})
    stored.add_unstored(pending, {key: 0b1100})
    assert pending == {key: 0b1011}


def test_agent_stats_are_read_from_the_first_minute_whose_rows_changed() -> None:
    """Equal counts need no read; a new, grown or emptied minute, or an unknown one, does."""
    stored = CountedMinutes(first=100, counts={100: 4, 101: 4, 103: 2})
    assert stored.first_change(CountedMinutes(101, {101: 4, 103: 2})) is None
    assert stored.first_change(CountedMinutes(101, {101: 4, 103: 2, 104: 1})) == 104
    assert stored.first_change(CountedMinutes(101, {101: 4, 102: 1, 103: 2})) == 102
    assert stored.first_change(CountedMinutes(101, {101: 4, 103: 3})) == 103
    assert stored.first_change(CountedMinutes(101, {101: 4})) == 103
    assert stored.first_change(CountedMinutes(99, {100: 4, 101: 4, 103: 2})) == 99


def _in_slice(user_id: str, users: UserSlice) -> bool:
    return (users.first is None or user_id >= users.first) and (
        users.end is None or user_id < users.end
    )


@given(
    listed=st.lists(st.uuids().map(str), max_size=40),
    others=st.lists(st.uuids().map(str), max_size=10),
    size=st.integers(1, 8),
)
def test_user_slices_hold_every_id_once(listed: list[str], others: list[str], size: int) -> None:
    """Every id falls in exactly one slice, listed or not; a slice holds ``size`` listed ids."""
    slices = user_slices(listed, size)
    for user_id in [*listed, *others, "00000000-0000-0000-0000-000000000000"]:
        assert sum(_in_slice(user_id, users) for users in slices) == 1
    held = [sum(_in_slice(user_id, users) for user_id in set(listed)) for users in slices]
    assert all(count <= size for count in held)
    assert len(slices) == max(1, -(-len(listed) // size))


def test_a_slice_is_sql_on_the_uuid_column() -> None:
    """An open side adds no condition; each bound is a cast parameter."""
    assert EVERY_USER.condition("s.user_id") == ""
    assert EVERY_USER.parameters() == {}
    bounded = UserSlice("a", "b")
    assert bounded.condition("s.user_id") == (
        " AND s.user_id >= CAST(:slice_first AS uuid) AND s.user_id < CAST(:slice_end AS uuid)"
    )
    assert bounded.parameters() == {"slice_first": "a", "slice_end": "b"}
