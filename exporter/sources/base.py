"""What every source shares: its protocol, a pass's summary, progress, and its errors."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Protocol


class SourceError(Exception):
    """A pass cannot read the platform; the message is one line for the operator."""


@dataclasses.dataclass(slots=True)
class PassSummary:
    """What one pass did, per source table where it says so."""

    rows: Counter[str] = dataclasses.field(default_factory=Counter)  # rows that became activity
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)  # too old or in the future
    new_minutes: int = 0
    directory_changes: int = 0
    first: bool = False  # no position yet: everything within the retention was read

    def line(self) -> str:
        """One line for a person: rows per table, new minutes, directory changes."""
        tables = ", ".join(f"{table} {count}" for table, count in sorted(self.rows.items()))
        skipped = sum(self.skipped.values())
        return (
            f"rows read: {tables or 'none'}; {self.new_minutes} new active minutes; "
            f"{self.directory_changes} directory changes"
            + (
                f"; {skipped} rows skipped (older than the retention or in the future)"
                if skipped
                else ""
            )
        )


class Progress(Protocol):
    """Told how a pass advances, so that a long first pass can show it."""

    def phase(self, name: str, total: int | None) -> None:
        """A phase (the directory, or one table) begins; ``total`` rows when known."""

    def advance(self, rows: int) -> None:
        """``rows`` more rows of the current phase are done."""


class NoProgress:
    """Progress that shows nothing."""

    def phase(self, name: str, total: int | None) -> None:
        """Nothing to show."""

    def advance(self, rows: int) -> None:
        """Nothing to show."""


class Source(Protocol):
    """A platform whose activity and directory the service reads."""

    name: str

    async def sync(self, progress: Progress) -> PassSummary:
        """Run one pass: read what changed, store it, move the positions; raise on failure."""

    async def close(self) -> None:
        """Release connections to the platform."""
