"""State the process keeps itself (not in the store), read by /metrics at every scrape."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True)
class IngestCounters:
    """Events accepted and batches refused by this process since it started."""

    events_accepted: int = 0
    batches_rejected: int = 0


@dataclasses.dataclass(slots=True)
class RefreshStatus:
    """How refreshing the snapshot from the store goes."""

    up: bool = False
    last_success: float | None = None
    last_duration: float | None = None
    errors: int = 0
