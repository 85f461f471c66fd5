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
from exporter.store import report_query
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
    heads = {user_id: f'{{"user_id":{_string(user_id)},' for user_id in user_ids}
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
    parts.append(",".join(_user(user_id, found[user_id], totals[user_id]) for user_id in user_ids))
    parts.append("}}")
    return "".join(parts).encode()


def _user(user_id: str, row: Sequence[Any], total: int) -> str:
    """One ``"id":{…}`` member of the ``users`` map."""
    profile = report_query.profile_of(row)
    key = _string(user_id)
    roles = ",".join(map(_string, profile.roles))
    return (
        f'{key}:{{"id":{key},"name":{_text(profile.name)},"username":{_text(profile.username)},'
        f'"roles":[{roles}],"avatar_hash":{_text(profile.avatar_hash)},'
        f'"total_count":{total},"total_duration":{total * NANOSECONDS_PER_MINUTE}}}'
    )


def _text(value: str | None) -> str:
    return "null" if value is None else str(_string(value))
