"""promtool runs every alert scenario of tests/alert_scenarios.py over rules generated for it.

Each scenario asserts, through promtool, which alerts fire (labels, annotations, and minutes
after the fault until each first fired) and that every other alert stays quiet for the whole run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import alert_scenarios
from tests.alert_scenarios import Scenario, scenarios
from tests.external import require_tool
from tests.simulated_users import hourly_active_users, organizations

PROMTOOL_TIMEOUT_SECONDS = 1800


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool", "prometheus"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("scenario", scenarios(), ids=lambda scenario: scenario.name)
def test_scenario_fires_exactly_the_expected_alerts(scenario: Scenario, tmp_path: Path) -> None:
    """promtool finds exactly the scenario's alerts firing, each after its expected delay.

    One promtool run per test (each takes tens of seconds), so that pytest-xdist spreads the
    scenarios over its workers.
    """
    result = _run(alert_scenarios.write_scenario(scenario, tmp_path))
    assert result.returncode == 0, f"{scenario.name}\n{result.stdout}\n{result.stderr}"


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
