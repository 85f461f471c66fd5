"""Static checks of the Grafana bundle: the generated dashboards and the provisioning."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from bundle import Settings, recording, rules
from bundle.grafana import dashboards
from bundle.grafana.constants import ACTIONS as GENERATOR_ACTIONS
from exporter.model import Category
from tests.metrics_helpers import exported_sample_names
from tests.promql import selector_names

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DATASOURCES_YAML = GRAFANA / "provisioning" / "datasources" / "usage-metrics.yaml"
DASHBOARDS_YAML = GRAFANA / "provisioning" / "dashboards" / "usage-metrics.yaml"
PROMETHEUS_YML = ROOT / "prometheus" / "prometheus.yml"

EXPECTED_UIDS = {
    "usage-metrics.json": "usage-metrics-main",
    "usage-metrics-people.json": "usage-metrics-people",
}
PROMETHEUS_DASHBOARDS = ["usage-metrics.json"]
SQL_DASHBOARDS = ["usage-metrics-people.json"]
DATASOURCE_VARIABLE = {
    "usage-metrics.json": ("datasource", "prometheus"),
    "usage-metrics-people.json": ("pg_datasource", "grafana-postgresql-datasource"),
}
ACTIONS = [
    ("Any", "any"),
    ("IDE", "ide"),
    ("Login", "login"),
    ("App", "app"),
    ("Tunnel", "tunnel"),
    ("Web Terminal", "web_terminal"),
]

# Grafana's own variables and SQL macros that dashboards may use without defining them.
BUILTIN_VARIABLES = {
    "__rate_interval",
    "__range",
    "__interval",
    "__timeFilter",
    "__timeFrom",
    "__timeTo",
    "__timeGroup",
    "__timeGroupAlias",
}
# Plausible values for parsing PromQL; $__rate_interval gets a value no other variable uses, so
# the parsed range of rate()/increase() tells whether it came from $__rate_interval.
PROMQL_VALUES = {
    "__rate_interval": "2m",
    "__range": "1d",
    "__interval": "30s",
    "organization": "any",
    "action": "any",
    "job": "usage-metrics",
    "cluster": "eu-1",
    "datasource": "usage-metrics-prometheus",
}
RATE_FUNCTIONS = {"rate", "increase", "irate"}
RATE_INTERVAL = promql_parser.parse_duration(PROMQL_VALUES["__rate_interval"])
VARIABLE_REFERENCE = re.compile(
    r"\$\{(?P<braced>\w+)(?::[^}]*)?\}|\[\[(?P<bracketed>\w+)(?::[^\]]*)?\]\]|\$(?P<plain>\w+)"
)


def load(name: str) -> dict[str, Any]:
    """The committed dashboard ``name``."""
    document: dict[str, Any] = json.loads((DASHBOARD_DIR / name).read_text(encoding="utf-8"))
    return document


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels held inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def visual_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that is not a row."""
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Dashboard variables by name."""
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def substitute(text: str) -> str:
    """Replace Grafana variables in a PromQL expression with plausible values."""

    def value(match: re.Match[str]) -> str:
        name = match["braced"] or match["bracketed"] or match["plain"]
        return PROMQL_VALUES[name]

    return VARIABLE_REFERENCE.sub(value, text)


def promql_expressions(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL of every Prometheus target and of every Prometheus query variable."""
    exprs = [
        target["expr"]
        for panel in visual_panels(dashboard)
        for target in panel["targets"]
        if target["datasource"]["type"] == "prometheus"
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query" and variable["datasource"]["type"] == "prometheus":
            match = re.fullmatch(r"query_result\((.+)\)", variable["query"])
            assert match, f"variable {variable['name']}: expected query_result(...)"
            exprs.append(match[1])
    return exprs


all_dashboards = pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))


# --------------------------------------------------------------------------- files


def test_generator_output_matches_committed_dashboards() -> None:
    """The default settings' dashboards are the committed ones; no stale dashboard is left."""
    generated = dashboards(Settings())
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in DASHBOARD_DIR.glob("*.json")}
    assert sorted(generated) == sorted(on_disk)
    for name, content in generated.items():
        assert content == on_disk[name], f"{name} is stale: run python -m bundle"


def test_action_filter_lists_every_exporter_category_in_order() -> None:
    """The generator's actions are exactly exporter.model.Category, in its order, any first."""
    assert [token for _name, token, _colour in GENERATOR_ACTIONS] == [c.token for c in Category]
    assert [(name, token) for name, token, _colour in GENERATOR_ACTIONS] == ACTIONS


@all_dashboards
def test_dashboard_is_valid_json_for_grafana_11(name: str) -> None:
    """Each dashboard is JSON with schema 39, UTC, a 1m refresh and the last 30 days."""
    dashboard = load(name)
    assert dashboard["schemaVersion"] == 39
    assert dashboard["timezone"] == "utc"
    assert dashboard["refresh"] == "1m"
    assert dashboard["time"] == {"from": "now-30d", "to": "now"}
    assert "usage-metrics" in dashboard["tags"]
    assert dashboard["title"]
    assert dashboard["id"] is None
    kinds = {p["type"] for p in all_panels(dashboard)}
    assert kinds <= {"timeseries", "stat", "gauge", "bargauge", "table", "row"}


def test_dashboard_uids_are_the_stable_ones() -> None:
    """The dashboards have exactly the expected, distinct uids (links and bookmarks use them)."""
    uids = {name: load(name)["uid"] for name in EXPECTED_UIDS}
    assert uids == EXPECTED_UIDS
    assert sorted(p.name for p in DASHBOARD_DIR.glob("*.json")) == sorted(EXPECTED_UIDS)


# --------------------------------------------------------------------------- panels


@all_dashboards
def test_every_panel_and_target_uses_the_datasource_variable(name: str) -> None:
    """Panels, targets and query variables read data through the dashboard's datasource variable."""
    dashboard = load(name)
    variable, plugin = DATASOURCE_VARIABLE[name]
    expected = {"type": plugin, "uid": f"${{{variable}}}"}
    assert variables(dashboard)[variable]["type"] == "datasource"
    assert variables(dashboard)[variable]["query"] == plugin
    panels = visual_panels(dashboard)
    assert panels
    for panel in panels:
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"] == expected, var["name"]


@all_dashboards
def test_every_referenced_variable_is_defined(name: str) -> None:
    """Each $variable in titles, descriptions, queries and legends is defined or built in."""
    dashboard = load(name)
    defined = set(variables(dashboard)) | BUILTIN_VARIABLES
    texts = [dashboard["title"]]
    for panel in all_panels(dashboard):
        texts += [panel["title"], panel.get("description", "")]
        for target in panel.get("targets", []):
            texts += [
                target.get("expr", ""),
                target.get("rawSql", ""),
                target.get("legendFormat", ""),
            ]
    for var in dashboard["templating"]["list"]:
        texts += [str(var["query"]), var.get("definition", "")]
    used = {
        m["braced"] or m["bracketed"] or m["plain"]
        for text in texts
        for m in VARIABLE_REFERENCE.finditer(text)
    }
    assert used, "expected the dashboard to use its variables"
    assert used <= defined, f"undefined: {sorted(used - defined)}"


@all_dashboards
def test_panel_ids_are_unique(name: str) -> None:
    """No two panels (including those inside collapsed rows) share an id."""
    ids = [p["id"] for p in all_panels(load(name))]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) and i > 0 for i in ids)


def overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    """Whether two grid rectangles share a cell."""
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def assert_no_overlap(panels: list[dict[str, Any]]) -> None:
    """Every panel fits the 24-column grid and none overlaps another."""
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["y"] >= 0, panel["title"]
        assert pos["w"] > 0, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
    for i, a in enumerate(panels):
        for b in panels[i + 1 :]:
            assert not overlaps(a["gridPos"], b["gridPos"]), (a["title"], b["title"])


@all_dashboards
def test_grid_fits_and_panels_do_not_overlap(name: str) -> None:
    """Panels fit 24 columns and never overlap, on the page and inside each collapsed row."""
    dashboard = load(name)
    assert_no_overlap(dashboard["panels"])
    for row in dashboard["panels"]:
        if row["type"] != "row":
            continue
        if not row["collapsed"]:
            assert row["panels"] == [], f"expanded row {row['title']} must not hold panels"
            continue
        assert row["panels"], f"collapsed row {row['title']} is empty"
        assert_no_overlap(row["panels"])
        assert all(p["gridPos"]["y"] > row["gridPos"]["y"] for p in row["panels"])


def test_grid_overlap_check_catches_an_overlap() -> None:
    """The overlap check itself fails on two panels sharing a cell."""
    a = {"title": "a", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 4}}
    b = {"title": "b", "gridPos": {"x": 11, "y": 3, "w": 4, "h": 4}}
    with pytest.raises(AssertionError):
        assert_no_overlap([a, b])


@all_dashboards
def test_every_panel_has_a_unit_and_a_description(name: str) -> None:
    """Each non-row panel sets fieldConfig.defaults.unit and says what it shows."""
    for panel in visual_panels(load(name)):
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        assert len(panel.get("description", "")) > 20, panel["title"]


# --------------------------------------------------------------------------- variables


@all_dashboards
def test_selection_variables_offer_any_and_never_all(name: str) -> None:
    """Organization and Action default to Any (value any), with no All option and no multi."""
    dashboard = load(name)
    vars_ = variables(dashboard)
    for var_name in ("organization", "action"):
        var = vars_[var_name]
        assert var.get("includeAll", False) is False, var_name
        assert var.get("multi", False) is False, var_name
        assert "allValue" not in var or not var["allValue"], var_name
        assert var["current"]["value"] == "any", var_name
        assert var["current"]["text"] == "Any", var_name
    action = vars_["action"]
    assert action["type"] == "custom"
    assert [(o["text"], o["value"]) for o in action["options"]] == ACTIONS
    assert action["query"] == ", ".join(f"{text} : {value}" for text, value in ACTIONS)


def query_result_line(labels: dict[str, str]) -> str:
    """A query_result() row as Grafana's Prometheus data source formats it (labels sorted)."""
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + body + "} 1 1700000000000"


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_prometheus_organization_variable_yields_any_then_names(name: str) -> None:
    """The Prometheus organization query gives the option Any=any plus each organization name."""
    var = variables(load(name))["organization"]
    assert var["type"] == "query"
    assert "usage_organization_info" in var["query"]
    assert '"organization", "any"' in var["query"]
    assert '"title", "Any"' in var["query"]
    # Grafana's regex: JavaScript named groups (?<name>...) are Python's (?P<name>...).
    pattern = re.compile(var["regex"].strip("/").replace("(?<", "(?P<"))
    options = []
    for labels in ({"organization": "any", "title": "Any"}, {"organization": "acme"}):
        match = pattern.search(query_result_line(labels))
        assert match
        value = match["value"]
        options.append((match["text"] or value, value))
    assert options == [("Any", "any"), ("acme", "acme")]
    assert var["sort"] == 1  # alphabetical: "Any" sorts before lower-case organization names


@pytest.mark.parametrize("name", SQL_DASHBOARDS)
def test_sql_organization_variable_yields_any_first(name: str) -> None:
    """The SQL organization query offers 'Any' -> any first, then names from usage_organizations."""
    var = variables(load(name))["organization"]
    assert var["type"] == "query"
    query = var["query"]
    assert "'Any' AS __text" in query
    assert "'any' AS __value" in query
    assert "FROM usage_organizations" in query
    assert re.search(r"ORDER BY sort_key\b", query)
    assert var["sort"] == 0  # keep the SQL order, Any first


# --------------------------------------------------------------------------- PromQL


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_promql_parses_and_names_only_exported_metrics(name: str) -> None:
    """Every PromQL expression parses and selects only metrics the service exports (or up)."""
    recorded = {
        rule.record
        for group in recording.groups(Settings())
        for rule in group.rules
        if isinstance(rule, rules.Recording)
    }
    allowed = set(exported_sample_names()) | {"up"} | recorded
    exprs = promql_expressions(load(name))
    assert exprs
    for expr in exprs:
        parsed = promql_parser.parse(substitute(expr))
        names = selector_names(parsed)
        assert names, expr
        assert names <= allowed, f"{sorted(names - allowed)} not exported: {expr}"


def rate_ranges(expr: str) -> list[timedelta]:
    """The range of every rate(), increase() and irate() in ``expr`` after substitution."""
    ranges: list[timedelta] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.Call) and node.func.name in RATE_FUNCTIONS:
            ranges.extend(a.range for a in node.args if isinstance(a, promql_parser.MatrixSelector))

    promql_parser.walk(promql_parser.parse(substitute(expr)), visit)
    return ranges


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_rates_use_rate_interval(name: str) -> None:
    """rate()/increase()/irate() use $__rate_interval, and no range is hard-coded."""
    exprs = promql_expressions(load(name))
    calls = 0
    for expr in exprs:
        assert set(re.findall(r"\[([^\]]*)\]", expr)) <= {"$__rate_interval", "$__range"}, expr
        ranges = rate_ranges(expr)
        assert all(r == RATE_INTERVAL for r in ranges), expr
        calls += len(ranges)
    assert calls > 0


def summed_active_users(expr: str) -> bool:
    """Whether ``expr`` sums usage_active_users (sum or sum_over_time above its selector)."""
    found = False

    def visit(node: promql_parser.Expr) -> None:
        nonlocal found
        is_sum = (isinstance(node, promql_parser.AggregateExpr) and str(node.op) == "sum") or (
            isinstance(node, promql_parser.Call) and node.func.name == "sum_over_time"
        )
        if is_sum and any("usage_active_users" in n for n in selector_names(node)):
            found = True

    promql_parser.walk(promql_parser.parse(substitute(expr)), visit)
    return found


def test_sum_detector_flags_a_sum_over_active_users() -> None:
    """The detector catches sums hidden under other aggregations and leaves max alone."""
    assert summed_active_users('sum(max by (organization) (usage_active_users{window="1d"}))')
    assert summed_active_users("sum_over_time(usage_active_users[$__range])")
    assert not summed_active_users('max by (organization) (usage_active_users{window="1d"})')
    assert not summed_active_users("sum(rate(usage_activity_seconds_total[$__rate_interval]))")


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_active_users_are_never_summed(name: str) -> None:
    """Distinct-user gauges are never summed across organizations, categories or windows."""
    exprs = promql_expressions(load(name))
    assert any("usage_active_users" in e for e in exprs)
    offenders = [e for e in exprs if summed_active_users(e)]
    assert offenders == []


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_main_dashboard_shows_the_metrics_view(name: str) -> None:
    """The main dashboard has DAU (with period mean), WAU, MAU, stickiness, seats and health."""
    panels = {p["title"]: p for p in visual_panels(load(name))}
    assert len(panels) == len(visual_panels(load(name))), "panel titles must be unique"
    exprs = {title: [t["expr"] for t in p["targets"]] for title, p in panels.items()}
    assert 'window="7d"' in exprs["Weekly active users"][0]
    assert 'window="30d"' in exprs["Monthly active users"][0]
    assert panels["Stickiness (DAU / MAU)"]["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert 'window="1d"' in exprs["Daily active users"][0]
    dau = exprs["Daily active users over time"]
    assert len(dau) == 2
    assert "avg_over_time" in dau[1]
    assert "$__range" in dau[1]
    assert "00:00 UTC" in panels["Daily active users over time"]["description"]
    assert panels["Time spent by action (hours per day)"]["fieldConfig"]["defaults"]["unit"] == "h"
    time_spent = exprs["Time spent by action (hours per day)"][0]
    assert recording.HOURS_PER_DAY in time_spent
    assert "sum by (category)" in time_spent
    assert "usage_users" in exprs["Users"][0]
    assert "usage_dormant_users" in exprs["Dormant users"][0]
    health = [e for title in ("Replicas up", "Store refresh", "Data age") for e in exprs[title]]
    assert 'up{job="$job"}' in health[0]
    assert "usage_up" in health[1]
    assert "time() - " in health[2]


# --------------------------------------------------------------------------- SQL


@pytest.mark.parametrize("name", SQL_DASHBOARDS)
def test_sql_reads_only_the_reader_functions_with_filters(name: str) -> None:
    """SQL panels read only the reader functions, given the time range, organization and action."""
    readers = {"usage_activity_per_user", "usage_activity_per_day"}
    dashboard = load(name)
    for panel in visual_panels(dashboard):
        for target in panel["targets"]:
            sql = target["rawSql"]
            tables = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql, flags=re.IGNORECASE))
            assert len(tables) == 1, sql
            assert tables <= readers, sql
            (reader,) = tables
            assert f"{reader}($__timeFrom(), $__timeTo(), '$organization', '$action')" in sql
            assert not re.search(r"\b(INSERT|UPDATE|DELETE|DROP|ALTER|GRANT)\b", sql, re.I)
    formats = {t["format"] for p in visual_panels(dashboard) for t in p["targets"]}
    assert formats == {"table", "time_series"}


# --------------------------------------------------------------------------- provisioning


def provisioned_datasources() -> dict[str, dict[str, Any]]:
    """Provisioned data sources by uid."""
    document = yaml.safe_load(DATASOURCES_YAML.read_text(encoding="utf-8"))
    assert document["apiVersion"] == 1
    return {ds["uid"]: ds for ds in document["datasources"]}


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_prometheus_datasource_defaults_to_the_default_data_source(name: str) -> None:
    """The Prometheus dashboard starts on Grafana's default Prometheus, whatever its uid."""
    current = variables(load(name))["datasource"]["current"]
    assert current["value"] == "default"
    assert current["text"] == "default"


@pytest.mark.parametrize("name", SQL_DASHBOARDS)
def test_sql_datasource_variable_defaults_to_a_provisioned_uid(name: str) -> None:
    """The people dashboard's datasource variable defaults to the provisioned PostgreSQL."""
    variable, plugin = DATASOURCE_VARIABLE[name]
    current = variables(load(name))[variable]["current"]
    datasources = provisioned_datasources()
    assert current["value"] in datasources
    assert datasources[current["value"]]["type"] == plugin
    assert datasources[current["value"]]["name"] == current["text"]


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_every_query_selects_the_job_variable(name: str) -> None:
    """Every Prometheus query is limited to the dashboard's job; the job variable lists the jobs."""
    job = variables(load(name))["job"]
    assert job["type"] == "query"
    assert "usage_up{" in job["query"]
    assert 'job="usage-metrics"' in job["query"]
    for expr in promql_expressions(load(name)):
        if "vector(1)" in expr and "usage_organization_info" not in expr:
            continue
        if expr.startswith("max by (job)"):
            continue
        assert 'job="$job"' in expr, expr


def test_cluster_variable_only_when_configured() -> None:
    """A cluster variable exists only with a cluster label, and then every query selects it."""
    plain = json.loads(dashboards(Settings())["usage-metrics.json"])
    assert "cluster" not in variables(plain)
    clustered = json.loads(dashboards(Settings(cluster_label="k8s_cluster"))["usage-metrics.json"])
    assert variables(clustered)["cluster"]["regex"].startswith('/k8s_cluster="')
    for expr in promql_expressions(clustered):
        if expr.startswith("max by (k8s_cluster)"):
            continue
        assert 'k8s_cluster="$cluster"' in expr, expr


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_dashboard_reads_recorded_series_where_one_exists(name: str) -> None:
    """Gauges and counters the rules record are read from the recorded series, not raw."""
    raw = ["usage_active_users{", "usage_users{", "usage_dormant_users{"]
    raw.append("usage_activity_seconds_total{")
    for expr in promql_expressions(load(name)):
        for selector in raw:
            assert f" {selector}" not in f" {expr}".replace("(", " "), expr


def test_provisioned_datasources_match_the_stack() -> None:
    """Prometheus and PostgreSQL are provisioned as docker-compose serves them, no secret inline."""
    datasources = provisioned_datasources()
    assert sorted(datasources) == ["usage-metrics-postgres", "usage-metrics-prometheus"]
    prometheus = datasources["usage-metrics-prometheus"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    assert prometheus["isDefault"] is True
    assert prometheus["jsonData"]["timeInterval"] == "30s"
    postgres = datasources["usage-metrics-postgres"]
    assert postgres["type"] == "grafana-postgresql-datasource"
    assert postgres["url"] == "postgres:5432"
    assert postgres["user"] == "grafana_reader"
    assert postgres["jsonData"]["database"] == "usage_metrics"
    assert postgres["jsonData"]["sslmode"] == "disable"
    assert postgres["jsonData"]["postgresVersion"] == 1500
    assert postgres["secureJsonData"]["password"] == "$GRAFANA_PG_PASSWORD"
    assert postgres.get("isDefault", False) is False


def scrape_interval_of_service() -> str:
    """The scrape interval prometheus/prometheus.yml uses for the service (job usage-metrics)."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    default = (config.get("global") or {}).get("scrape_interval", "1m")
    for job in config.get("scrape_configs") or []:
        if job.get("job_name") == "usage-metrics":
            return str(job.get("scrape_interval", default))
    pytest.fail("prometheus/prometheus.yml has no job usage-metrics")


def test_prometheus_time_interval_matches_scrape_interval() -> None:
    """Grafana's timeInterval equals the service's scrape interval in prometheus/prometheus.yml."""
    time_interval = provisioned_datasources()["usage-metrics-prometheus"]["jsonData"]
    assert promql_parser.parse_duration(
        time_interval["timeInterval"]
    ) == promql_parser.parse_duration(scrape_interval_of_service())


def test_dashboard_provider_loads_the_mounted_directory() -> None:
    """The file provider reads /var/lib/grafana/dashboards into the folder Usage metrics."""
    document = yaml.safe_load(DASHBOARDS_YAML.read_text(encoding="utf-8"))
    assert document["apiVersion"] == 1
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Usage metrics"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
