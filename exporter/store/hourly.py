"""A batch's ``activity`` rows, grouped so that they can be written chunk by chunk in key order.

The largest legal batch makes half a million hourly rows. Rows are kept grouped per
(organization, hour), each group a dict of user to masks, and come out in key order (the
order in which every writer locks them) a chunk at a time: one group's users are sorted when
the group is reached, and each chunk's statement parameters are built in a worker thread and
dropped once sent. No flat, sorted copy of all the rows, nor all their parameters, is ever
held at once, and every sort is short enough not to keep the event loop from the GIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from exporter.model import ALL_ORGANIZATIONS_KEY, Category
from exporter.store.ordering import in_key_order
from exporter.store.schema import LAST_SEEN_COLUMNS, MASK_COLUMNS

RowKey = tuple[str, int, int, str]  # organization_id, category, hour, user_id
Minutes = dict[RowKey, int]
"""Active minutes: a mask per real (organization, category) slice, hour and user (bit i: minute i
of the hour)."""
HourKey = tuple[str, int, str]  # organization_id, hour, user_id: an ``activity`` row
Row = tuple[HourKey, list[int]]
Groups = dict[tuple[str, int], dict[str, list[int]]]
"""``activity`` rows per (organization, hour): each user's masks, indexed by ``Category``."""
_T = TypeVar("_T")


def hourly_groups(masks: Minutes) -> Groups:
    """The ``activity`` rows of ``rollup``'s masks: one mask per category, unions included.

    ``any`` is the union of the other categories, and the rows of organization ``*`` the union
    of every organization's.
    """
    groups: Groups = {}
    any_category = int(Category.ANY)
    for (organization_id, category, hour, user_id), mask in masks.items():
        for group_key in ((organization_id, hour), (ALL_ORGANIZATIONS_KEY, hour)):
            users = groups.get(group_key)
            if users is None:
                users = groups[group_key] = {}
            row = users.get(user_id)
            if row is None:
                row = users[user_id] = [0] * len(MASK_COLUMNS)
            row[category] |= mask
            row[any_category] |= mask
    return groups


def row_count(groups: Groups) -> int:
    """How many ``activity`` rows ``groups`` holds."""
    return sum(len(users) for users in groups.values())


def row_chunks(groups: Groups, size: int) -> Iterator[list[Row]]:
    """The rows in key order (organization, hour, user), ``size`` at a time."""
    chunk: list[Row] = []
    for organization_id, hour in sorted(groups):
        users = groups[(organization_id, hour)]
        for user_id in sorted(users):
            chunk.append(((organization_id, hour, user_id), users[user_id]))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def built_chunks(
    groups: Groups, size: int, build: Callable[[list[Row]], _T]
) -> AsyncIterator[_T]:
    """``build`` of each of ``row_chunks``, each chunk made and built in a worker thread."""
    chunks = row_chunks(groups, size)

    def next_built() -> tuple[_T] | None:
        chunk = next(chunks, None)
        return None if chunk is None else (build(chunk),)

    while (built := await asyncio.to_thread(next_built)) is not None:
        yield built[0]


def newest_minutes(groups: Groups) -> list[tuple[tuple[str, str], list[int | None]]]:
    """The start of the newest minute per (organization, user) and category, in key order.

    ``None`` for a category without minutes; the lists follow ``LAST_SEEN_COLUMNS``.
    """
    newest: dict[tuple[str, str], list[int | None]] = {}
    for (organization_id, hour), users in groups.items():
        for user_id, masks in users.items():
            seen = newest.get((organization_id, user_id))
            if seen is None:
                seen = newest[(organization_id, user_id)] = [None] * len(LAST_SEEN_COLUMNS)
            for category, mask in enumerate(masks):
                if mask:
                    minute = hour + 60 * (mask.bit_length() - 1)
                    known = seen[category]
                    if known is None or known < minute:
                        seen[category] = minute
    return in_key_order(newest)
