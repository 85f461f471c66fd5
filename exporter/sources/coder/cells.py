"""Cells: a minute mask per (organization, action, UTC hour, user), as the Coder source reads them.

A cell is a key of the store's active minutes (``exporter.store.ingest.Minutes``), so a batch
of cells is stored as it is. Activity is a set of minutes, so storing a minute again changes
nothing but costs a write. A steady pass re-reads its look-back, almost all of it already
stored by the pass before. ``StoredCells`` remembers what this process's passes stored for the
hours a later pass reads again, and lets a pass send only the minutes not among them. It only
ever leaves out minutes that a committed batch holds; forgetting (a failed pass, a directory
change) makes the next pass send everything it reads, as without it.
"""

from __future__ import annotations

from exporter.store.ingest import Minutes, RowKey

CellKey = RowKey  # organization id, action (a ``Category``), hour start (epoch s), user id


class StoredCells:
    """Minute masks this process has stored, for hours from ``since_hour`` on."""

    def __init__(self) -> None:
        self._masks: Minutes = {}
        self.since_hour = 0  # epoch seconds of an hour's start

    def __len__(self) -> int:
        return len(self._masks)

    def keep_from(self, hour: int) -> None:
        """Remember only hours from ``hour`` (epoch s) on: those a pass may read again."""
        self.since_hour = hour
        self._masks = {key: mask for key, mask in self._masks.items() if key[2] >= hour}

    def add_unstored(self, pending: Minutes, cells: Minutes) -> None:
        """Add to ``pending`` the minutes of ``cells`` not known to be stored."""
        masks = self._masks
        if not masks:
            for key, mask in cells.items():
                pending[key] = pending.get(key, 0) | mask
            return
        for key, mask in cells.items():
            new = mask & ~masks.get(key, 0)
            if new:
                pending[key] = pending.get(key, 0) | new

    def remember(self, cells: Minutes) -> None:
        """``cells`` were stored (their batch committed)."""
        masks = self._masks
        since = self.since_hour
        for key, mask in cells.items():
            if key[2] >= since:
                masks[key] = masks.get(key, 0) | mask

    def forget(self) -> None:
        """Forget everything: the next pass sends all it reads."""
        self._masks.clear()
