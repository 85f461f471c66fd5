"""Simulated users whose activity makes the ``usage_active_users{window="1h"}`` series.

Each user belongs to one organization and works on weekdays (rarely on weekends) from a usual
start hour, with a lunch break, mostly in one tool (the web IDE or SSH through a tunnel), logging
in once a day and now and then opening a web terminal or a workspace app. The 1-hour gauge at a
sample time counts the users with an active minute in the hour before it, exactly as the
service's rolling window does, so faults show up as gradually as they do for real.

Everything is seeded: a given user on a given day does the same thing in every scenario, so a
fault is the only difference between two runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MINUTE = 60
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY
CATEGORIES = ("any", "ide", "login", "app", "tunnel", "web_terminal")


@dataclass(frozen=True)
class User:
    """One person: organization, usual start (hours after midnight UTC), day length, main tool."""

    key: int
    organization: str
    start_hour: float
    hours: float
    tool: str
    weekend_odds: float = 0.03


@dataclass(frozen=True)
class Session:
    """Active minutes ``[start, end)`` (minutes since time 0) in one category."""

    category: str
    start: int
    end: int


# A fault decides, for a user, a category and a minute, whether the event is lost.
Fault = Callable[[User, str, int], bool]


def organizations() -> list[User]:
    """A large European organization, a mid-sized American one and a small night-shift team."""
    rng = random.Random(22)
    users: list[User] = []
    plan = [("acme", 120, 8.0, 0.25), ("globex", 45, 14.0, 0.3), ("smallco", 4, 0.5, 0.0)]
    for organization, count, start, ssh_share in plan:
        for _ in range(count):
            tool = "tunnel" if rng.random() < ssh_share else "ide"
            users.append(
                User(
                    key=len(users),
                    organization=organization,
                    start_hour=start + rng.uniform(-1.0, 1.5),
                    hours=rng.uniform(7.0, 9.0),
                    tool=tool,
                )
            )
    return users


def day_sessions(user: User, day: int, *, holidays: frozenset[int]) -> list[Session]:
    """What ``user`` does on day ``day`` (days since time 0, which is a Monday 00:00 UTC)."""
    rng = random.Random(f"{user.key}/{day}")
    weekday = day % 7
    odds = 0.03 if day in holidays else (0.92 if weekday < 5 else user.weekend_odds)
    if rng.random() >= odds:
        return []
    base = day * 24 * 60
    start = base + int((user.start_hour + rng.gauss(0, 0.3)) * 60)
    lunch = start + int(rng.uniform(3.0, 4.5) * 60)
    back = lunch + int(rng.uniform(30, 60))
    end = start + int((user.hours + rng.gauss(0, 0.5)) * 60)
    sessions = [
        Session("login", start, start + 1),
        Session(user.tool, start + 2, lunch),
        Session(user.tool, back, max(back + 1, end)),
    ]
    if rng.random() < 0.3:
        at = rng.randrange(start, max(start + 1, end - 15))
        sessions.append(Session("web_terminal", at, at + rng.randrange(3, 15)))
    if rng.random() < 0.4:
        at = rng.randrange(start, max(start + 1, end - 30))
        sessions.append(Session("app", at, at + rng.randrange(5, 30)))
    return sessions


def _reaching(user: User, session: Session, fault: Fault | None) -> Iterator[tuple[int, int]]:
    """The runs of the session's minutes whose events reach the service."""
    if fault is None:
        yield session.start, session.end
        return
    run_start = None
    for minute in range(session.start, session.end):
        if fault(user, session.category, minute):
            if run_start is not None:
                yield run_start, minute
                run_start = None
        elif run_start is None:
            run_start = minute
    if run_start is not None:
        yield run_start, session.end


def hourly_active_users(
    users: list[User],
    *,
    steps: int,
    step: int,
    fault: Fault | None = None,
    holidays: frozenset[int] = frozenset(),
) -> dict[tuple[str, str], list[int]]:
    """``usage_active_users{window="1h"}`` per (organization, category), every ``step`` s.

    The sample at ``k * step`` counts the users with an active minute starting in
    ``(k * step - 1h, k * step]``; organization and category ``any`` are distinct unions.
    """
    days = (steps * step) // DAY + 1
    names = sorted({user.organization for user in users})
    counts = {(org, cat): [0] * steps for org in [*names, "any"] for cat in CATEGORIES}
    for user in users:
        covered: dict[str, set[int]] = {category: set() for category in CATEGORIES}
        for day in range(days):
            for session in day_sessions(user, day, holidays=holidays):
                for first, end in _reaching(user, session, fault):
                    low = -(-first * MINUTE // step)
                    high = ((end - 1) * MINUTE + HOUR - 1) // step
                    reached = range(max(low, 0), min(high, steps - 1) + 1)
                    covered[session.category].update(reached)
                    covered["any"].update(reached)
        for category, samples in covered.items():
            for organization in (user.organization, "any"):
                series = counts[(organization, category)]
                for k in samples:
                    series[k] += 1
    return counts
