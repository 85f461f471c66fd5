"""Giving memory back to the system after a large batch.

CPython frees a large batch's objects at once, but glibc's allocator keeps the freed pages
of its arenas (and of the worker threads' arenas) mapped: RSS stayed hundreds of megabytes
above its resting size after one batch. ``malloc_trim`` returns what is free at the top of
every arena. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
from typing import Any


@functools.cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    with contextlib.suppress(OSError):
        library = ctypes.CDLL(name)
        if hasattr(library, "malloc_trim"):
            return library
    return None


def give_back() -> None:
    """Collect garbage, then hand free heap pages back to the system where glibc can."""
    gc.collect()
    library = _libc()
    if library is not None:
        library.malloc_trim(0)
