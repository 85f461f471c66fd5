"""Alerting rules, their thresholds and ``for:`` from the settings.

Each severity is a rule of its own, so promtool tests and Alertmanager routes see plain labels.
"""

from __future__ import annotations

from bundle.recording import ACTIVE, ACTIVE_BASELINE, ALERT_WINDOW, HOLIDAY, SHARE, SHARE_BASELINE
from bundle.rules import Alert, Group
from bundle.settings import Settings, seconds, spoken

ANY_ORG = 'organization="any"'
ONE_ORG = 'organization!="any"'
NOT_HOLIDAY = f"unless on () ({HOLIDAY} == 1)"
WHERE = {ANY_ORG: "the whole deployment", ONE_ORG: "organization {{ $labels.organization }}"}
SEVERITY = {ANY_ORG: "critical", ONE_ORG: "warning"}


def percent(ratio: float) -> str:
    """``0.5`` as ``50%``."""
    return f"{ratio * 100:g}%"


def dropped(settings: Settings, scope: str) -> Alert:
    """The last hour's active users fell by a share and a number against the usual level."""
    now = f'{ACTIVE}{{{ALERT_WINDOW}, category="any", {scope}}}'
    usual = f'{ACTIVE_BASELINE}{{{ALERT_WINDOW}, category="any", {scope}}}'
    weeks = settings.baseline_weeks
    return Alert(
        alert="UsageActiveUsersDropped",
        expr=(
            f"{now}\n  < {settings.drop_ratio:g} * {usual}\n"
            f"and\n{usual} - {now}\n  >= {settings.drop_min_users}\n"
            f"{NOT_HOLIDAY}"
        ),
        for_=settings.drop_for,
        severity=SEVERITY[scope],
        summary=f"Active users dropped in {WHERE[scope]}.",
        description=(
            "{{ $value | humanize }} users were active in the last hour in "
            f"{WHERE[scope]}, below {percent(settings.drop_ratio)} of the median of the same "
            f"time in the previous {weeks} weeks and at least {settings.drop_min_users} fewer, "
            f"for {spoken(settings.drop_for)}."
        ),
        runbook_url=settings.runbook("UsageActiveUsersDropped"),
    )


def collapsed(settings: Settings, scope: str) -> Alert:
    """One action's share of the active users collapsed while the active users hold."""
    share = f"{SHARE}{{{scope}}}"
    usual_share = f"{SHARE_BASELINE}{{{scope}}}"
    usual_users = f'{ACTIVE_BASELINE}{{{ALERT_WINDOW}, category!="any", {scope}}}'
    everyone = f'{ACTIVE}{{{ALERT_WINDOW}, category="any", {scope}}}'
    usual_everyone = f'{ACTIVE_BASELINE}{{{ALERT_WINDOW}, category="any", {scope}}}'
    return Alert(
        alert="UsageCategoryCollapsed",
        expr=(
            f"{share}\n  < {settings.collapse_ratio:g} * {usual_share}\n"
            f"and\n{usual_users} >= {settings.collapse_min_users}\n"
            "and ignoring (category)\n"
            f"(\n  {everyone}\n    >= {settings.collapse_hold_ratio:g} * {usual_everyone}\n)\n"
            f"{NOT_HOLIDAY}"
        ),
        for_=settings.collapse_for,
        severity=SEVERITY[scope],
        summary=(
            "Action {{ $labels.category }} collapsed in " + WHERE[scope] + " while people are "
            "active as usual."
        ),
        description=(
            "Only {{ $value | humanizePercentage }} of the users active in the last hour in "
            + WHERE[scope]
            + " used {{ $labels.category }}, below "
            f"{percent(settings.collapse_ratio)} of its usual share, while the active users "
            f"hold at {percent(settings.collapse_hold_ratio)} or more of usual: this action is "
            "probably broken (tunnel: SSH)."
        ),
        runbook_url=settings.runbook("UsageCategoryCollapsed"),
    )


def usage_group(settings: Settings) -> Group:
    """Alerts on the active-user figures."""
    everyone = f'{{organization="any", category="any", {ALERT_WINDOW}}}'
    return Group(
        name="usage-metrics.alerts.usage",
        rules=[
            dropped(settings, ANY_ORG),
            dropped(settings, ONE_ORG),
            collapsed(settings, ANY_ORG),
            collapsed(settings, ONE_ORG),
            Alert(
                alert="UsageNoActivity",
                expr=(
                    f"{ACTIVE}{everyone} == 0\n"
                    f"and\n{ACTIVE_BASELINE}{everyone} >= {settings.no_activity_min_users}\n"
                    f"{NOT_HOLIDAY}"
                ),
                for_=settings.no_activity_for,
                severity="critical",
                summary="No activity has been recorded in the whole deployment for over an hour.",
                description=(
                    "Nobody has been active in the last hour, for "
                    f"{spoken(settings.no_activity_for)} more, although the same time in the "
                    f"previous weeks had at least {settings.no_activity_min_users} active users: "
                    "events are probably not reaching usage-metrics."
                ),
                runbook_url=settings.runbook("UsageNoActivity"),
            ),
        ],
    )


def health_group(settings: Settings) -> Group:
    """Alerts on the service itself."""
    up = settings.selector("up")
    every_down = f"absent({up} == 1)"
    per_cluster = ", ".join(settings.cluster)
    if settings.cluster:
        # With several clusters, also every target of one cluster down.
        every_down += (
            f"\nor\n(\n  count by ({per_cluster}) ({up})\n"
            f"  unless on ({per_cluster})\n  count by ({per_cluster}) ({up} == 1)\n)"
        )
    stale = seconds(settings.data_stale_after)
    return Group(
        name="usage-metrics.alerts.health",
        rules=[
            Alert(
                alert="UsageMetricsDown",
                expr=every_down,
                for_=settings.down_for,
                severity="critical",
                summary="No usage-metrics target is up"
                + "".join(
                    f"{{{{ with $labels.{label} }}}} in {label} {{{{ . }}}}{{{{ end }}}}"
                    for label in settings.cluster
                )
                + ".",
                description=(
                    f"No target matching {{{settings.job_selector}}} has been scraped "
                    f"successfully for {spoken(settings.down_for)}, or none exists: usage "
                    "figures and every usage alert are blind."
                ),
                runbook_url=settings.runbook("UsageMetricsDown"),
            ),
            Alert(
                alert="UsageMetricsDown",
                expr=f"{up} == 0\nand on ({per_cluster})\ncount by ({per_cluster}) ({up} == 1)",
                for_=settings.down_for,
                severity="warning",
                summary="usage-metrics target {{ $labels.instance }} is down.",
                description=(
                    "Prometheus has failed to scrape {{ $labels.instance }} for "
                    f"{spoken(settings.down_for)}; other replicas still serve the figures."
                ),
                runbook_url=settings.runbook("UsageMetricsDown"),
            ),
            Alert(
                alert="UsageStoreUnreachable",
                expr=f"{settings.selector('usage_up')} == 0",
                for_=settings.store_for,
                severity="critical",
                summary="usage-metrics on {{ $labels.instance }} cannot read its store.",
                description=(
                    "The refresh from the database fails on {{ $labels.instance }} for "
                    f"{spoken(settings.store_for)}: ingest and reports answer 503 and its "
                    "figures are frozen at their last good values."
                ),
                runbook_url=settings.runbook("UsageStoreUnreachable"),
            ),
            Alert(
                alert="UsageDataStale",
                expr=(
                    f"time() - {settings.selector('usage_last_refresh_timestamp_seconds')}"
                    f" > {stale}"
                ),
                for_=settings.data_stale_for,
                severity="warning",
                summary="usage-metrics on {{ $labels.instance }} serves stale figures.",
                description=(
                    "The last successful refresh on {{ $labels.instance }} finished "
                    "{{ $value | humanizeDuration }} ago (threshold "
                    f"{spoken(settings.data_stale_after)}): its gauges no longer move and the "
                    "rules leave it out."
                ),
                runbook_url=settings.runbook("UsageDataStale"),
            ),
        ],
    )


def source_group(settings: Settings) -> Group:
    """UsageSourceStale: a configured source stopped syncing (two severities)."""
    by = ", ".join([*settings.cluster, "job", "source"])
    success = f"max by ({by}) ({settings.selector('usage_source_last_success_timestamp_seconds')})"
    errors = (
        f"max by ({by}) (increase({settings.selector('usage_source_errors_total')}"
        f"[{settings.source_failing_window}]))"
    )
    warning_after = settings.source_warning_after
    critical_after = settings.source_critical_after
    return Group(
        name="usage-metrics.alerts.sources",
        rules=[
            Alert(
                alert="UsageSourceStale",
                expr=(
                    f"time() - {success} > {seconds(warning_after)}\n"
                    f"or\n(\n  {errors} > 0\n  unless on ({by})\n  {success}\n)"
                ),
                for_=settings.source_for,
                severity="warning",
                summary=(
                    "usage-metrics has not synced source {{ $labels.source }} for over "
                    f"{spoken(warning_after)}."
                ),
                description=(
                    "No sync pass of source {{ $labels.source }} has succeeded for more than "
                    f"{spoken(warning_after)} (or none ever has while passes keep failing): its "
                    "activity and directory in usage-metrics are getting old. The replicas' log "
                    'line "coder sync pass failed" names the cause.'
                ),
                runbook_url=settings.runbook("UsageSourceStale"),
            ),
            Alert(
                alert="UsageSourceStale",
                expr=f"time() - {success} > {seconds(critical_after)}",
                for_=settings.source_for,
                severity="critical",
                summary=(
                    "usage-metrics has not synced source {{ $labels.source }} for over "
                    f"{spoken(critical_after)}."
                ),
                description=(
                    "The last successful sync pass of source {{ $labels.source }} finished "
                    "{{ $value | humanizeDuration }} ago. Coder deletes its raw agent stats about "
                    "a day after rolling them up: fix the sync before that, or that activity is "
                    "lost for good."
                ),
                runbook_url=settings.runbook("UsageSourceStale"),
            ),
        ],
    )


def groups(settings: Settings) -> list[Group]:
    """Every alert group."""
    return [usage_group(settings), health_group(settings), source_group(settings)]


HEADER = """\
Alert rules for usage-metrics. GENERATED by `python -m bundle` from bundle/settings.py: edit the \
generator or pass --settings, do not edit this file. Runbook: prometheus/RUNBOOK.md.
Severities (routed by prometheus/alertmanager.yml): critical pages now (the whole deployment, or \
we are blind); warning is a ticket for working hours (one organization, one replica, old figures).
The usage alerts compare the last hour with the median of the same time in previous weeks and \
stay quiet on the holidays listed in the settings (:usage_holiday:active)."""
