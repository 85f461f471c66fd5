"""Putting a large batch's rows in key order without holding the GIL for seconds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from operator import itemgetter
from typing import Any, TypeVar, cast

K = TypeVar("K", bound=tuple[Any, ...])
V = TypeVar("V")


def in_key_order(items: Mapping[K, V]) -> list[tuple[K, V]]:
    """``sorted(items.items())``, made of many small sorts.

    One ``sorted`` call over half a million keys runs in C from start to end, holding the GIL
    all along, so the event loop waits for it even when a worker thread makes the call. Here
    the keys are grouped by all but their last element (Python code, which hands the GIL
    over), then the groups and each group's last elements are sorted: every C call is short.
    """
    groups: dict[tuple[Any, ...], list[tuple[Any, V]]] = defaultdict(list)
    for key, value in items.items():
        groups[key[:-1]].append((key[-1], value))
    ordered: list[tuple[K, V]] = []
    for prefix in sorted(groups):
        members = groups[prefix]
        members.sort(key=itemgetter(0))
        ordered.extend((cast(K, (*prefix, last)), value) for last, value in members)
    return ordered
