"""Cells: a minute mask per (user, organization, action, UTC hour), as the Coder source reads them.

Activity is a set of minutes, so storing a minute again changes nothing but costs a write. A
steady pass re-reads its look-back, almost all of it already stored by the pass before.
``StoredCells`` remembers what this process's passes stored for the hours a later pass reads
again, and lets a pass send only the minutes not among them. It only ever leaves out minutes
that a committed batch holds; forgetting (a failed pass, a directory change) makes the next
pass send everything it reads, as without it.
"""

from __future__ import annotations

from exporter.events import Event
from exporter.model import Category, mask_runs

CellKey = tuple[str, str, Category, int]  # user id, organization id, action, epoch hour
Cells = list[tuple[CellKey, int]]  # with the minute mask of that hour (bit i: minute i)


def cell_events(cells: Cells) -> list[Event]:
    """The events of ``cells``: one per run of minutes."""
    events = []
    for (user_id, organization_id, category, hour), mask in cells:
        base = hour * 60
        for first, end in mask_runs(mask):
            events.append(Event(user_id, organization_id, category, base + first, base + end))
    return events


class StoredCells:
    """Minute masks this process has stored, for hours from ``since_hour`` on."""

    def __init__(self) -> None:
        self._masks: dict[CellKey, int] = {}
        self.since_hour = 0

    def __len__(self) -> int:
        return len(self._masks)

    def keep_from(self, hour: int) -> None:
        """Remember only hours from ``hour`` on (those a pass may read again)."""
        self.since_hour = hour
        self._masks = {key: mask for key, mask in self._masks.items() if key[3] >= hour}

    def unstored(self, cells: Cells) -> Cells:
        """The minutes of ``cells`` not known to be stored; cells left with none are dropped."""
        masks = self._masks
        fresh: Cells = []
        for key, mask in cells:
            new = mask & ~masks.get(key, 0)
            if new:
                fresh.append((key, new))
        return fresh

    def remember(self, cells: Cells) -> None:
        """``cells`` were stored (their batch committed)."""
        masks = self._masks
        for key, mask in cells:
            if key[3] >= self.since_hour:
                masks[key] = masks.get(key, 0) | mask

    def forget(self) -> None:
        """Forget everything: the next pass sends all it reads."""
        self._masks.clear()
