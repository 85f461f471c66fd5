"""The activity report's JSON written in one pass, from the collected rows straight to bytes.

The same document as ``orjson.dumps`` of ``exporter.report.Collected.to_dict()`` (keys in the
same order, compact separators, UTF-8), without building a dict per bucket entry and per user
first. Strings go through the standard library's C string encoder; a user's id is encoded once
however many buckets it is in, and an entry's ``"duration":…,"count":…`` once per distinct
count. Integers are Python's, so nanoseconds beyond 64 bits need no fallback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring  # C, where it exists
from typing import Any, Final

from exporter.model import NANOSECONDS_PER_MINUTE
from exporter.timeutil import format_datetime_utc

_string: Final = encode_basestring


class _Tails(dict[int, str]):
    """An entry's ``"duration":…,"count":…}`` by its count, made on first use."""

    def __missing__(self, count: int) -> str:
        text = f'"duration":{count * NANOSECONDS_PER_MINUTE},"count":{count}}}'
        self[count] = text
        return text


def encode(
    edges: Sequence[dt.datetime],
    edges_us: Sequence[int],
    *,
    buckets: Iterable[Sequence[tuple[str, int]]],
    user_ids: Sequence[str],
    found: Mapping[str, Sequence[Any]],
    totals: Mapping[str, int],
) -> bytes:
    """The report's bytes: ``buckets`` are each bucket's sorted (user, minutes) entries."""
    keys = {user_id: _string(user_id) for user_id in user_ids}
    heads = {user_id: f'{{"user_id":{key},' for user_id, key in keys.items()}
    tails = _Tails()
    parts = ['{"activity":[']
    for bucket, entries in enumerate(buckets):
        if bucket:
            parts.append(",")
        parts += (
            f'{{"time":"{format_datetime_utc(edges[bucket])}",'
            f'"duration":{(edges_us[bucket + 1] - edges_us[bucket]) * 1000},"user_activity":[',
            ",".join([heads[user_id] + tails[count] for user_id, count in entries]),
            "]}",
        )
    parts.append('],"users":{')
    parts.append(
        ",".join([_user(keys[user_id], found[user_id], totals[user_id]) for user_id in user_ids])
    )
    parts.append("}}")
    return "".join(parts).encode()


def _user(key: str, row: Sequence[Any], total: int) -> str:
    """One ``"id":{…}`` member of the ``users`` map; ``key`` is the user's id as JSON.

    The profile as ``report_query.profile_of`` reads it, written out here without making one.
    """
    username = row[1]
    if username is None:  # a user the directory lacks: its id, nothing else
        name = avatar_hash = '""'
        username, roles = key, ""
    else:
        name, username, avatar_hash = _text(row[2]), _string(username), _text(row[3])
        roles = ",".join(map(_string, sorted(row[4].split(" ")))) if row[4] else ""
    return (
        f'{key}:{{"id":{key},"name":{name},"username":{username},"roles":[{roles}],'
        f'"avatar_hash":{avatar_hash},"total_count":{total},'
        f'"total_duration":{total * NANOSECONDS_PER_MINUTE}}}'
    )


def _text(value: str | None) -> str:
    return "null" if value is None else str(_string(value))
