"""The Grafana dashboards: one module per dashboard, built from blocks and queries."""

from __future__ import annotations

import json
from collections.abc import Callable

from bundle.grafana.blocks import Json
from bundle.grafana.main import main_dashboard
from bundle.grafana.people import people_dashboard
from bundle.settings import Settings

DASHBOARDS: dict[str, Callable[[Settings], Json]] = {
    "usage-metrics.json": main_dashboard,
    "usage-metrics-people.json": lambda _settings: people_dashboard(),
}


def render(document: Json) -> str:
    """Pretty JSON with sorted keys and a trailing newline: stable, diff-friendly output."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dashboards(settings: Settings) -> dict[str, str]:
    """File name -> file content of every dashboard."""
    return {name: render(build(settings)) for name, build in DASHBOARDS.items()}
