"""Every generated file of the bundle, by path relative to the repository root.

A new output is one more module whose function returns ``{relative path: content}``, added
to :data:`GENERATORS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bundle import alerts, kubernetes, recording, rules, runbook
from bundle.grafana import dashboards
from bundle.settings import Settings

RULES_PATH = "prometheus/rules/usage-metrics.rules.yml"
ALERTS_PATH = "prometheus/rules/usage-metrics.alerts.yml"
RUNBOOK_PATH = "prometheus/RUNBOOK.md"

Generator = Callable[[Settings, Path], dict[str, str]]


def prometheus_rules(settings: Settings, _root: Path) -> dict[str, str]:
    """The recording and alerting rule files."""
    return {
        RULES_PATH: rules.render(recording.groups(settings), recording.HEADER),
        ALERTS_PATH: rules.render(alerts.groups(settings), alerts.HEADER),
    }


def runbook_table(settings: Settings, root: Path) -> dict[str, str]:
    """RUNBOOK.md with its thresholds table regenerated (the rest is hand-written)."""
    text = (root / RUNBOOK_PATH).read_text(encoding="utf-8")
    return {RUNBOOK_PATH: runbook.splice(text, settings)}


def grafana_dashboards(settings: Settings, _root: Path) -> dict[str, str]:
    """The Grafana dashboards."""
    return {f"grafana/dashboards/{name}": text for name, text in dashboards(settings).items()}


def kubernetes_objects(settings: Settings, root: Path) -> dict[str, str]:
    """The PrometheusRule and the dashboard ConfigMaps of the Kubernetes base."""
    return kubernetes.outputs(prometheus_rules(settings, root), grafana_dashboards(settings, root))


GENERATORS: tuple[Generator, ...] = (
    prometheus_rules,
    grafana_dashboards,
    runbook_table,
    kubernetes_objects,
)


def render_all(settings: Settings, root: Path) -> dict[str, str]:
    """Relative path -> content of every generated file, for ``settings``."""
    files: dict[str, str] = {}
    for generate in GENERATORS:
        files.update(generate(settings, root))
    return files
