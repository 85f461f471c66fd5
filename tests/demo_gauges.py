"""What ``usage_active_users`` shows, step by step, while the demo's planned activity arrives.

The demo plans its activity as a pure function of the seed, so the gauges the service would
export at any instant T can be computed without running it: the store then holds the planned
minutes before T (the live feed ingests everything up to "now"), and a user counts in window W
when one of those minutes M satisfies T' - W < M <= T' (README, T' = T rounded down to the
minute). Minutes are expanded by the service's own code (``parse_events`` and ``rollup``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

from exporter.cli import build_parser
from exporter.config import Config
from exporter.demo.population import DAY, ORGANIZATIONS, Person, events_between, population
from exporter.events import MAX_EVENTS, Limits, parse_events
from exporter.model import ALL_ORGANIZATIONS_KEY, EVENT_CATEGORIES, Category
from exporter.store.gauges import WINDOWS
from exporter.store.hourly import hourly_groups
from exporter.store.ingest import rollup

MINUTE = 60
CATEGORIES = ("any", *(category.token for category in EVENT_CATEGORIES))
SeriesKey = tuple[str, str, str]  # organization name, category token, window


@dataclasses.dataclass(frozen=True, slots=True)
class Demo:
    """The demo as ``usage-metrics demo`` plans it at ``now``."""

    people: list[Person]
    history_start: float
    seed: int


@dataclasses.dataclass(frozen=True, slots=True)
class Outage:
    """From ``start`` on, the planned events for which ``lost(event)`` never arrive."""

    start: float
    lost: Callable[[dict[str, str]], bool]


def demo_at(now: float) -> Demo:
    """The population and history start of ``usage-metrics demo`` (its defaults) at ``now``."""
    args = build_parser().parse_args(["demo"])
    history_start = (now // DAY - args.days) * DAY
    return Demo(population(args.users, args.days, args.seed), history_start, args.seed)


def organization_names() -> list[str]:
    """Every ``organization`` label of the demo: its organizations, the default one, ``any``."""
    default = Config().default_organization
    return sorted({org.name for org in ORGANIZATIONS} | {default, "any"})


def active_users(
    demo: Demo, start: float, steps: int, step: int, *, outage: Outage | None = None
) -> dict[SeriesKey, list[int]]:
    """``usage_active_users`` at ``start + k * step`` for k < ``steps``, every label set."""
    if start % MINUTE or step % MINUTE:
        raise ValueError("steps must fall on whole minutes")
    end = start + (steps - 1) * step
    first = max(demo.history_start, start - max(WINDOWS.values()) - DAY)
    names = {org.id: org.name for org in ORGANIZATIONS} | {ALL_ORGANIZATIONS_KEY: "any"}
    runs = _minute_runs(demo, first, end, outage)
    diffs: dict[SeriesKey, list[int]] = {}
    for (organization_id, category, _user), user_runs in runs.items():
        label = names[organization_id]
        for window, width in WINDOWS.items():
            key = (label, "any" if category == Category.ANY else category.token, window)
            diff = diffs.setdefault(key, [0] * (steps + 1))
            for low, high in _active_steps(user_runs, width, start, step, steps):
                diff[low] += 1
                diff[high + 1] -= 1
    series: dict[SeriesKey, list[int]] = {}
    for organization in organization_names():
        for category_token in CATEGORIES:
            for window in WINDOWS:
                diff = diffs.get((organization, category_token, window), [0] * (steps + 1))
                values, running = [], 0
                for change in diff[:steps]:
                    running += change
                    values.append(running)
                series[(organization, category_token, window)] = values
    return series


def _minute_runs(
    demo: Demo, first: float, end: float, outage: Outage | None
) -> dict[tuple[str, Category, str], list[tuple[int, int]]]:
    """Runs ``(first minute, last minute)`` (epoch seconds) of stored activity per row."""
    middle = end if outage is None else min(max(outage.start, first), end)
    events = list(events_between(demo.people, demo.history_start, first, middle, demo.seed))
    if outage is not None:
        later = events_between(demo.people, demo.history_start, middle, end, demo.seed)
        events.extend(event for event in later if not outage.lost(event))
    config = Config()
    limits = Limits(
        now=end,
        retention_seconds=config.retention,
        default_organization=config.default_organization,
    )
    masks: dict[tuple[str, int, int, str], int] = {}
    for chunk in range(0, len(events), MAX_EVENTS):
        for key, mask in rollup(parse_events(events[chunk : chunk + MAX_EVENTS], limits)).items():
            masks[key] = masks.get(key, 0) | mask
    runs: dict[tuple[str, Category, str], list[tuple[int, int]]] = defaultdict(list)
    for (organization_id, hour), users in sorted(hourly_groups(masks).items()):
        for user_id, row_masks in sorted(users.items()):
            for category, mask in enumerate(row_masks):
                if mask:
                    row = runs[(organization_id, Category(category), user_id)]
                    row.extend(
                        (hour + low * MINUTE, hour + high * MINUTE) for low, high in _bit_runs(mask)
                    )
    return runs


def _bit_runs(mask: int) -> Iterator[tuple[int, int]]:
    """Runs of set bits: ``(lowest, highest)`` bit positions."""
    position = 0
    while mask:
        zeros = (mask & -mask).bit_length() - 1
        mask >>= zeros
        position += zeros
        ones = (~mask & (mask + 1)).bit_length() - 1
        yield position, position + ones - 1
        mask >>= ones
        position += ones


def _active_steps(
    runs: Sequence[tuple[int, int]], width: int, start: float, step: int, steps: int
) -> list[tuple[int, int]]:
    """Merged ranges of step indices at which a user with these minute runs counts.

    At step time T (a whole minute) the store holds the minutes before T, and the user counts
    when one of them lies in (T - width, T]: a run of minutes [a, b] counts for a < T < b +
    width.
    """
    merged: list[list[int]] = []
    for low_minute, high_minute in runs:
        low = int((low_minute - start) // step) + 1
        high = -int((start - high_minute - width) // step) - 1
        low, high = max(low, 0), min(high, steps - 1)
        if low > high:
            continue
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [(low, high) for low, high in merged]
