"""Recording rules: every one is read by an alert or a dashboard panel.

Replicas export the same values computed from the same store, so series are deduplicated with
``max without (instance, pod)``, never summed, after leaving out the replicas whose last refresh
is stale: a frozen replica's old, higher values would otherwise hide a drop.
"""

from __future__ import annotations

from bundle.rules import Group, Recording
from bundle.settings import Settings, seconds

ACTIVE = "organization_category_window:usage_active_users:max"
ACTIVE_BASELINE = "organization_category_window:usage_active_users:median_weeks"
SHARE = "organization_category_window:usage_active_users_share:ratio"
SHARE_BASELINE = "organization_category_window:usage_active_users_share:median_weeks"
STICKINESS = "organization_category:usage_active_users_stickiness:ratio"
HOURS_PER_DAY = "organization_category:usage_activity_hours_per_day:rate1h"
USERS = "organization:usage_users:max"
DORMANT = "organization:usage_dormant_users:max"
HOLIDAY = ":usage_holiday:active"

ALERT_WINDOW = 'window="1h"'


def fresh_max(settings: Settings, series: str) -> str:
    """``max without (instance, pod)`` over the replicas whose last refresh is recent."""
    stale_after = settings.replica_stale_after
    age = f"time() - {settings.selector('usage_last_refresh_timestamp_seconds')}"
    return (
        "max without (instance, pod) (\n"
        f"    {series}\n"
        f"  and on ({settings.target_labels})\n"
        f"    ({age} < {seconds(stale_after)})\n"
        ")"
    )


def median_of_weeks(settings: Settings, series: str) -> str:
    """Median of ``series`` at the same time 1..N weeks ago (missing weeks are skipped)."""
    weeks = [
        f'label_replace({series} offset {week}w, "weeks_ago", "{week}", "", "")'
        for week in range(1, settings.baseline_weeks + 1)
    ]
    return "quantile without (weeks_ago) (\n  0.5,\n    " + "\n  or\n    ".join(weeks) + "\n)"


def holiday_expr(settings: Settings) -> str:
    """1 on a configured holiday (UTC day), else 0: a series without labels, always present."""
    days = []
    for day in sorted(settings.holidays):
        year, month, date = (int(part) for part in day.split("-"))
        days.append(f"(year() == {year} and month() == {month} and day_of_month() == {date})")
    if not days:
        return "vector(0)"
    return (
        "(\n  vector(1) and on ()\n  (\n    "
        + "\n    or\n    ".join(days)
        + "\n  )\n)\nor vector(0)"
    )


def groups(settings: Settings) -> list[Group]:
    """The recording rule groups."""
    one_hour = f"{ACTIVE}{{{ALERT_WINDOW}}}"
    everyone = f'{ACTIVE}{{{ALERT_WINDOW}, category="any"}}'
    share = (
        f'{ACTIVE}{{{ALERT_WINDOW}, category!="any"}}\n'
        "  / ignoring (category) group_left ()\n"
        f"({everyone} > 0)"
    )
    return [
        Group(
            name="usage-metrics.active-users",
            rules=[
                Recording(
                    record=ACTIVE,
                    expr=fresh_max(settings, settings.selector("usage_active_users")),
                    comment="Distinct active users per organization, category and window (1h, "
                    "1d, 7d, 30d) of the replicas with a fresh refresh. Alerts and dashboards.",
                ),
                Recording(
                    record=SHARE,
                    expr=share,
                    comment="Each action's share of the users active in the last hour (absent "
                    "while nobody is active). UsageCategoryCollapsed.",
                ),
            ],
        ),
        Group(
            name="usage-metrics.baselines",
            rules=[
                Recording(
                    record=ACTIVE_BASELINE,
                    expr=median_of_weeks(settings, one_hour),
                    comment="Median of the last hour's active users at the same time in the "
                    f"previous {settings.baseline_weeks} weeks: one holiday or one outage in "
                    "the baseline does not move it. The usage alerts.",
                ),
                Recording(
                    record=SHARE_BASELINE,
                    expr=median_of_weeks(settings, SHARE),
                    comment="Median of each action's share at the same time in the previous "
                    f"{settings.baseline_weeks} weeks. UsageCategoryCollapsed.",
                ),
            ],
        ),
        Group(
            name="usage-metrics.calendar",
            rules=[
                Recording(
                    record=HOLIDAY,
                    expr=holiday_expr(settings),
                    comment="1 on the holidays listed in the bundle's settings (UTC days), "
                    "else 0. The usage alerts stay quiet while it is 1.",
                ),
            ],
        ),
        Group(
            name="usage-metrics.dashboards",
            rules=[
                Recording(
                    record=STICKINESS,
                    expr=(
                        f'max without (window) ({ACTIVE}{{window="1d"}})\n'
                        f'  / max without (window) ({ACTIVE}{{window="30d"}} > 0)\n'
                        f'or max without (window) ({ACTIVE}{{window="30d"}} == 0)'
                    ),
                    comment="DAU / MAU (rolling 1d over rolling 30d), 0 without monthly users. "
                    "Dashboard: Stickiness.",
                ),
                Recording(
                    record=HOURS_PER_DAY,
                    expr="24 * "
                    + fresh_max(
                        settings,
                        f"rate({settings.selector('usage_activity_seconds_total')}[1h])",
                    ),
                    comment="Time spent by action in hours per day at the pace of the last hour "
                    "(may be summed over categories and organizations: it is time, not users). "
                    "Dashboard: Time spent by action.",
                ),
                Recording(
                    record=USERS,
                    expr=fresh_max(settings, settings.selector("usage_users")),
                    comment="Users in the directory per organization. Dashboard: Seats.",
                ),
                Recording(
                    record=DORMANT,
                    expr=fresh_max(settings, settings.selector("usage_dormant_users")),
                    comment="Of those, users without activity within the dormancy period. "
                    "Dashboard: Seats.",
                ),
            ],
        ),
    ]


HEADER = """\
Recording rules for usage-metrics. GENERATED by `python -m bundle` from bundle/settings.py: edit \
the generator or pass --settings, do not edit this file.
usage_active_users holds DISTINCT user counts: never sum() it across organization, category or \
window; organization="any" and category="any" are the exporter's own distinct unions."""
