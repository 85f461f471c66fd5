"""Counters the process keeps itself (they are not in the store)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True)
class IngestCounters:
    """Events accepted and batches refused by this process since it started."""

    events_accepted: int = 0
    batches_rejected: int = 0
