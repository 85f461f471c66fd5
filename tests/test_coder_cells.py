"""The memory of stored minutes that lets a steady Coder pass send only new ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exporter.model import EVENT_CATEGORIES, Category
from exporter.sources.coder.cells import CellKey, Cells, StoredCells, cell_events

KEYS = st.tuples(
    st.sampled_from(["u1", "u2"]),
    st.sampled_from(["o1", "o2"]),
    st.sampled_from(EVENT_CATEGORIES),
    st.integers(100, 103),
)
CELLS = st.lists(st.tuples(KEYS, st.integers(1, 2**60 - 1)), max_size=12)


def minutes(cells: Cells) -> set[tuple[str, str, Category, int]]:
    """Every (user, organization, category, epoch minute) of ``cells``."""
    return {
        (user, organization, category, hour * 60 + bit)
        for (user, organization, category, hour), mask in cells
        for bit in range(60)
        if mask >> bit & 1
    }


@given(passes=st.lists(CELLS, max_size=5), since_hour=st.integers(99, 104))
def test_sent_minutes_plus_remembered_ones_cover_every_pass(
    passes: list[Cells], since_hour: int
) -> None:
    """What passes send adds up to all they read; nothing is sent twice in remembered hours."""
    stored = StoredCells()
    stored.keep_from(since_hour)
    sent: list[Cells] = []
    for cells in passes:
        fresh = stored.unstored(cells)
        stored.remember(fresh)
        sent.append(fresh)
    everything = set().union(*(minutes(cells) for cells in passes))
    assert set().union(*(minutes(cells) for cells in sent)) == everything
    remembered = [m for cells in sent for m in minutes(cells) if m[3] // 60 >= since_hour]
    assert len(remembered) == len(set(remembered))


def test_keep_from_forgets_older_hours_and_forget_empties() -> None:
    """Hours before the kept one are sent again; after ``forget`` everything is."""
    stored = StoredCells()
    stored.keep_from(100)
    old: CellKey = ("u", "o", Category.IDE, 100)
    new: CellKey = ("u", "o", Category.IDE, 101)
    stored.remember([(old, 0b11), (new, 0b11)])
    assert stored.unstored([(old, 0b111), (new, 0b111)]) == [(old, 0b100), (new, 0b100)]
    stored.keep_from(101)
    assert stored.unstored([(old, 0b1), (new, 0b1)]) == [(old, 0b1)]
    stored.forget()
    assert len(stored) == 0
    assert stored.unstored([(new, 0b1)]) == [(new, 0b1)]


@given(cells=CELLS)
def test_cell_events_cover_exactly_the_cells_minutes(cells: Cells) -> None:
    """One event per run of minutes, covering exactly the set bits."""
    covered = {
        (event.user_id, event.organization_id, event.category, minute)
        for event in cell_events(cells)
        for minute in range(event.first_minute, event.end_minute)
    }
    assert covered == minutes(cells)
