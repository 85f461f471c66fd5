"""RFC 3339 times in, ``YYYY-MM-DDTHH:MM:SSZ`` out; epoch microseconds in between."""

from __future__ import annotations

import datetime as dt
import functools
import re

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)
MICROSECONDS = 1_000_000


def parse_rfc3339(value: object) -> dt.datetime:
    """Parse an RFC 3339 time with any offset; raise ``ValueError`` with a reason."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 time string such as 2026-11-24T10:15:30Z")
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value[:64]!r} is not an RFC 3339 time such as 2026-11-24T10:15:30Z")
    date, clock, fraction, offset = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = dt.datetime.fromisoformat(f"{date}T{clock}.{micro}{offset}")
    except ValueError as error:
        raise ValueError(f"{value[:64]!r} is not a valid time: {error}") from None
    if parsed.utcoffset() is None:  # pragma: no cover - the pattern requires an offset
        raise ValueError("must carry an offset")
    return parsed


def to_microseconds(moment: dt.datetime) -> int:
    """Exact epoch microseconds of an aware datetime."""
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * MICROSECONDS + delta.microseconds


def rfc3339_microseconds(value: object) -> int:
    """Exact epoch microseconds of an RFC 3339 time string; ``ValueError`` with a reason.

    A batch repeats the same few time strings (every heartbeat of a minute carries the same
    one), so the parsed values of recent strings are kept.
    """
    if isinstance(value, str):
        return _cached_microseconds(value)
    return to_microseconds(parse_rfc3339(value))


@functools.lru_cache(maxsize=4096)
def _cached_microseconds(value: str) -> int:
    return to_microseconds(parse_rfc3339(value))


def format_utc(epoch_seconds: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for a moment given in epoch seconds."""
    moment = dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_datetime_utc(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for an aware datetime."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
