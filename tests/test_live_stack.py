"""A real Prometheus scrapes the real service (demo-like data) with the bundle's rules loaded.

Every recording and alert rule must evaluate healthy, and every Prometheus query of the
Grafana dashboards must run, with the core panels returning data.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import Config, normalize_database_url
from exporter.demo.run import Plan, seed_store
from tests.external import require_tool
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
GRAFANA_VALUES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "${datasource}": "",
    "$datasource": "",
    "$job": "usage-metrics",
}


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _wait_for(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in time")


class Stack:
    """URLs of the running service and Prometheus."""

    def __init__(self, service: str, prometheus: str) -> None:
        self.service = service
        self.prometheus = prometheus

    def query(self, expr: str) -> dict[str, Any]:
        """Run an instant PromQL query; the whole API answer."""
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            answer: dict[str, Any] = _get_json(url)
        except urllib.error.HTTPError as error:
            answer = json.load(error)
        return answer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The service on a seeded SQLite store, and Prometheus scraping it every second."""
    prometheus_binary = require_tool("prometheus")
    workdir = tmp_path_factory.mktemp("live")
    database_url = normalize_database_url(f"sqlite:///{workdir / 'store.db'}")
    asyncio.run(seed_store(Config(database_url=database_url), Plan(users=60, days=35, seed=9)))
    service_port, prometheus_port = free_port(), free_port()
    rule_files = []
    for path in RULE_FILES:  # evaluate every group each second, whatever its own interval
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            group.pop("interval", None)
        rule_files.append(workdir / path.name)
        rule_files[-1].write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": "usage-metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{service_port}"]}],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    environment = {**os.environ, "USAGE_METRICS_DATABASE_URL": database_url}
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "serve",
            "--listen",
            f"127.0.0.1:{service_port}",
            "--refresh-interval",
            "1s",
            "--log-level",
            "warning",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prometheus = subprocess.Popen(
        [
            prometheus_binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        _wait_for(f"http://127.0.0.1:{service_port}/readyz", deadline)
        _wait_for(f"http://127.0.0.1:{prometheus_port}/-/ready", deadline)
        live = Stack(f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{prometheus_port}")
        while time.monotonic() < deadline:  # a few scrapes and rule evaluations
            samples = live.query("count_over_time(usage_up[1m])")["data"]["result"]
            if samples and float(samples[0]["value"][1]) >= 5:
                break
            time.sleep(0.5)
        yield live
    finally:
        for process in (prometheus, service):
            process.terminate()
            process.wait(timeout=30)


def test_prometheus_scrapes_the_service(stack: Stack) -> None:
    """The target is up and the service reports a successful refresh."""
    targets = _get_json(f"{stack.prometheus}/api/v1/targets")["data"]["activeTargets"]
    assert [t["health"] for t in targets] == ["up"]
    result = stack.query('usage_active_users{organization="any",category="any",window="30d"}')
    assert float(result["data"]["result"][0]["value"][1]) > 0


def test_every_rule_evaluates_healthy(stack: Stack) -> None:
    """Every recording and alert rule of the bundle is loaded and evaluates without error."""
    expected = sum(
        len(group["rules"])
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
    )
    deadline = time.monotonic() + 30
    while True:
        groups = _get_json(f"{stack.prometheus}/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = [rule for rule in rules if rule["health"] != "unknown"]
        if len(evaluated) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(rules) == expected
    unhealthy = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert unhealthy == {}


def test_demo_data_fires_no_usage_alert(stack: Stack) -> None:
    """Realistic demo activity pages nobody: no alert is pending or firing."""
    alerts = _get_json(f"{stack.prometheus}/api/v1/alerts")["data"]["alerts"]
    assert [a["labels"]["alertname"] for a in alerts] == []


def _dashboard_queries(path: Path) -> list[tuple[str, str]]:
    dashboard = json.loads(path.read_text())
    panels = list(dashboard.get("panels", []))
    for panel in list(panels):
        panels.extend(panel.get("panels", []))
    found = []
    for panel in panels:
        for target in panel.get("targets", []):
            if "expr" in target:
                found.append((panel.get("title", "?"), target["expr"]))
    return found


def _substitute(expr: str, organization: str, action: str) -> str:
    for name, value in GRAFANA_VALUES.items():
        expr = expr.replace(name, value)
    expr = re.sub(r"\$\{?organization\}?", organization, expr)
    return re.sub(r"\$\{?action\}?", action, expr)


PROMETHEUS_DASHBOARDS = [path for path in DASHBOARDS if any(True for _ in _dashboard_queries(path))]


@pytest.mark.parametrize("path", PROMETHEUS_DASHBOARDS, ids=lambda p: p.name)
@pytest.mark.parametrize(("organization", "action"), [("any", "any"), ("platform", "ide")])
def test_every_dashboard_query_runs(
    stack: Stack, path: Path, organization: str, action: str
) -> None:
    """Each panel's PromQL runs against the live Prometheus, for Any and for one organization."""
    failures = {}
    for title, expr in _dashboard_queries(path):
        answer = stack.query(_substitute(expr, organization, action))
        if answer.get("status") != "success":
            failures[title] = answer.get("error")
    assert failures == {}


@pytest.mark.parametrize("window", ["1d", "7d", "30d"])
def test_core_panels_return_data(stack: Stack, window: str) -> None:
    """The DAU/WAU/MAU stat queries of the main dashboard return a positive value."""
    main = ROOT / "grafana" / "dashboards" / "usage-metrics.json"
    queries = [
        expr
        for _title, expr in _dashboard_queries(main)
        if f'window="{window}"' in expr and "usage_active_users" in expr
    ]
    assert queries
    values = []
    for expr in queries:
        result = stack.query(_substitute(expr, "any", "any"))["data"]["result"]
        if result and result[0].get("value"):
            values.append(float(result[0]["value"][1]))
    assert values
    assert max(values) > 0
