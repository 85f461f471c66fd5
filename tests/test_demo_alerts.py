"""The demo's realistic activity fires none of the bundle's alerts (issue 7), says promtool.

tests/demo_gauges.py computes, from the demo's planned activity, exactly what the service
exports while ``usage-metrics demo`` runs (200 users, seed 42, 90 days of history): every
``usage_active_users`` series, sampled every 5 minutes over the 16 days before a fixed
Wednesday 15:00 UTC. ``promtool test rules`` then evaluates the real rule files' alerts, and
the recording rules they read, over their 1h windows, the only ones an alert reads (checked
here), which keeps a run to a quarter's series:
one week of baseline, then nine days (a weekend and the Monday after it included) in which
every alert compares with the same time last week. Two incidents built from the same activity
(SSH broken in one organization, events no longer arriving) show that the series and the
evaluation do reach the alert logic.

Evaluation runs every 5 minutes, like the samples: with inputs that change every 5 minutes,
evaluating each minute would only repeat the same comparisons (``for: 30m`` needs the
condition at seven consecutive samples either way).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import Config, normalize_database_url
from exporter.demo.population import DAY, ORGANIZATIONS, events_between, population
from exporter.events import MAX_EVENTS, parse_events
from exporter.model import ALL_ORGANIZATIONS_KEY, Category
from exporter.store import Store
from exporter.store.gauges import WINDOWS, read_gauges
from tests.demo_gauges import (
    CATEGORIES,
    Demo,
    Outage,
    SeriesKey,
    active_users,
    demo_at,
    organization_names,
)
from tests.external import promtool_test_rules
from tests.promql import alerting_groups
from tests.support import FakeClock

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "prometheus" / "rules"
RULE_FILES = sorted(RULES.glob("*.yml"))
NOW = dt.datetime(2026, 11, 25, 15, tzinfo=dt.UTC).timestamp()  # a Wednesday
SPAN_DAYS = 16
STEP = 300  # seconds between samples and between rule evaluations
START = NOW - SPAN_DAYS * DAY  # promtool's time 0
STEPS = SPAN_DAYS * DAY // STEP + 1
WEEK = 7 * DAY
HOUR = 3600
CHECKED_FROM = WEEK + HOUR  # from here on every alert has a whole hour of last week's data
ALERT_TEST_EVERY = 1800  # alert_rule_test cases every 30 minutes; ALERTS covers the rest
TARGET = {"job": "usage-metrics", "instance": "127.0.0.1:9717"}

Series = dict[SeriesKey, list[int]]


def _rule_groups() -> list[dict[str, Any]]:
    return [group for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]]


def _alert_rules() -> dict[str, dict[str, Any]]:
    """One rule per alert name (an alert's severities share their runbook_url)."""
    rules = [rule for group in _rule_groups() for rule in group["rules"]]
    return {rule["alert"]: rule for rule in rules if "alert" in rule}


def _seconds(text: str) -> int:
    """Seconds of a promtool duration such as ``7d20h30m``."""
    units = {"d": DAY, "h": HOUR, "m": 60, "s": 1}
    return sum(int(number) * units[unit] for number, unit in re.findall(r"(\d+)([dhms])", text))


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m"


def _when(test_seconds: float) -> str:
    """The real UTC time of a promtool test time."""
    return f"{dt.datetime.fromtimestamp(START + test_seconds, dt.UTC):%a %Y-%m-%d %H:%M} UTC"


def _selector(metric: str, **labels: str) -> str:
    inner = ", ".join(f'{name}="{value}"' for name, value in {**TARGET, **labels}.items())
    return f"{metric}{{{inner}}}"


def _expanding(values: Sequence[int]) -> str:
    """promtool's expanding notation: a run of one value is written ``v+0xN`` (N + 1 samples)."""
    parts, index = [], 0
    while index < len(values):
        end = index
        while end + 1 < len(values) and values[end + 1] == values[index]:
            end += 1
        parts.append(str(values[index]) if end == index else f"{values[index]}+0x{end - index}")
        index = end + 1
    return " ".join(parts)


def _input_series(series: Series, steps: int) -> list[dict[str, str]]:
    """Every given gauge, plus a healthy, freshly refreshed and scraped service."""
    rows = [
        {
            "series": _selector(
                "usage_active_users", organization=org, category=category, window=window
            ),
            "values": _expanding(values[:steps]),
        }
        for (org, category, window), values in sorted(series.items())
    ]
    every_step = f"1+0x{steps - 1}"
    return [
        *rows,
        {"series": _selector("up"), "values": every_step},
        {"series": _selector("usage_up"), "values": every_step},
        # promtool's clock starts at 0: each sample is a refresh that just finished.
        {
            "series": _selector("usage_last_refresh_timestamp_seconds"),
            "values": f"0+{STEP}x{steps - 1}",
        },
    ]


def _fired(alertname: str = "") -> str:
    """Every firing of an alert (any alert when empty) up to the evaluation time."""
    matchers = 'alertstate="firing"' + (f', alertname="{alertname}"' if alertname else "")
    return f"max_over_time(ALERTS{{{matchers}}}[{SPAN_DAYS}d])"


def _first_fired() -> str:
    """When each alert that fired fired first (promtool seconds)."""
    return f'min_over_time(timestamp(ALERTS{{alertstate="firing"}})[{SPAN_DAYS}d:{STEP}s])'


def _run_promtool(tmp_path: Path, name: str, test_group: dict[str, Any]) -> str:
    """Write one promtool test file over the real rule files, run it; its whole output."""
    # Recording rules first, then the alerts that read them, at every evaluation time.
    groups = alerting_groups(_rule_groups())
    order = sorted(groups, key=lambda group: any("alert" in rule for rule in group["rules"]))
    rule_file = tmp_path / "alerting.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": order}, sort_keys=False), encoding="utf-8")
    document = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": f"{STEP}s",
        "group_eval_order": [group["name"] for group in order],
        "tests": [{"name": name, "interval": f"{STEP}s", **test_group}],
    }
    path = tmp_path / "demo-alerts.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=1 << 20))
    result = promtool_test_rules(path)
    output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, f"promtool test rules {path} failed\n{output}{_explain(output)}"
    return output


def _explain(output: str) -> str:
    """Real times for the promtool times in a failure report."""
    lines = [f"\npromtool time 0 is {_when(0)}; samples every {STEP // 60} minutes."]
    for text in sorted(set(re.findall(r"time: (\d[\dmhds]*),", output)), key=_seconds):
        lines.append(f"  {text} = {_when(_seconds(text))}")
    first = output.partition("min_over_time(timestamp(")[2]
    for labels, value in re.findall(r"(\{[^}]*\}) ([\d.]+E[+-]\d+)", first):
        lines.append(f"  first fired {_when(float(value))}: {labels}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def demo() -> Demo:
    """The demo's population as ``usage-metrics demo`` plans it at ``NOW`` (its defaults)."""
    return demo_at(NOW)


@pytest.fixture(scope="module")
def series(demo: Demo) -> Series:
    """Every ``usage_active_users`` series of the demo, every 5 minutes over 16 days."""
    return active_users(demo, START, STEPS, STEP)


@pytest.mark.slow
def test_demo_activity_fires_no_alert(tmp_path: Path, series: Series) -> None:
    """Nine days of demo activity, each compared with the week before, fire no alert at all."""
    assert len(series) == len(organization_names()) * len(CATEGORIES) * len(WINDOWS)
    assert max(series[("any", "any", "1d")]) > 100  # the demo is busy, not idle
    end = (STEPS - 1) * STEP
    cases = [
        {"eval_time": _duration(moment), "alertname": alertname, "exp_alerts": []}
        for moment in range(CHECKED_FROM, end + 1, ALERT_TEST_EVERY)
        for alertname in _alert_rules()
    ]
    # ALERTS holds every firing at every evaluation, also between the cases above.
    everything = [
        {"expr": _fired(), "eval_time": _duration(end), "exp_samples": []},
        {"expr": _first_fired(), "eval_time": _duration(end), "exp_samples": []},
    ]
    _run_promtool(
        tmp_path,
        "the demo's activity fires no alert",
        {
            # The 1h windows, as in the incidents: every alert reads those alone.
            "input_series": _input_series(_one_hour(series), STEPS),
            "alert_rule_test": cases,
            "promql_expr_test": everything,
        },
    )


def test_the_alerts_read_only_the_one_hour_windows() -> None:
    """Why the promtool runs here send the 1h windows alone: no alert reads another window."""
    rules = [rule for group in _rule_groups() for rule in group["rules"]]
    read: list[tuple[str, str, str]] = []
    for rule in rules:
        if "alert" in rule or "share" in rule.get("record", ""):
            name = rule.get("alert") or rule["record"]
            read += [(name, *found) for found in _USERS_SELECTOR.findall(rule["expr"])]
    assert read
    # The shares are recorded from the 1h windows, so an alert reading a share reads those.
    beyond = [entry for entry in read if "_share" not in entry[1] and 'window="1h"' not in entry[2]]
    assert beyond == []


_USERS_SELECTOR = re.compile(r"([a-z_:]*usage_active_users[a-z_:]*)(\{[^}]*\})?")


def _one_hour(series: Series) -> Series:
    """What the usage alerts read: the 1h windows."""
    return {key: values for key, values in series.items() if key[2] == "1h"}


def _steps(first: int, last: int) -> range:
    """Indices of the samples from promtool time ``first`` to ``last``, both included."""
    return range(first // STEP, last // STEP + 1)


def _incident_start(fits: Callable[[range], bool]) -> int:
    """The first whole hour after a week of baseline whose second hour ``fits`` the incident."""
    for moment in range(CHECKED_FROM, (STEPS - 1) * STEP - 2 * HOUR, HOUR):
        if fits(_steps(moment + HOUR, moment + 2 * HOUR)):
            return moment
    raise AssertionError("the demo never has the activity this incident needs")


def _expect_firing(
    tmp_path: Path,
    name: str,
    during: Series,
    *,
    check: int,
    alertname: str,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> None:
    """promtool finds exactly this alert firing at ``check``, with these labels and texts."""
    labels = {"job": TARGET["job"], **labels}
    runbook = _alert_rules()[alertname]["annotations"]["runbook_url"]
    alerts_series = {"alertname": alertname, "alertstate": "firing", **labels}
    _run_promtool(
        tmp_path,
        name,
        {
            "input_series": _input_series(_one_hour(during), check // STEP + 1),
            "alert_rule_test": [
                {
                    "eval_time": _duration(check),
                    "alertname": alertname,
                    "exp_alerts": [
                        {
                            "exp_labels": labels,
                            "exp_annotations": {**annotations, "runbook_url": runbook},
                        }
                    ],
                }
            ],
            # The ALERTS check of the quiet case sees this firing too.
            "promql_expr_test": [
                {
                    "expr": _fired(alertname),
                    "eval_time": _duration(check),
                    "exp_samples": [{"labels": _braces(alerts_series), "value": 1}],
                }
            ],
        },
    )


def _braces(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{name}="{value}"' for name, value in labels.items()) + "}"


@pytest.mark.slow
def test_broken_ssh_in_one_organization_fires(tmp_path: Path, demo: Demo, series: Series) -> None:
    """Tunnel events of one organization stop: promtool reports UsageCategoryCollapsed for it."""
    organization = ORGANIZATIONS[0]
    tunnel = series[(organization.name, "tunnel", "1h")]
    week = WEEK // STEP
    # Every past week had at least 10 tunnel users at that time (the collapse alert's minimum).
    broken = _incident_start(
        lambda hour: all(tunnel[j] >= 10 for k in hour for j in range(k - week, -1, -week))
    )
    ssh = Outage(
        START + broken,
        lambda event: (
            event["organization_id"] == organization.id
            and event["category"] == Category.TUNNEL.token
        ),
    )
    during = active_users(demo, START, STEPS, STEP, outage=ssh)
    an_hour_later = _steps(broken + HOUR, broken + 2 * HOUR)
    assert {during[(organization.name, "tunnel", "1h")][k] for k in an_hour_later} == {0}
    org = organization.name
    _expect_firing(
        tmp_path,
        f"SSH broken in {org} from {_when(broken)}",
        during,
        check=broken + 2 * HOUR,
        alertname="UsageCategoryCollapsed",
        labels={"severity": "warning", "organization": org, "category": "tunnel", "window": "1h"},
        annotations={
            "summary": f"Action tunnel collapsed in organization {org} while people are active "
            "as usual.",
            "description": f"Only 0% of the users active in the last hour in organization {org} "
            "used tunnel, below 20% of its usual share, while the active users hold at 70% or "
            "more of usual: this action is probably broken (tunnel: SSH).",
        },
    )


@pytest.mark.slow
def test_lost_events_fire_no_activity(tmp_path: Path, demo: Demo, series: Series) -> None:
    """No event arrives any more: an hour and a half later promtool reports UsageNoActivity."""
    everyone = series[("any", "any", "1h")]
    week = WEEK // STEP
    stopped = _incident_start(
        lambda hour: all(everyone[j] >= 5 for k in hour for j in range(k - week, -1, -week))
    )
    during = active_users(demo, START, STEPS, STEP, outage=Outage(START + stopped, lambda _: True))
    an_hour_later = _steps(stopped + HOUR, stopped + 2 * HOUR)
    assert {during[("any", "any", "1h")][k] for k in an_hour_later} == {0}
    _expect_firing(
        tmp_path,
        f"no event arrives from {_when(stopped)}",
        during,
        check=stopped + 2 * HOUR,
        alertname="UsageNoActivity",
        labels={"severity": "critical", "organization": "any", "category": "any", "window": "1h"},
        annotations={
            "summary": "No activity has been recorded in the whole deployment for over an hour.",
            "description": "Nobody has been active in the last hour, for 30 minutes more, "
            "although the same time in the previous weeks had at least 5 active users: events "
            "are probably not reaching usage-metrics.",
        },
    )


async def test_computed_series_match_the_service_gauges(tmp_path: Path) -> None:
    """The computed series equal what the service's own refresh reads from a store fed live."""
    end = NOW
    people = population(40, 40, seed=3)
    history_start = (end // DAY - 40) * DAY
    small = Demo(people, history_start, 3)
    steps = 2 * DAY // STEP + 1
    start = end - 2 * DAY
    expected = active_users(small, start, steps, STEP)
    clock = FakeClock()
    clock.now = history_start
    config = Config(database_url=normalize_database_url(f"sqlite:///{tmp_path / 'store.db'}"))
    store = Store.open(config, clock=clock)
    try:
        await store.migrate()
        async with store.write() as connection:
            for org in ORGANIZATIONS:
                await store.directory(connection, now=history_start).put_organization(
                    org.id, name=org.name, display_name=org.display_name
                )
        fed = history_start
        for k in range(0, steps, 47):  # every 3 h 55 min: all hours of the day
            clock.now = start + k * STEP
            events = list(events_between(people, history_start, fed, clock.now, 3))
            fed = clock.now
            for chunk in range(0, len(events), MAX_EVENTS):
                limits = store.ingest_limits()
                await store.ingest(parse_events(events[chunk : chunk + MAX_EVENTS], limits))
            async with store.read() as connection:
                readings = await read_gauges(connection, now=clock.now, dormancy=config.dormancy)
            names = {org.id: org.name for org in readings.organizations}
            names[ALL_ORGANIZATIONS_KEY] = "any"
            exported = {
                (names[org], Category(category).token, window): value
                for (org, category, window), value in readings.active_users.items()
            }
            computed = {key: values[k] for key, values in expected.items()}
            assert set(exported) <= set(computed)
            moment = f"{dt.datetime.fromtimestamp(clock.now, dt.UTC):%Y-%m-%d %H:%M} UTC"
            assert {key: exported.get(key, 0) for key in computed} == computed, moment
            assert sum(computed.values()) > 0
    finally:
        await store.close()
