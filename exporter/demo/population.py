"""A synthetic but realistic platform for the demo.

Organizations in several time zones, people with working hours and weekday habits, a
category mix like real use, power users, dormant users, and an organization that grows.

Everything is a pure function of a seed: ``sessions(user, day)`` always plans the same
activity for the same user and day, so the 90-day history and the live feed that continues
it agree with each other (and the week-over-week alerts stay quiet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
from collections.abc import Iterator

from exporter.model import Category

DAY = 86400
ABSENCE = 0.05  # chance that someone misses a day they usually work (leave, illness)
START_JITTER_HOURS = 0.25  # how much a start time varies around the person's habit


@dataclasses.dataclass(frozen=True, slots=True)
class Organization:
    """A demo organization with the UTC offset of its office."""

    id: str
    name: str
    display_name: str
    utc_offset_hours: float
    share: float  # fraction of the population


ORGANIZATIONS = (
    Organization("org-platform", "platform", "Platform Engineering", 0, 0.30),
    Organization("org-berlin", "berlin-labs", "Berlin Labs", 1, 0.25),
    Organization("org-bangalore", "bangalore", "Bangalore Studio", 5.5, 0.25),
    Organization("org-sf", "sf-apps", "SF Apps", -8, 0.12),
    Organization("org-ventures", "new-ventures", "New Ventures (growing)", -5, 0.08),
)
GROWING = "org-ventures"


@dataclasses.dataclass(frozen=True, slots=True)
class Person:
    """One demo user and their habits."""

    id: str
    username: str
    name: str
    organization: Organization
    joined_day: int  # days since the history began; never active before
    diligence: float  # chance of working on a weekday
    hours: float  # typical hours of IDE work on a working day
    uses_tunnel: bool
    uses_terminal: bool
    uses_apps: bool
    dormant: bool  # in the directory, never active
    roles: tuple[str, ...]


_FIRST = (
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "ken",
    "barbara",
    "dennis",
    "frances",
    "john",
    "radia",
    "guido",
    "anita",
    "bjarne",
    "karen",
    "tim",
    "hedy",
    "edsger",
    "sophie",
    "yukihiro",
)
_LAST = (
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "thompson",
    "liskov",
    "ritchie",
    "allen",
    "backus",
    "perlman",
    "rossum",
    "borg",
    "stroustrup",
    "jones",
    "berners",
    "lamarr",
    "dijkstra",
    "wilson",
    "matsumoto",
)


def population(users: int, days: int, seed: int) -> list[Person]:
    """``users`` people spread over the organizations (the growing one joins over time)."""
    rng = random.Random(seed)  # noqa: S311  (synthetic data, not security)
    people = []
    for index in range(users):
        organization = rng.choices(ORGANIZATIONS, [o.share for o in ORGANIZATIONS])[0]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        power = rng.random() < 0.06
        dormant = index == 1 or rng.random() < 0.06
        joined = int(rng.uniform(0, days - 5)) if organization.id == GROWING else 0
        roles: tuple[str, ...] = ("site-member",)
        if index == 0:
            roles = ("site-manager", "site-member")
        people.append(
            Person(
                id=f"user-{index:04d}",
                username=f"{first}.{last}{index}",
                name=f"{first.title()} {last.title()}",
                organization=organization,
                joined_day=joined,
                diligence=0.97 if power else rng.uniform(0.55, 0.92),
                hours=rng.uniform(6.5, 9.5) if power else rng.uniform(1.5, 5.5),
                uses_tunnel=rng.random() < 0.6,
                uses_terminal=rng.random() < 0.35,
                uses_apps=rng.random() < 0.25,
                dormant=dormant,
                roles=roles,
            )
        )
    return people


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    """Planned activity: ``[start, end)`` in epoch seconds (``end == start`` for a point)."""

    category: Category
    start: float
    end: float


def _rng(seed: int, person: Person, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{person.id}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311


def sessions(person: Person, day_start: float, seed: int) -> list[Session]:
    """What ``person`` does on the UTC day beginning at ``day_start`` (the same every call).

    People keep weekly habits: whether they work on a weekday, when they start and how their
    day is laid out depend on the weekday; from one week to the next only absences and a
    small shift of the start time vary. (Drawing every day afresh made small organizations
    and actions swing by chance from week to week, enough to trip the week-over-week alerts.)
    """
    offset = person.organization.utc_offset_hours * 3600
    local_day = dt.datetime.fromtimestamp(day_start + 12 * 3600 + offset, dt.UTC)
    weekend = local_day.weekday() >= 5
    rng = _rng(seed, person, f"weekday-{local_day.weekday()}")
    today = _rng(seed, person, str(int(day_start)))
    works = rng.random() <= person.diligence * (0.06 if weekend else 1.0)
    if not works or today.random() < ABSENCE:
        return []
    # Start between 08:00 and 10:30 local time, expressed in UTC seconds.
    start_hour = rng.uniform(8.0, 10.5) + today.uniform(-START_JITTER_HOURS, START_JITTER_HOURS)
    work_start = day_start - offset + start_hour * 3600
    planned = [Session(Category.LOGIN, work_start, work_start)]
    cursor = work_start + rng.uniform(60, 600)
    remaining = person.hours * 3600 * rng.uniform(0.7, 1.2)
    while remaining > 600:
        length = min(remaining, rng.uniform(25, 150) * 60)
        kind = Category.TUNNEL if person.uses_tunnel and rng.random() < 0.45 else Category.IDE
        planned.append(Session(kind, cursor, cursor + length))
        if person.uses_terminal and rng.random() < 0.4:
            start = cursor + rng.uniform(0, length / 2)
            planned.append(Session(Category.WEB_TERMINAL, start, start + rng.uniform(3, 25) * 60))
        if person.uses_apps and rng.random() < 0.35:
            start = cursor + rng.uniform(0, length / 2)
            planned.append(Session(Category.APP, start, start + rng.uniform(10, 60) * 60))
        remaining -= length
        cursor += length + rng.uniform(5, 60) * 60
    return planned


def events_between(
    people: list[Person], history_start: float, start: float, end: float, seed: int
) -> Iterator[dict[str, str]]:
    """API events for every planned minute in ``[start, end)``, sessions clipped to it."""
    first_day = int(start // DAY) * DAY - DAY  # sessions from yesterday may run past midnight
    for person in people:
        if person.dormant:
            continue
        joined = history_start + person.joined_day * DAY
        day = first_day
        while day < end:
            for planned in sessions(person, day, seed):
                begin, finish = max(planned.start, start, joined), min(planned.end, end)
                point = planned.start == planned.end
                if (point and start <= planned.start < end and planned.start >= joined) or (
                    not point and begin < finish
                ):
                    yield _event(person, planned.category, begin, None if point else finish)
            day += DAY


def _event(person: Person, category: Category, start: float, end: float | None) -> dict[str, str]:
    event = {
        "user_id": person.id,
        "organization_id": person.organization.id,
        "category": category.token,
        "time": _iso(start),
    }
    if end is not None:
        event["end_time"] = _iso(end)
    return event


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
