"""The runbook's thresholds table, written between two marker comments in RUNBOOK.md."""

from __future__ import annotations

from bundle.alerts import percent
from bundle.settings import Settings

BEGIN = "<!-- BEGIN generated thresholds: python -m bundle -->"
END = "<!-- END generated thresholds -->"
NONE = "\N{EN DASH}"


def table(settings: Settings) -> str:
    """One row per alert rule: condition, threshold, guard, ``for:`` and severity."""
    weeks = settings.baseline_weeks
    usual = f"median of the same time {', '.join(str(w) for w in range(1, weeks + 1))} weeks ago"
    rows = [
        ("alert", "condition", "threshold", "guard", "`for:`", "severity"),
        (
            "`UsageActiveUsersDropped`",
            f'users active in the last hour (`window="1h"`, `category="any"`) vs the {usual}',
            f"`< {settings.drop_ratio:g}` ({percent(settings.drop_ratio)})",
            f"at least {settings.drop_min_users} users fewer; not on a holiday",
            f"`{settings.drop_for}`",
            'critical for `organization="any"`, warning per organization',
        ),
        (
            "`UsageCategoryCollapsed`",
            "an action's share of the last hour's active users vs its usual share (median)",
            f"`< {settings.collapse_ratio:g}` ({percent(settings.collapse_ratio)})",
            f"the action usually has `>= {settings.collapse_min_users}` users in the hour; the "
            f"hour's active users hold at `>= {settings.collapse_hold_ratio:g}` of usual; not on "
            "a holiday",
            f"`{settings.collapse_for}`",
            'critical for `organization="any"`, warning per organization',
        ),
        (
            "`UsageNoActivity`",
            'users active in the last hour, `organization="any"`',
            "`== 0`",
            f"usually `>= {settings.no_activity_min_users}`; not on a holiday",
            f"`{settings.no_activity_for}`",
            "critical",
        ),
        (
            "`UsageMetricsDown`",
            f"`absent(up{{{settings.job_selector}}} == 1)`: no target up",
            "every target down or none",
            NONE,
            f"`{settings.down_for}`",
            "critical",
        ),
        (
            "`UsageMetricsDown`",
            f"`up{{{settings.job_selector}}} == 0` while another target is up",
            "one target down",
            NONE,
            f"`{settings.down_for}`",
            "warning",
        ),
        (
            "`UsageStoreUnreachable`",
            "`usage_up` on a replica",
            "`== 0`",
            NONE,
            f"`{settings.store_for}`",
            "critical",
        ),
        (
            "`UsageDataStale`",
            "age of a replica's last successful refresh",
            f"`> {settings.data_stale_after}`",
            f"the rules leave a replica out from `{settings.replica_stale_after}`",
            f"`{settings.data_stale_for}`",
            "warning",
        ),
        (
            "`UsageSourceStale`",
            "age of a source's last successful sync; or sync errors in the last "
            f"{settings.source_failing_window} and no success ever",
            f"`> {settings.source_warning_after}`",
            NONE,
            f"`{settings.source_for}`",
            "warning",
        ),
        (
            "`UsageSourceStale`",
            "age of a source's last successful sync",
            f"`> {settings.source_critical_after}`",
            NONE,
            f"`{settings.source_for}`",
            "critical",
        ),
    ]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def splice(runbook: str, settings: Settings) -> str:
    """``runbook`` with the text between the markers replaced by the current table."""
    head, begin, rest = runbook.partition(BEGIN)
    _old, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"RUNBOOK.md lacks the markers {BEGIN!r} and {END!r}")
    return f"{head}{BEGIN}\n{table(settings)}\n{END}{tail}"
