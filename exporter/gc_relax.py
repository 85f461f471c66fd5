"""Fewer cyclic garbage collections while a large answer is built or a batch is stored.

A large report allocates hundreds of thousands of tuples, lists and dicts, none of them in a
reference cycle. At Python's default threshold every 700 allocations set off a collection of the
young objects, and every hundredth or so a full one that walks the whole heap, report included,
for nothing that reference counting does not free anyway. While a report is built the young
threshold is raised a hundredfold, so there are a few collections instead of hundreds. The
collector never stops altogether, so reports that overlap back to back cannot keep it off for
the rest of the process. Ingest requests do the same: a batch of events makes many short-lived
tuples, none in a cycle either.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

RELAXED_THRESHOLD = 100_000  # allocations between collections of the young generation

_holders = 0
_saved: tuple[int, ...] = ()


@contextlib.contextmanager
def gc_relaxed() -> Iterator[None]:
    """Collect rarely inside the block; safe to nest and to interleave across tasks.

    The thresholds return to what they were when the last block open anywhere closes. A
    collector switched off (``gc.disable()``) or set to never collect (threshold 0) stays so.
    """
    global _holders, _saved  # noqa: PLW0603  (one collector per process, one count for it)
    if _holders == 0:
        _saved = gc.get_threshold()
        if _saved[0]:
            gc.set_threshold(max(_saved[0], RELAXED_THRESHOLD), *_saved[1:])
    _holders += 1
    try:
        yield
    finally:
        _holders -= 1
        if _holders == 0:
            gc.set_threshold(*_saved)
