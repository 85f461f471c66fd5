"""promtool runs every alert scenario of tests/alert_scenarios.py over rules generated for it.

Each scenario asserts, through promtool, which alerts fire (labels, annotations, and minutes
after the fault until each first fired) and that every other alert stays quiet for the whole run.
Scenarios of equal settings share a promtool run (tests/alert_runs.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bundle.settings import Settings
from tests import alert_runs, alert_scenarios
from tests.alert_runs import Run
from tests.alert_scenarios import scenarios
from tests.external import promtool_test_rules
from tests.simulated_users import hourly_active_users, organizations

# Below the per-test limit (pyproject.toml), so that a stuck promtool fails with its own message;
# a shared run takes minutes on a loaded machine.
RUNS = alert_runs.runs(scenarios())


def _run_id(run: Run) -> str:
    """A run's test id: its scenario's name, or the names of the scenarios it shares."""
    return " + ".join(scenario.name for scenario, _ in run.placed)


@pytest.mark.slow
@pytest.mark.parametrize("run", [pytest.param(run, id=_run_id(run)) for run in RUNS])
def test_scenarios_fire_exactly_the_expected_alerts(run: Run, tmp_path: Path) -> None:
    """promtool finds exactly each scenario's alerts firing, each after its expected delay.

    One test per promtool run, so that a shared run is paid once whichever worker takes it;
    its failure names the scenarios whose checks failed.
    """
    path = alert_runs.write_run(run, tmp_path)
    result = promtool_test_rules(path)
    failing = [
        scenario.name + (f' (label scenario="{placement.tag}")' if placement.tag else "")
        for scenario, placement in run.placed
        if alert_runs.failed(placement, result)
    ]
    assert failing == [], f"{', '.join(failing)}\n{result.stdout}\n{result.stderr}"


def test_every_scenario_is_in_exactly_one_run() -> None:
    """Every scenario runs once; a shared run holds scenarios of equal settings, apart in time."""
    placed = [s.name for run in RUNS for s, _ in run.placed]
    assert sorted(placed) == sorted(s.name for s in scenarios())
    for run in RUNS:
        settings = {repr(s.settings) for s, _ in run.placed}
        assert len(settings) == 1, run.name
        ends = [s.end + placement.shift for s, placement in run.placed]
        assert len(set(ends)) == len(ends), run.name
    assert any(len(run.placed) > 1 for run in RUNS)


def test_a_failing_check_fails_the_scenarios_it_names() -> None:
    """A check naming one scenario fails it alone; one naming none fails the whole run."""
    first, second = (alert_scenarios.Placement(0, tag) for tag in ("first", "second"))
    own = alert_scenarios.Placement()

    def report(returncode: int, stdout: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], returncode, stdout, "")

    naming_first = report(1, 'FAILED:\n  exp: [{scenario="first", instance="first.a"}]\n')
    assert alert_runs.failed(first, naming_first)
    assert not alert_runs.failed(second, naming_first)
    unlabelled = report(1, 'FAILED:\n  expr: ALERTS{alertstate="firing", scenario=""}\n')
    assert alert_runs.failed(first, unlabelled)
    assert alert_runs.failed(second, unlabelled)
    escaped = report(1, 'FAILED:\n  expr: "min(ALERTS{scenario=\\"second\\"})", time: 1m,\n')
    assert alert_runs.failed(second, escaped)
    assert not alert_runs.failed(first, escaped)
    assert alert_runs.failed(first, report(1, "could not parse"))
    assert alert_runs.failed(own, report(1, "FAILED"))
    assert not alert_runs.failed(first, report(0, 'scenario="first"'))


def test_gauges_left_out_are_a_normal_weeks() -> None:
    """Where a scenario sends no activity gauges, its activity is A normal week's, all sent.

    So ``A normal week``'s check that nothing fires covers the times no other scenario checks
    (``Scenario.gauge_windows``).
    """
    users = organizations()
    normal = next(s for s in scenarios() if s.name == "A normal week")
    assert normal.settings == Settings()
    assert all(normal.gauges_sent(k * alert_scenarios.STEP) for k in range(normal.steps))
    expected = alert_scenarios.gauges_of(normal, users)
    for scenario in scenarios():
        assert scenario.end <= normal.end, scenario.name
        gauges = alert_scenarios.gauges_of(scenario, users)
        left_out = [
            k for k in range(scenario.steps) if not scenario.gauges_sent(k * alert_scenarios.STEP)
        ]
        assert sorted(gauges) == sorted(expected)
        for key, values in gauges.items():
            assert [values[k] for k in left_out] == [expected[key][k] for k in left_out], (
                scenario.name,
                key,
            )
    outage = next(s for s in scenarios() if s.name == "A total outage")
    assert not outage.gauges_sent(alert_scenarios.day_at(5, 12))


def test_every_scenario_has_expectations() -> None:
    """Each scenario is listed in EXPECTED, and each expectation belongs to a scenario."""
    assert sorted(s.name for s in scenarios()) == sorted(alert_scenarios.EXPECTED)


def test_simulated_week_has_working_hours_and_quiet_weekends() -> None:
    """The simulated 1h gauge rises in office hours, is low at night and on the weekend."""
    step = alert_scenarios.STEP
    per_day = 86400 // step
    gauges = hourly_active_users(organizations(), steps=7 * per_day, step=step)
    everyone = gauges[("any", "any")]
    wednesday = everyone[2 * per_day : 3 * per_day]
    saturday = everyone[5 * per_day : 6 * per_day]
    assert max(wednesday) > 100
    assert wednesday[per_day * 5 // 24] < 10  # 05:00 UTC: only the night team
    assert max(saturday) < max(wednesday) / 5
    # Distinct unions: an action never exceeds any, an organization never exceeds any.
    for (organization, category), values in gauges.items():
        assert all(v <= a for v, a in zip(values, gauges[(organization, "any")], strict=True))
        assert all(v <= a for v, a in zip(values, gauges[("any", category)], strict=True))


def test_rolling_window_keeps_a_user_for_an_hour() -> None:
    """After every event is lost the 1h gauge falls to zero within the hour, not before 50 min."""
    step = alert_scenarios.STEP
    outage = alert_scenarios.day_at(2, 10)
    gauges = hourly_active_users(
        organizations(),
        steps=outage // step + 13,
        step=step,
        fault=lambda _user, _category, minute: minute * 60 >= outage,
    )
    after = gauges[("any", "any")][outage // step :]
    assert after[0] > 100
    assert after[10] > 0  # 50 minutes later someone active at 09:59 is still counted
    assert after[12] == 0
