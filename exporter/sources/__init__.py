"""Sources: platforms whose activity the service pulls, each one more producer for ingest.

``exporter.sources.coder`` reads a Coder deployment's database; ``SyncScheduler`` runs any
source's passes, one at a time across the processes that share the store.
"""

from exporter.sources.base import NoProgress, PassSummary, Progress, Source, SourceError
from exporter.sources.scheduler import SyncScheduler
from exporter.sources.status import SourceStatus

__all__ = [
    "NoProgress",
    "PassSummary",
    "Progress",
    "Source",
    "SourceError",
    "SourceStatus",
    "SyncScheduler",
]
