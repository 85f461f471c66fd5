"""Pausing Python's cyclic garbage collector while a large answer is built.

A 10,000-user report allocates some 150,000 tuples, lists and dicts, none of them in a
reference cycle. Each few thousand allocations set off a collection that walks the whole
young heap for nothing, and now and then a full one: together 50-100 ms of a 300 ms report.
Reference counting frees all of it anyway, so the collector may as well wait for the end.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_holders = 0
_resume = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; safe to nest and to interleave across tasks.

    The collector resumes when the last block open anywhere closes, and only if it was on
    when the first one opened.
    """
    global _holders, _resume  # noqa: PLW0603  (one collector per process, one count for it)
    if _holders == 0:
        _resume = gc.isenabled()
        gc.disable()
    _holders += 1
    try:
        yield
    finally:
        _holders -= 1
        if _holders == 0 and _resume:
            gc.enable()
