"""The activity report (docs/api.md): parameters in, the Coder Activity API's JSON shape out."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from exporter import report_json
from exporter.errors import BadRequest, NotFound, Validation
from exporter.intervals import TooManyBuckets, bucket_edges, parse_interval
from exporter.model import (
    ALL_ORGANIZATIONS_KEY,
    ANY,
    NANOSECONDS_PER_MINUTE,
    Category,
    check_id,
)
from exporter.store import directory, report_query
from exporter.timeutil import MICROSECONDS, format_datetime_utc, parse_rfc3339, to_microseconds

PARAMETERS: Final = ("start", "end", "category", "interval", "org")
DEFAULT_INTERVAL: Final = "1 day"
_MINUTE_US: Final = 60 * MICROSECONDS
_SUB_MICROSECOND: Final = re.compile(r"\.[0-9]{6}([0-9]{1,3})")
_SPACE_FOR_PLUS: Final = re.compile(r"(.*[0-9]) ([0-9]{2}:[0-9]{2})")
_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True, slots=True)
class ReportRequest:
    """Validated parameters: the bucket edges, the category, and ``org`` as given."""

    edges: tuple[dt.datetime, ...]
    category: Category
    org: str | None


def parse_parameters(params: Mapping[str, str]) -> ReportRequest:
    """Validate the query parameters; raise one ``BadRequest`` naming every bad field."""
    validations: list[Validation] = []

    def field(name: str, parse: Callable[[str], _T], default: str | None = None) -> _T | None:
        text = params.get(name, default)
        if text is None:
            validations.append(Validation(name, "is required"))
            return None
        try:
            return parse(text)
        except ValueError as error:
            validations.append(Validation(name, str(error)))
            return None

    start = field("start", parse_time)
    end = field("end", parse_time)
    category = field("category", lambda text: Category.parse(text, allow_any=True), ANY)
    interval = field("interval", parse_interval, DEFAULT_INTERVAL)
    org = field("org", _check_org, "") or None
    edges: list[dt.datetime] = []
    if start is not None and end is not None and interval is not None:
        try:
            edges = bucket_edges(start, end, interval)
        except TooManyBuckets as error:
            validations.append(Validation("interval", str(error)))
        except ValueError as error:
            validations.append(Validation("end", str(error)))
    if validations:
        names = sorted({v.field for v in validations})
        raise BadRequest(
            f"Invalid report parameter{'s' if len(names) > 1 else ''}: {', '.join(names)}.",
            validations=validations,
        )
    assert category is not None  # every failure above added a validation
    return ReportRequest(edges=tuple(edges), category=category, org=org)


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 time, rounded up to the microsecond (so minute membership stays exact).

    A ``+`` offset that arrived as a space (an unencoded ``+`` in a query string) is accepted.
    """
    try:
        moment = parse_rfc3339(text)
    except ValueError:
        repaired = _SPACE_FOR_PLUS.fullmatch(text.strip())
        if repaired is None:
            raise
        try:
            moment = parse_rfc3339(f"{repaired[1]}+{repaired[2]}")
        except ValueError:
            raise ValueError(f"{text[:64]!r} is not an RFC 3339 time") from None
        text = repaired[1]
    extra = _SUB_MICROSECOND.search(text)
    if extra is not None and int(extra[1]):
        moment += dt.timedelta(microseconds=1)
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{text[:64]!r} is outside the years 1-9999 in UTC") from None
    return moment


def _check_org(text: str) -> str:
    """An empty ``org`` means every organization, as if it were absent."""
    if text == "":
        return text
    try:
        return check_id(text)
    except ValueError:
        raise ValueError("must be an organization id or name") from None


async def resolve_organization(connection: AsyncConnection, org: str | None) -> str | None:
    """The id of the organization ``org`` names; ``None`` (every one) for no org or ``any``."""
    if org is None:
        return None
    try:
        return (await directory.find_organization(connection, org)).id
    except NotFound:
        if org.lower() == ANY:
            return None
        raise


@dataclasses.dataclass(slots=True)
class Collected:
    """A report's rows as read: each bucket's (user, minutes) pairs, totals, profile columns.

    Turned into a document once the connection is back in the pool.
    """

    request: ReportRequest
    edges_us: list[int]
    per_bucket: list[list[tuple[str, int]]]
    totals: dict[str, int]
    found: dict[str, Sequence[Any]]

    def _sorted_buckets(self) -> Iterator[list[tuple[str, int]]]:
        """Each bucket's pairs, most minutes first, ties by user id; each list freed once used.

        The pairs arrive in user id order (``report_query.bucket_minutes``), so a stable sort by
        minutes leaves ties in it.
        """
        for bucket, entries in enumerate(self.per_bucket):
            entries.sort(key=itemgetter(1), reverse=True)
            self.per_bucket[bucket] = []
            yield entries

    def to_json(self) -> bytes:
        """The report's JSON, written in one pass (exporter/report_json.py)."""
        return report_json.encode(
            self.request.edges,
            self.edges_us,
            buckets=self._sorted_buckets(),
            user_ids=sorted(self.totals),
            found=self.found,
            totals=self.totals,
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as Python objects: the same document as ``to_json``."""
        activity = _activity(self.request, self.edges_us, self._sorted_buckets())
        users = _users(sorted(self.totals), self.found, self.totals)
        return {"activity": activity, "users": users}


async def collect_report(
    connection: AsyncConnection, request: ReportRequest, *, organization_id: str | None
) -> Collected:
    """The rows of the report over ``request``'s buckets for one organization, or all (``None``)."""
    edges_us = [to_microseconds(edge) for edge in request.edges]
    collected = Collected(request, edges_us, [[] for _ in request.edges[1:]], {}, {})
    minutes = report_query.bucket_minutes(
        connection,
        organization_key=organization_id or ALL_ORGANIZATIONS_KEY,
        category=int(request.category),
        edges=[-(-us // _MINUTE_US) for us in edges_us],
    )
    async with contextlib.aclosing(minutes):  # its cursor closes here, on this connection
        async for first, rows in minutes:
            _add_rows(first, rows, collected.per_bucket, collected.totals, collected.found)
    return collected


async def build_report(
    connection: AsyncConnection, request: ReportRequest, *, organization_id: str | None
) -> dict[str, Any]:
    """The report over ``request``'s buckets for one organization, or all when ``None``."""
    collected = await collect_report(connection, request, organization_id=organization_id)
    return collected.to_dict()


def _add_rows(
    first: int,
    rows: Sequence[Sequence[Any]],
    per_bucket: list[list[tuple[str, int]]],
    totals: dict[str, int],
    found: dict[str, Sequence[Any]],
) -> None:
    """Spread rows of (user, profile, minutes in bucket ``first``, …) over the buckets.

    Active users' totals grow, and each one's profile columns go into ``found`` once.
    """
    minutes_from = 1 + report_query.PROFILE_COLUMNS
    user_ids = [row[0] for row in rows]
    for column in range(minutes_from, len(rows[0]) if rows else 0):
        per_bucket[first + column - minutes_from] += [
            (user_id, row[column])
            for user_id, row in zip(user_ids, rows, strict=True)
            if row[column]
        ]
    for user_id, row in zip(user_ids, rows, strict=True):
        total = sum(row[minutes_from:])
        if total:
            totals[user_id] = totals.get(user_id, 0) + total
            if user_id not in found:
                found[user_id] = row[:minutes_from]  # not the whole row: 100,000 may wait here


def _activity(
    request: ReportRequest, edges_us: list[int], buckets: Iterable[list[tuple[str, int]]]
) -> list[dict[str, Any]]:
    """The ``activity`` list from each bucket's sorted (user, minutes) pairs."""
    return [
        {
            "time": format_datetime_utc(request.edges[bucket]),
            "duration": (edges_us[bucket + 1] - edges_us[bucket]) * 1000,
            "user_activity": [
                {"user_id": user_id, "duration": count * NANOSECONDS_PER_MINUTE, "count": count}
                for user_id, count in entries
            ],
        }
        for bucket, entries in enumerate(buckets)
    ]


def _users(
    user_ids: list[str], found: Mapping[str, Sequence[Any]], totals: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """The ``users`` map: each active user's profile and totals."""
    users = {}
    for user_id in user_ids:
        profile = report_query.profile_of(found[user_id])
        users[user_id] = {
            "id": user_id,
            "name": profile.name,
            "username": profile.username,
            "roles": list(profile.roles),
            "avatar_hash": profile.avatar_hash,
            "total_count": totals[user_id],
            "total_duration": totals[user_id] * NANOSECONDS_PER_MINUTE,
        }
    return users
