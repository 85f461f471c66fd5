"""The alert scenarios grouped into as few promtool runs as keep them apart.

promtool's cost is the number of evaluation steps times the rules, nearly independent of the
series, and every scenario evaluates three weeks of baseline: scenarios with equal settings share
one run, each with its own ``scenario`` label and instances (``alert_scenarios.Placement``).

Rules:

- A scenario expecting an alert without organization or instance labels (``absent()``,
  ``on ()`` and ``by (job, source)`` matches, which see every scenario's series) has a run of
  its own.
- ``alert_rule_test`` compares every firing alert of a name, whichever scenario it belongs to:
  a scenario is moved (``shift``) until, at its end, no other scenario of the run can be firing
  (from the other's fault to one step after its end, when its series have gone stale) nor
  ending.
- promtool's report of a failing check names the scenario by its label; a failing check
  without one (the run's own checks) fails every scenario of the run.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.alert_scenarios import STEP, Placement, Scenario, run_document, write_rules

HOUR = 3600


@dataclass(frozen=True)
class Run:
    """One promtool run: scenarios of equal settings, each at its placement."""

    name: str
    placed: tuple[tuple[Scenario, Placement], ...]

    def placement(self, scenario: Scenario) -> Placement:
        """Where ``scenario`` sits in this run."""
        return next(placement for s, placement in self.placed if s.name == scenario.name)


def slug(name: str) -> str:
    """``A total outage`` -> ``a-total-outage``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def alone(scenario: Scenario) -> bool:
    """Whether the scenario expects an alert that matches across every scenario of a run."""
    return any(not (fired.organization or fired.instance) for fired in scenario.fired)


def _busy(scenario: Scenario, shift: int) -> tuple[int, int]:
    """From when to when (shifted) the scenario may fire or end: its checks' neighbourhood."""
    end = scenario.end + shift
    start = scenario.fault_at + shift if scenario.fired else end
    return start - STEP, end + 2 * STEP


def _fits(scenario: Scenario, shift: int, placed: list[tuple[Scenario, Placement]]) -> bool:
    end = scenario.end + shift
    low, high = _busy(scenario, shift)
    for other, placement in placed:
        other_low, other_high = _busy(other, placement.shift)
        if other_low <= end <= other_high:
            return False
        if low <= other.end + placement.shift <= high:
            return False
    return True


def _shared(name: str, scenarios: list[Scenario]) -> Run:
    """One run of ``scenarios``, each moved by the fewest hours that keep it apart."""
    placed: list[tuple[Scenario, Placement]] = []
    for scenario in scenarios:
        shift = 0
        while not _fits(scenario, shift, placed):
            shift += HOUR
        placed.append((scenario, Placement(shift, slug(scenario.name))))
    return Run(name, tuple(placed))


def runs(scenarios: list[Scenario]) -> list[Run]:
    """Every scenario in exactly one run; those that need no run of their own share by settings."""
    result: list[Run] = []
    groups: list[list[Scenario]] = []
    for scenario in scenarios:
        if alone(scenario):
            result.append(Run(slug(scenario.name), ((scenario, Placement()),)))
            continue
        group = next((g for g in groups if g[0].settings == scenario.settings), None)
        if group is None:
            groups.append([scenario])
        else:
            group.append(scenario)
    for group in groups:
        if len(group) == 1:
            result.append(Run(slug(group[0].name), ((group[0], Placement()),)))
        else:
            result.append(_shared(f"shared-{slug(group[0].name)}", group))
    return result


def write_run(run: Run, directory: Path) -> Path:
    """Write the run's rules and promtool test file under ``directory``; the test file's path."""
    rule_files = write_rules(run.placed[0][0].settings, directory / run.name)
    path = directory / f"{run.name}.test.yml"
    document = run_document(run.name, run.placed, rule_files)
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=1 << 20), encoding="utf-8")
    return path


def failed(placement: Placement, result: subprocess.CompletedProcess[str]) -> bool:
    """Whether promtool's report has a failing check of the scenario at ``placement``."""
    if result.returncode == 0:
        return False
    # promtool quotes a failing promql_expr_test's expr, escaping its quotes: scenario=\"tag\".
    named = set(re.findall(r'scenario=\\?"([^"\\]*)\\?"', result.stdout + result.stderr))
    return not placement.tag or not named or placement.tag in named or "" in named
