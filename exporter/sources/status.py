"""What /metrics tells about each configured source (``usage_source_*``); no I/O here."""

from __future__ import annotations

import dataclasses
from collections import Counter


@dataclasses.dataclass(slots=True)
class SourceStatus:
    """How syncing one source goes, as this process sees it.

    ``up`` and ``last_success`` follow the last pass of the source by any replica (the store
    records it); ``errors`` and ``events`` count what this process did.
    """

    source: str
    up: bool = False
    last_success: float | None = None
    errors: int = 0
    events: Counter[str] = dataclasses.field(default_factory=Counter)  # per source table
