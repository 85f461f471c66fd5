"""A realistic data set at a chosen scale, loaded through the store's own ingest code.

People belong to one organization (one in ten to two), organizations have skewed sizes, and
people work on weekdays in sessions of 10 to 120 minutes: mostly IDE and tunnel, a login a day,
some web terminal and apps. Loading bypasses HTTP (it builds ``Event`` objects directly) so
that a full-scale history loads in minutes; HTTP ingest is measured separately.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from collections.abc import Iterator

from tqdm import tqdm

from exporter.events import MAX_EVENTS, Event
from exporter.model import Category
from exporter.store import Store

DAY = 86400


@dataclasses.dataclass(frozen=True)
class Scale:
    """How big the data set is."""

    name: str
    users: int
    organizations: int
    days: int
    ingest_batches: int  # HTTP batches of 1,000 sessions
    heartbeat_batches: int  # HTTP batches of 5,000 point events
    memory_users: int  # the extra memory point (0: none)


SCALES = {
    "small": Scale("small", 1_000, 20, 14, 20, 10, 0),
    "full": Scale("full", 10_000, 100, 90, 100, 40, 100_000),
}


def organization_of(user: int, organizations: int) -> list[int]:
    """Skewed organization sizes: low-numbered organizations are the big ones."""
    rng = random.Random(user)
    home = min(int(rng.paretovariate(1.2)) - 1, organizations - 1)
    home = (home * 7 + user % 3) % organizations
    return [home, (home + 1) % organizations] if user % 10 == 0 else [home]


def day_of(user: int, organization: int, day_start: int, rng: random.Random) -> Iterator[Event]:
    """One person's events on one UTC day (nothing on most weekend days)."""
    weekday = (day_start // DAY + 3) % 7  # 1970-01-01 was a Thursday
    if weekday >= 5 and rng.random() > 0.05:
        return
    if rng.random() > 0.8:
        return
    minute = day_start // 60 + int(rng.uniform(7, 10) * 60)
    user_id = f"user-{user:06d}"
    org_id = f"org-{organization:03d}"
    yield Event(user_id, org_id, Category.LOGIN, minute, minute + 1)
    for _ in range(rng.randint(2, 6)):
        length = rng.randint(10, 120)
        category = Category.TUNNEL if rng.random() < 0.4 else Category.IDE
        yield Event(user_id, org_id, category, minute, minute + length)
        if rng.random() < 0.2:
            yield Event(user_id, org_id, Category.WEB_TERMINAL, minute, minute + rng.randint(3, 20))
        if rng.random() < 0.15:
            yield Event(user_id, org_id, Category.APP, minute, minute + rng.randint(10, 60))
        minute += length + rng.randint(5, 45)


async def load(store: Store, scale: Scale, *, now: float, users: int | None = None) -> int:
    """Create organizations, users and ``scale.days`` of history; return active minutes."""
    count = users or scale.users
    async with store.write() as connection:
        for org in range(scale.organizations):
            await store.directory(connection, now=now - (scale.days + 30) * DAY).put_organization(
                f"org-{org:03d}", name=f"team-{org:03d}", display_name=f"Team {org}"
            )
    first_day = int(now // DAY - scale.days) * DAY
    minutes = 0
    batch: list[Event] = []
    progress = tqdm(total=count, desc=f"loading {count} users", unit="user", file=sys.stderr)
    for user in range(count):
        rng = random.Random(user * 7919)
        for organization in organization_of(user, scale.organizations):
            for day in range(first_day, int(now) - DAY, DAY):
                batch.extend(day_of(user, organization, day, rng))
        if len(batch) >= MAX_EVENTS * 5 or user == count - 1:
            minutes += (await store.ingest(batch)).new_minutes
            batch = []
        progress.update(1)
    progress.close()
    return minutes
