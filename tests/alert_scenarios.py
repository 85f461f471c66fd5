"""Alert scenarios as an SRE lives them, written as promtool test files.

Each scenario simulates three weeks of normal work (the baseline the usage alerts compare with)
and then a day or a week with one fault, on one or two replicas scraped every 5 minutes. The
rules are generated from the scenario's settings (``bundle``), so a renamed job or a holiday list
is tested exactly as an operator would configure it.

Every scenario says which alerts fire, with which labels, and how many minutes after the fault
each fires first; every other alert must stay quiet for the whole run. promtool checks both:
``alert_rule_test`` at the end (labels and annotations, and ``[]`` for the quiet alerts) and a
``promql_expr_test`` over ``ALERTS`` that lists every alert that fired at any time, with its delay.

promtool's cost grows with its steps times the series, so a scenario's activity gauges are sent
only where its checks read anything but normal work (``Scenario.gauge_windows``): from an hour
before its fault to its end and on its holidays (``checked_spans``), and the same times of each
baseline week the rules compare with (``offset 1w`` .. ``offset Nw``), where the rules see exactly
what they would see with every sample. Elsewhere the gauges are absent and the usage alerts cannot
fire; the activity there is the normal simulation's, checked to stay quiet once for all scenarios
by ``A normal week``, which keeps every sample of its four weeks
(``tests/test_alert_scenarios.py`` checks that the left-out samples are that scenario's). The
health series (``up``, ``usage_up``, the refresh and sync timestamps) are always sent. A run
evaluates the alerts and the recording rules they read (``tests.promql.alerting_groups``); the
dashboards' recording rules have their own promtool tests (``tests/test_prometheus_bundle.py``).

``python -m tests.alert_scenarios DIR`` writes the files (rules included) for a manual run of
``promtool test rules DIR/*.test.yml``.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bundle import alerts, recording, rules
from bundle.settings import Settings
from tests.promql import alerting_groups
from tests.simulated_users import DAY, HOUR, WEEK, Fault, User, hourly_active_users, organizations

STEP = 300
MINUTES = 60
# promtool's clock starts at the Unix epoch, which PromQL's calendar functions (the holiday rule)
# see as 1970-01-01; the simulation calls that day a Monday (the rules know no weekdays).
EPOCH = dt.date(1970, 1, 1)
BASELINE = 3 * WEEK  # the scenario day starts after three normal weeks
JOB = "usage-metrics"
SOURCE = "coder"


@dataclass(frozen=True)
class Replica:
    """One scraped replica and what goes wrong with it (promtool seconds, None = never)."""

    instance: str
    down_at: int | None = None
    frozen_at: int | None = None
    store_down_at: int | None = None


@dataclass(frozen=True)
class Fired:
    """An alert expected to fire: its labels and minutes after the fault until it first fired."""

    alert: str
    severity: str
    minutes: int
    organization: str = ""
    category: str = ""
    instance: str = ""
    source: str = ""
    # False when the alert has resolved again by the end of the scenario.
    at_end: bool = True

    def labels(self) -> dict[str, str]:
        """The labels that tell this alert from the others (empty ones left out)."""
        labels = {
            "alertname": self.alert,
            "severity": self.severity,
            "organization": self.organization,
            "category": self.category,
            "instance": self.instance,
            "source": self.source,
        }
        return {name: value for name, value in labels.items() if value}


@dataclass(frozen=True)
class Scenario:
    """A fault at ``fault_at`` (promtool seconds) lasting until ``end``, and what must fire."""

    name: str
    fault_at: int
    end: int
    fired: tuple[Fired, ...]
    fault: Fault | None = None
    holidays: frozenset[int] = frozenset()
    replicas: tuple[Replica, ...] = (Replica("usage-metrics-0:9717"),)
    source_stops_at: int | None = None
    job: str = JOB
    settings: Settings = field(default_factory=Settings)

    @property
    def steps(self) -> int:
        """Samples from time 0 to ``end``, both included."""
        return self.end // STEP + 1

    def holidays_anywhere(self) -> frozenset[int]:
        """The holidays of its activity and those of its settings (days since time 0)."""
        listed = {(dt.date.fromisoformat(day) - EPOCH).days for day in self.settings.holidays}
        return self.holidays | listed

    def checked_spans(self) -> tuple[tuple[int, int], ...]:
        """The times (``[start, end]`` seconds) whose checks read anything but normal work.

        From an hour before the fault to the end; and each holiday of the activity or the
        settings, with the hour its 1h gauges still count, and the same times of the following
        baseline weeks (they compare with it). Elsewhere the rules see the normal simulation on
        the default rules, as in ``A normal week`` (whose span from an hour before its first
        day to its end takes in every sample of its four weeks).
        """
        spans = [(max(self.fault_at - HOUR, 0), self.end)]
        for day in sorted(self.holidays_anywhere()):
            for week in range(self.settings.baseline_weeks + 1):
                start = day * DAY + week * WEEK
                if start <= self.end:
                    spans.append((start, min(start + DAY + HOUR, self.end)))
        return tuple(spans)

    def gauge_windows(self) -> tuple[tuple[int, int], ...]:
        """When its activity gauges are sent: each checked span, and it 1..N weeks earlier.

        The rules read the gauges at the evaluation time and the recorded figures at the same
        time of each baseline week (``settings.baseline_weeks``), so within a checked span they
        see what they would see with every sample.
        """
        weeks = range(self.settings.baseline_weeks + 1)
        return tuple(
            (max(start - week * WEEK, 0), end - week * WEEK)
            for start, end in self.checked_spans()
            for week in weeks
            if end - week * WEEK >= 0
        )

    def gauges_sent(self, moment: int) -> bool:
        """Whether its activity gauges have a sample at ``moment`` (promtool seconds)."""
        return any(start <= moment <= end for start, end in self.gauge_windows())


@dataclass(frozen=True)
class Placement:
    """Where a scenario sits in a promtool run; the defaults are a run of its own.

    In a run shared with other scenarios its series start ``shift`` seconds after promtool's
    time 0 (a multiple of ``STEP``) and end with a staleness marker after its ``end``; they carry
    ``scenario=tag`` and the tag prefixes their instances, so that no rule joins them with
    another scenario's series (``on (job, instance)`` matches).
    """

    shift: int = 0
    tag: str = ""

    def instance(self, instance: str) -> str:
        """The instance label of the scenario's replica ``instance`` in this run."""
        return f"{self.tag}.{instance}" if self.tag else instance

    def labels(self) -> dict[str, str]:
        """The label that tells the scenario's series and alerts from the others'."""
        return {"scenario": self.tag} if self.tag else {}

    def alert_labels(self, fired: Fired) -> dict[str, str]:
        """``fired.labels()`` with the instance as this run names it."""
        labels = fired.labels()
        if fired.instance:
            labels["instance"] = self.instance(fired.instance)
        return labels

    def values(
        self, values: Sequence[float | str | None], *, timestamps: bool = False
    ) -> list[float | str | None]:
        """A series' samples moved by ``shift`` (timestamp values too), ended when shared."""
        if not self.tag:
            return list(values)
        moved = [v + self.shift if timestamps and isinstance(v, int | float) else v for v in values]
        end: list[float | str | None] = ["stale"] if moved and moved[-1] is not None else []
        return [*([None] * (self.shift // STEP)), *moved, *end]


def day_at(day: int, hour: float = 0.0) -> int:
    """promtool seconds of ``hour`` o'clock on day ``day`` (0 is the first Monday)."""
    return day * DAY + int(hour * HOUR)


def iso_day(day: int) -> str:
    """The calendar date of day ``day``."""
    return (EPOCH + dt.timedelta(days=day)).isoformat()


# --------------------------------------------------------------------------- promtool notation


def expanding(values: Sequence[float | str | None]) -> str:
    """promtool's notation: arithmetic runs as ``a+bxN``, ``_xN`` missing, ``stale`` markers."""
    parts: list[str] = []
    index = 0
    while index < len(values):
        value = values[index]
        if value is None or isinstance(value, str):
            end = index
            while end + 1 < len(values) and values[end + 1] == value:
                end += 1
            count = end - index + 1
            if value is None:
                parts.append("_" if count == 1 else f"_x{count}")
            else:
                parts.extend([value] * count)
            index = end + 1
            continue
        end = index
        step = None
        while end + 1 < len(values) and isinstance(values[end + 1], int | float):
            nxt = values[end + 1]
            assert isinstance(nxt, int | float)
            current = values[end]
            assert isinstance(current, int | float)
            if step is None:
                step = nxt - current
            elif nxt - current != step:
                break
            end += 1
        if end == index:
            parts.append(f"{value:g}")
        else:
            parts.append(f"{value:g}{step:+g}x{end - index}")
        index = end + 1
    return " ".join(parts)


def braces(labels: dict[str, str]) -> str:
    """``{a="1", b="2"}``."""
    return "{" + ", ".join(f'{name}="{value}"' for name, value in labels.items()) + "}"


# --------------------------------------------------------------------------- input series


def _replica_values(
    replica: Replica, steps: int, values: Sequence[int], *, kind: str
) -> list[float | str | None]:
    """A replica's samples of one series: frozen, stale-marked and missing as it fails."""
    out: list[float | str | None] = []
    frozen = min(
        (moment // STEP for moment in (replica.frozen_at, replica.store_down_at) if moment),
        default=None,
    )
    down = replica.down_at // STEP if replica.down_at is not None else None
    for k in range(steps):
        if kind == "up":
            out.append(0 if down is not None and k >= down else 1)
            continue
        if down is not None and k >= down:
            out.append("stale" if k == down else None)
            continue
        if kind == "usage_up":
            store_down = replica.store_down_at
            out.append(0 if store_down is not None and k * STEP >= store_down else 1)
        elif frozen is not None and k >= frozen:
            out.append(values[frozen])
        else:
            out.append(values[k])
    return out


def windowed(
    values: Sequence[float | str | None], sent: Sequence[bool]
) -> list[float | str | None]:
    """A gauge's samples where ``sent`` (``Scenario.gauges_sent`` per step), stale after each."""
    out: list[float | str | None] = []
    for value, inside in zip(values, sent, strict=True):
        if inside:
            out.append(value)
        elif out and isinstance(out[-1], int | float):
            out.append("stale")
        else:
            out.append(None)
    return out


def _row(
    metric: str,
    values: Sequence[float | str | None],
    target: dict[str, str],
    labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """One ``input_series`` entry: the series with its target's and own labels, and values."""
    return {"series": metric + braces({**target, **(labels or {})}), "values": expanding(values)}


def gauges_of(scenario: Scenario, users: list[User]) -> dict[tuple[str, str], list[int]]:
    """The scenario's ``usage_active_users{window="1h"}`` samples (see ``hourly_active_users``)."""
    return hourly_active_users(
        users, steps=scenario.steps, step=STEP, fault=scenario.fault, holidays=scenario.holidays
    )


def input_series(
    scenario: Scenario,
    gauges: dict[tuple[str, str], list[int]],
    placement: Placement = Placement(),
) -> list[dict[str, str]]:
    """Every series the scenario's replicas export, and ``up`` for each."""
    steps = scenario.steps
    clock = [k * STEP for k in range(steps)]
    stop = scenario.source_stops_at
    synced = [t if stop is None or t < stop else stop for t in clock]
    errors = [0 if stop is None or t < stop else (t - stop) // MINUTES for t in clock]
    rows = []
    sent = [scenario.gauges_sent(k * STEP) for k in range(steps)]
    for replica in scenario.replicas:
        target = {
            "job": scenario.job,
            "instance": placement.instance(replica.instance),
            **placement.labels(),
        }
        for (organization, category), values in sorted(gauges.items()):
            labels = {"organization": organization, "category": category, "window": "1h"}
            gauge = windowed(_replica_values(replica, steps, values, kind="gauge"), sent)
            series = placement.values(gauge)
            rows.append(_row("usage_active_users", series, target, labels))
        up = placement.values(_replica_values(replica, steps, clock, kind="up"))
        rows.append(_row("up", up, target))
        usage_up = placement.values(_replica_values(replica, steps, clock, kind="usage_up"))
        rows.append(_row("usage_up", usage_up, target))
        refreshed = _replica_values(replica, steps, clock, kind="timestamp")
        refreshed = placement.values(refreshed, timestamps=True)
        rows.append(_row("usage_last_refresh_timestamp_seconds", refreshed, target))
        source = {"source": SOURCE}
        succeeded = _replica_values(replica, steps, synced, kind="timestamp")
        succeeded = placement.values(succeeded, timestamps=True)
        rows.append(_row("usage_source_last_success_timestamp_seconds", succeeded, target, source))
        failed = placement.values(_replica_values(replica, steps, errors, kind="timestamp"))
        rows.append(_row("usage_source_errors_total", failed, target, source))
    return rows


# --------------------------------------------------------------------------- expectations


def _humanize_duration(seconds: int) -> str:
    """Prometheus' humanizeDuration for whole seconds of at least one minute."""
    days, rest = divmod(seconds, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, secs = divmod(rest, MINUTES)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


def _render(template: str, labels: dict[str, str], value: str) -> str:
    """An annotation as Prometheus renders it for these labels and value."""

    def action(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner.startswith("$labels."):
            return labels[inner.removeprefix("$labels.")]
        return value

    return re.sub(r"\{\{(.*?)\}\}", action, template)


def _rule(settings: Settings, fired: Fired) -> rules.Alert:
    """The generated rule ``fired`` comes from."""
    for group in alerts.groups(settings):
        for rule in group.rules:
            if isinstance(rule, rules.Alert) and (rule.alert, rule.severity) == (
                fired.alert,
                fired.severity,
            ):
                scope_any = 'organization="any"' in rule.expr.split("\n")[0]
                if fired.alert in {"UsageActiveUsersDropped", "UsageCategoryCollapsed"} and (
                    scope_any != (fired.organization == "any")
                ):
                    continue
                return rule
    raise AssertionError(f"no rule for {fired}")


def expected_alert(
    scenario: Scenario,
    fired: Fired,
    gauges: dict[tuple[str, str], list[int]],
    placement: Placement = Placement(),
) -> dict[str, Any]:
    """promtool's ``exp_alerts`` entry for ``fired`` at the scenario's end."""
    rule = _rule(scenario.settings, fired)
    end = scenario.steps - 1
    labels = {"severity": fired.severity, **placement.labels()}
    value = ""
    if fired.organization:
        labels |= {
            "organization": fired.organization,
            "category": fired.category,
            "window": "1h",
            "job": scenario.job,
        }
        now = gauges[(fired.organization, fired.category)][end]
        if fired.alert == "UsageCategoryCollapsed":
            share = now / gauges[(fired.organization, "any")][end]
            assert share == 0, "checks of collapses expect the action at zero"
            value = "0%"
        else:
            value = f"{now:.4g}"
    elif fired.instance:
        labels |= {"job": scenario.job, "instance": placement.instance(fired.instance)}
        replica = next(r for r in scenario.replicas if r.instance == fired.instance)
        frozen = replica.frozen_at or replica.store_down_at or 0
        value = _humanize_duration(scenario.end - frozen // STEP * STEP)
    elif fired.source:
        labels |= {"job": scenario.job, "source": fired.source}
        assert scenario.source_stops_at is not None
        value = _humanize_duration(scenario.end - scenario.source_stops_at)
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": _render(rule.summary, labels, value),
            "description": _render(rule.description, labels, value),
            "runbook_url": rule.runbook_url,
        },
    }


FIRST_FIRED_BY = "alertname, severity, organization, category, instance, source"


def first_fired_expr(scenario: Scenario, placement: Placement = Placement()) -> str:
    """Minutes from the fault to each alert's first firing, over the whole run."""
    matchers = "".join(f', {name}="{value}"' for name, value in placement.labels().items())
    end = scenario.end + placement.shift
    firing = f'min_over_time(timestamp(ALERTS{{alertstate="firing"{matchers}}})[{end}s:{STEP}s])'
    return f"(min by ({FIRST_FIRED_BY}) ({firing}) - {scenario.fault_at + placement.shift}) / 60"


def _checks(
    scenario: Scenario, gauges: dict[tuple[str, str], list[int]], placement: Placement
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The scenario's ``alert_rule_test`` cases at its end, and its ALERTS check."""
    names = sorted(
        {
            rule.alert
            for group in alerts.groups(scenario.settings)
            for rule in group.rules
            if isinstance(rule, rules.Alert)
        }
    )
    at_end = f"{(scenario.end + placement.shift) // MINUTES}m"
    checks = [
        {
            "eval_time": at_end,
            "alertname": name,
            "exp_alerts": [
                expected_alert(scenario, fired, gauges, placement)
                for fired in scenario.fired
                if fired.alert == name and fired.at_end
            ],
        }
        for name in names
    ]
    samples = [
        {"labels": braces(placement.alert_labels(fired)), "value": fired.minutes}
        for fired in scenario.fired
    ]
    first_fired = {
        "expr": first_fired_expr(scenario, placement),
        "eval_time": at_end,
        "exp_samples": samples,
    }
    return checks, first_fired


def run_document(
    name: str, placed: Sequence[tuple[Scenario, Placement]], rule_files: Sequence[str]
) -> dict[str, Any]:
    """One promtool test over the given (generated) rule files for scenarios of equal settings.

    When they share the run, an alert without a ``scenario`` label (one that matches across
    scenarios) must never fire.
    """
    settings = placed[0][0].settings
    assert all(scenario.settings == settings for scenario, _ in placed)
    users = organizations()
    series: list[dict[str, str]] = []
    checks: list[dict[str, Any]] = []
    exprs: list[dict[str, Any]] = []
    for scenario, placement in placed:
        gauges = gauges_of(scenario, users)
        series += input_series(scenario, gauges, placement)
        alert_checks, first_fired = _checks(scenario, gauges, placement)
        checks += alert_checks
        exprs.append(first_fired)
    if len(placed) > 1:
        end = max(scenario.end + placement.shift for scenario, placement in placed)
        exprs.append(
            {
                "expr": f'min_over_time(timestamp(ALERTS{{alertstate="firing", scenario=""}})'
                f"[{end}s:{STEP}s])",
                "eval_time": f"{end // MINUTES}m",
                "exp_samples": [],
            }
        )
    groups = [
        group["name"]
        for path in rule_files
        for group in yaml.safe_load(Path(path).read_text(encoding="utf-8"))["groups"]
    ]
    return {
        "rule_files": list(rule_files),
        "evaluation_interval": f"{STEP // MINUTES}m",
        "group_eval_order": groups,
        "tests": [
            {
                "name": name,
                "interval": f"{STEP // MINUTES}m",
                "input_series": series,
                "alert_rule_test": checks,
                "promql_expr_test": exprs,
            }
        ],
    }


def test_document(scenario: Scenario, rule_files: Sequence[str]) -> dict[str, Any]:
    """The promtool test file of ``scenario`` alone over the given (generated) rule files."""
    return run_document(scenario.name, [(scenario, Placement())], rule_files)


def write_rules(settings: Settings, directory: Path) -> list[str]:
    """Generate the rule files for ``settings`` into ``directory``, cut to what the alerts read.

    The paths, recording rules first.
    """
    generated = {
        "usage-metrics.rules.yml": rules.render(recording.groups(settings), recording.HEADER),
        "usage-metrics.alerts.yml": rules.render(alerts.groups(settings), alerts.HEADER),
    }
    groups = [group for text in generated.values() for group in yaml.safe_load(text)["groups"]]
    kept = {group["name"]: group for group in alerting_groups(groups)}
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generated.items():
        cut = [
            kept[group["name"]] for group in yaml.safe_load(text)["groups"] if group["name"] in kept
        ]
        (directory / name).write_text(yaml.safe_dump({"groups": cut}, sort_keys=False), "utf-8")
        paths.append(str(directory / name))
    return paths


def write_scenario(scenario: Scenario, directory: Path) -> Path:
    """Write the scenario's rules and test file under ``directory``; the test file's path."""
    slug = re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()).strip("-")
    rule_files = write_rules(scenario.settings, directory / slug)
    path = directory / f"{slug}.test.yml"
    document = test_document(scenario, rule_files)
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=1 << 20), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the scenarios

WED = 23  # the Wednesday of the fourth week
ONE = (Replica("usage-metrics-0:9717"),)
TWO = (Replica("usage-metrics-0:9717"), Replica("usage-metrics-1:9717"))


def _lost_from(start: int, end: int | None = None) -> Fault:
    """Every event between ``start`` and ``end`` (promtool seconds) is lost."""
    return lambda _user, _category, minute: start <= minute * MINUTES < (end or 1 << 62)


def _lost_action(category: str, start: int) -> Fault:
    """Events of one action are lost from ``start`` on."""
    return lambda _user, cat, minute: cat == category and minute * MINUTES >= start


def _team_away(organization: str, start: int, end: int) -> Fault:
    """Nobody of ``organization`` works between ``start`` and ``end``."""
    return lambda user, _cat, minute: (
        user.organization == organization and start <= minute * MINUTES < end
    )


def _with_holidays(*days: int, **overrides: Any) -> Settings:
    return Settings(holidays=tuple(iso_day(day) for day in days), **overrides)


def scenarios() -> list[Scenario]:
    """Every scenario, in the order of the runbook's table."""
    ten = day_at(WED, 10)
    renamed = "usage-metrics-svc"
    after_holiday = day_at(21, 10)
    return [
        Scenario("A normal week", day_at(21), day_at(28), EXPECTED["A normal week"]),
        Scenario(
            "A total outage",
            ten,
            day_at(WED, 14),
            EXPECTED["A total outage"],
            fault=_lost_from(ten),
        ),
        Scenario(
            "SSH broken while the rest holds",
            ten,
            day_at(WED, 12.5),
            EXPECTED["SSH broken while the rest holds"],
            fault=_lost_action("tunnel", ten),
        ),
        Scenario(
            "A holiday Monday",
            day_at(21),
            day_at(22, 18),
            EXPECTED["A holiday Monday"],
            holidays=frozenset({21}),
            settings=_with_holidays(21),
        ),
        Scenario(
            "A holiday Monday missing from the settings",
            day_at(21),
            day_at(21, 12),
            EXPECTED["A holiday Monday missing from the settings"],
            holidays=frozenset({21}),
        ),
        Scenario(
            "An outage on the Monday after a holiday",
            after_holiday,
            day_at(21, 14),
            EXPECTED["An outage on the Monday after a holiday"],
            fault=_lost_from(after_holiday),
            holidays=frozenset({14}),
            settings=_with_holidays(14),
        ),
        Scenario(
            "A small organization's quiet night",
            day_at(WED),
            day_at(WED, 9),
            EXPECTED["A small organization's quiet night"],
            fault=_team_away("smallco", day_at(WED), day_at(WED, 12)),
        ),
        Scenario(
            "One of two replicas down",
            ten,
            day_at(WED, 12),
            EXPECTED["One of two replicas down"],
            replicas=(
                Replica("usage-metrics-0:9717"),
                Replica("usage-metrics-1:9717", down_at=ten),
            ),
        ),
        Scenario(
            "All replicas down",
            ten,
            day_at(WED, 11),
            EXPECTED["All replicas down"],
            replicas=(
                Replica("usage-metrics-0:9717", down_at=ten),
                Replica("usage-metrics-1:9717", down_at=ten),
            ),
        ),
        Scenario(
            "A frozen replica with higher old values during an outage",
            ten,
            day_at(WED, 13),
            EXPECTED["A frozen replica with higher old values during an outage"],
            fault=_lost_from(ten),
            replicas=(
                Replica("usage-metrics-0:9717"),
                Replica("usage-metrics-1:9717", frozen_at=ten),
            ),
        ),
        Scenario(
            "A frozen replica, were stale replicas not left out",
            ten,
            day_at(WED, 13),
            EXPECTED["A frozen replica, were stale replicas not left out"],
            fault=_lost_from(ten),
            replicas=(
                Replica("usage-metrics-0:9717"),
                Replica("usage-metrics-1:9717", frozen_at=ten),
            ),
            settings=Settings(replica_stale_after="1w"),
        ),
        Scenario(
            "One replica cannot reach the store",
            ten,
            day_at(WED, 11),
            EXPECTED["One replica cannot reach the store"],
            replicas=(
                Replica("usage-metrics-0:9717"),
                Replica("usage-metrics-1:9717", store_down_at=ten),
            ),
        ),
        Scenario(
            "The job renamed through the settings",
            day_at(21),
            day_at(WED, 18),
            EXPECTED["The job renamed through the settings"],
            job=renamed,
            settings=Settings(job_selector=f'job="{renamed}"'),
        ),
        Scenario(
            "The job renamed but not in the settings",
            0,
            2 * HOUR,
            EXPECTED["The job renamed but not in the settings"],
            job=renamed,
        ),
        Scenario(
            "The Coder source stops syncing",
            ten,
            day_at(WED, 16.5),
            EXPECTED["The Coder source stops syncing"],
            fault=_lost_from(ten),
            source_stops_at=ten,
        ),
    ]


_DROPPED = "UsageActiveUsersDropped"
_NOTHING = "UsageNoActivity"
_OUTAGE = (
    Fired(_DROPPED, "critical", 90, "any", "any"),
    Fired(_DROPPED, "warning", 90, "acme", "any"),
    Fired(_NOTHING, "critical", 90, "any", "any"),
)
_SECOND = "usage-metrics-1:9717"

EXPECTED: dict[str, tuple[Fired, ...]] = {
    "A normal week": (),
    "A total outage": _OUTAGE,
    "SSH broken while the rest holds": (
        Fired("UsageCategoryCollapsed", "critical", 90, "any", "tunnel"),
        Fired("UsageCategoryCollapsed", "warning", 90, "acme", "tunnel"),
    ),
    "A holiday Monday": (),
    "A holiday Monday missing from the settings": (
        Fired(_DROPPED, "critical", 455, "any", "any"),
        Fired(_DROPPED, "warning", 460, "acme", "any"),
        # Before the few who work on a holiday log in; quiet again by noon.
        Fired(_NOTHING, "critical", 435, "any", "any", at_end=False),
    ),
    "An outage on the Monday after a holiday": _OUTAGE,
    "A small organization's quiet night": (),
    "One of two replicas down": (Fired("UsageMetricsDown", "warning", 5, instance=_SECOND),),
    "All replicas down": (Fired("UsageMetricsDown", "critical", 5),),
    "A frozen replica with higher old values during an outage": (
        *_OUTAGE,
        Fired("UsageDataStale", "warning", 20, instance=_SECOND),
    ),
    # The control: the frozen replica's morning values hide the outage from the usage alerts.
    "A frozen replica, were stale replicas not left out": (
        Fired("UsageDataStale", "warning", 20, instance=_SECOND),
    ),
    "One replica cannot reach the store": (
        Fired("UsageStoreUnreachable", "critical", 5, instance=_SECOND),
        Fired("UsageDataStale", "warning", 20, instance=_SECOND),
    ),
    "The job renamed through the settings": (),
    "The job renamed but not in the settings": (Fired("UsageMetricsDown", "critical", 5),),
    "The Coder source stops syncing": (
        *_OUTAGE,
        Fired(_DROPPED, "warning", 245, "globex", "any"),
        Fired("UsageSourceStale", "warning", 25, source=SOURCE),
        Fired("UsageSourceStale", "critical", 370, source=SOURCE),
    ),
}


def main(argv: Sequence[str]) -> int:
    """Write every scenario's test file (and its rules) under the directory ``argv[0]``."""
    directory = Path(argv[0])
    for scenario in scenarios():
        print(write_scenario(scenario, directory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
