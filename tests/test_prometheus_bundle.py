"""Checks of the Prometheus bundle: configuration, rules, alerts, runbook and promtool tests.

The rules are generated (``python -m bundle``); these checks read the committed output. The
alerts' promtool cases are the hand-written files under prometheus/tests plus the simulated
scenarios of tests/alert_scenarios.py. The promtool and amtool tests skip when the tools are
missing, unless USAGE_METRICS_REQUIRE_PROMTOOL=1 (CI) turns the skip into a failure.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from bundle import Settings, render_all
from bundle.grafana import dashboards
from tests import alert_scenarios
from tests.external import require_tool
from tests.metrics_helpers import exported_sample_names
from tests.promql import read_by_alerts, selector_names

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "prometheus"
PROMETHEUS_YML = BUNDLE / "prometheus.yml"
ALERTMANAGER_YML = BUNDLE / "alertmanager.yml"
RUNBOOK = BUNDLE / "RUNBOOK.md"
RULE_FILES = sorted((BUNDLE / "rules").glob("*.yml"))
TEST_FILES = sorted((BUNDLE / "tests").glob("*.yml"))

RUNBOOK_URL_PREFIX = Settings().runbook_url.removesuffix("{anchor}")
METRICS_DOC = ROOT / "docs" / "metrics.md"
README = ROOT / "README.md"
REQUIRED_ALERTS = {
    "UsageActiveUsersDropped",
    "UsageCategoryCollapsed",
    "UsageNoActivity",
    "UsageMetricsDown",
    "UsageStoreUnreachable",
    "UsageDataStale",
    "UsageSourceStale",
}
# Alerts comparing usage with last week wait at least this long before firing.
USAGE_ALERTS_MIN_FOR = timedelta(minutes=30)
SEVERITIES = {"critical", "warning"}
# level:metric:operations; a series aggregated to no label at all has an empty level.
RECORD_NAME = re.compile(r"^[a-z_]*:[a-z_]+:[a-z0-9_]+$")
TEMPLATE_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
TOOL_TIMEOUT_SECONDS = 600


# --------------------------------------------------------------------------- helpers


def promtool() -> str:
    """Path of promtool (skip or fail when missing)."""
    return require_tool("promtool", "prometheus")


def amtool() -> str:
    """Path of amtool (skip or fail when missing)."""
    return require_tool("amtool", "prometheus-alertmanager")


def run_tool(*args: str) -> None:
    """Run a tool from the repository root and fail with its whole output unless it exits 0."""
    result = subprocess.run(
        args,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def relative(path: Path) -> str:
    """``path`` relative to the repository root, as promtool is given it."""
    return path.relative_to(ROOT).as_posix()


def load_yaml(path: Path) -> Any:
    """The parsed YAML document in ``path``."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def all_rules() -> list[dict[str, Any]]:
    """Every rule (recording and alerting) of every rule file in the bundle."""
    return [
        rule
        for path in RULE_FILES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
    ]


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the bundle."""
    return [rule for rule in all_rules() if "alert" in rule]


def recording_rules() -> list[dict[str, Any]]:
    """Every recording rule of the bundle."""
    return [rule for rule in all_rules() if "record" in rule]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    """Anchors of every heading in the runbook."""
    lines = RUNBOOK.read_text(encoding="utf-8").splitlines()
    return {github_anchor(line.lstrip("#")) for line in lines if re.match(r"^#{1,6}\s", line)}


@functools.cache
def scenario_documents() -> list[tuple[str, dict[str, Any]]]:
    """(scenario name, promtool test document) of every simulated alert scenario."""
    return [
        (scenario.name, alert_scenarios.test_document(scenario, []))
        for scenario in alert_scenarios.scenarios()
    ]


def alert_test_cases() -> list[tuple[str, str, list[Any]]]:
    """(test file or scenario, alertname, exp_alerts) of every alert_rule_test case."""
    documents = [(path.name, load_yaml(path)) for path in TEST_FILES]
    cases = []
    for origin, document in [*documents, *scenario_documents()]:
        for group in document.get("tests") or []:
            for case in group.get("alert_rule_test") or []:
                cases.append((origin, case["alertname"], case.get("exp_alerts") or []))
    return cases


def promql_test_exprs() -> list[str]:
    """The expr of every promql_expr_test case in the promtool tests."""
    return [
        case["expr"]
        for path in TEST_FILES
        for group in load_yaml(path).get("tests") or []
        for case in group.get("promql_expr_test") or []
    ]


ALERT_NAMES = sorted({rule["alert"] for rule in alert_rules()})


def alert_id(rule: dict[str, Any]) -> str:
    """An alerting rule's name and severity: one alert may have a rule per severity."""
    return f"{rule['alert']}/{rule.get('labels', {}).get('severity', '')}"


def alert(name: str) -> dict[str, Any]:
    """The first alerting rule called ``name``."""
    return next(rule for rule in alert_rules() if rule["alert"] == name)


# --------------------------------------------------------------------------- the real tools


def test_prometheus_config_passes_promtool() -> None:
    """promtool check config accepts prometheus.yml and the rule files it names."""
    run_tool(promtool(), "check", "config", relative(PROMETHEUS_YML))


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_passes_promtool(path: Path) -> None:
    """promtool check rules accepts each rule file."""
    run_tool(promtool(), "check", "rules", relative(path))


@pytest.mark.slow
def test_promtool_unit_tests_pass() -> None:
    """promtool test rules passes every unit test file under prometheus/tests."""
    assert TEST_FILES
    run_tool(promtool(), "test", "rules", *(relative(path) for path in TEST_FILES))


def test_alertmanager_config_passes_amtool() -> None:
    """amtool check-config accepts the example alertmanager.yml."""
    run_tool(amtool(), "check-config", relative(ALERTMANAGER_YML))


# --------------------------------------------------------------------------- configuration


def test_prometheus_config_scrapes_the_service_every_30s() -> None:
    """prometheus.yml scrapes usage-metrics:9717 as job usage-metrics every 30 s."""
    config = load_yaml(PROMETHEUS_YML)
    assert config["global"]["scrape_interval"] == "30s"
    assert config["global"]["evaluation_interval"] == "30s"
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "usage-metrics"]
    assert job["scrape_interval"] == "30s"
    targets = [target for static in job["static_configs"] for target in static["targets"]]
    assert targets == ["usage-metrics:9717"]


def test_prometheus_config_loads_every_rule_file_by_relative_path() -> None:
    """rule_files are relative paths naming exactly the bundle's rule files."""
    config = load_yaml(PROMETHEUS_YML)
    rule_files = config["rule_files"]
    assert all(not Path(name).is_absolute() for name in rule_files)
    assert sorted(PROMETHEUS_YML.parent / name for name in rule_files) == RULE_FILES


def test_prometheus_config_sends_alerts_to_alertmanager() -> None:
    """prometheus.yml sends alerts to alertmanager:9093."""
    config = load_yaml(PROMETHEUS_YML)
    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]


def test_alertmanager_routes_each_severity() -> None:
    """alertmanager.yml has a default receiver and a route for each severity the rules use."""
    config = load_yaml(ALERTMANAGER_YML)
    receivers = {receiver["name"] for receiver in config["receivers"]}
    route = config["route"]
    assert route["receiver"] in receivers
    assert {"alertname", "organization"} <= set(route["group_by"])
    routed = {
        matcher.split("=", 1)[1].strip().strip('"')
        for child in route["routes"]
        for matcher in child["matchers"]
        if matcher.replace(" ", "").startswith("severity=")
    }
    assert routed == SEVERITIES
    assert all(child["receiver"] in receivers for child in route["routes"])


# --------------------------------------------------------------------------- alert rules


def test_required_alerts_exist() -> None:
    """The bundle defines every alert docs/metrics.md lists."""
    assert set(ALERT_NAMES) >= REQUIRED_ALERTS
    ids = [alert_id(rule) for rule in alert_rules()]
    assert len(ids) == len(set(ids)), "two rules with the same alert name and severity"


@pytest.mark.parametrize("rule", alert_rules(), ids=alert_id)
def test_alert_has_severity_and_annotations(rule: dict[str, Any]) -> None:
    """Each alerting rule has a known severity and a summary, description and runbook_url."""
    name = rule["alert"]
    severity = rule.get("labels", {}).get("severity", "")
    # A templated severity may choose between known values; the literal words are what it yields.
    words = set(TEMPLATE_ACTION.sub(" ", severity).split())
    assert words, f"{name} has no severity"
    assert words <= SEVERITIES, f"{name}: unknown severity {severity!r}"
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{name} has no {key}"


@pytest.mark.parametrize("rule", alert_rules(), ids=alert_id)
def test_alert_runbook_url_points_at_a_runbook_heading(rule: dict[str, Any]) -> None:
    """Each runbook_url points into RUNBOOK.md at an anchor that one of its headings has."""
    name = rule["alert"]
    url = rule["annotations"]["runbook_url"]
    assert url.startswith(RUNBOOK_URL_PREFIX), url
    anchor = url.removeprefix(RUNBOOK_URL_PREFIX)
    assert anchor in runbook_anchors(), f"{name}: no heading in RUNBOOK.md for #{anchor}"


def test_runbook_thresholds_table_lists_every_alert() -> None:
    """The runbook's thresholds table has a row for every alert."""
    text = RUNBOOK.read_text(encoding="utf-8")
    table = text.split("## Thresholds", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line[:1] == "|"}
    assert set(ALERT_NAMES) <= rows


@pytest.mark.parametrize(
    "name", ["UsageActiveUsersDropped", "UsageCategoryCollapsed", "UsageNoActivity"]
)
def test_usage_alert_waits_at_least_30_minutes(name: str) -> None:
    """Alerts comparing usage with last week wait 30 minutes or more before firing."""
    assert promql_parser.parse_duration(alert(name)["for"]) >= USAGE_ALERTS_MIN_FOR


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_firing_and_quiet_promtool_cases(name: str) -> None:
    """Each alert has a promtool case where it fires and one where it must not."""
    cases = [expected for _path, alertname, expected in alert_test_cases() if alertname == name]
    assert any(cases), f"{name}: no promtool case where it fires"
    assert any(not expected for expected in cases), f"{name}: no promtool case where it is quiet"


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_firing_case_checks_labels_and_annotations(name: str) -> None:
    """Each severity of an alert has a firing promtool case checking its labels and annotations."""
    checked = {
        expected["exp_labels"]["severity"]
        for _path, alertname, alerts in alert_test_cases()
        if alertname == name
        for expected in alerts
        if "severity" in expected.get("exp_labels", {})
        and "runbook_url" in expected.get("exp_annotations", {})
    }
    severities = {
        word
        for rule in alert_rules()
        if rule["alert"] == name
        for word in TEMPLATE_ACTION.sub(" ", rule["labels"]["severity"]).split()
    }
    assert severities <= checked, f"{name}: no firing case checking {sorted(severities - checked)}"


# --------------------------------------------------------------------------- recording rules


@pytest.mark.parametrize("rule", recording_rules(), ids=lambda rule: rule["record"])
def test_recording_rule_name_is_level_metric_operations(rule: dict[str, Any]) -> None:
    """Recording rule names follow level:metric:operations."""
    assert RECORD_NAME.match(rule["record"]), rule["record"]


def test_recording_rules_are_unique_and_unit_tested() -> None:
    """Each recording rule is defined once and checked by a promql_expr_test."""
    names = [rule["record"] for rule in recording_rules()]
    assert names
    assert len(names) == len(set(names)), "duplicate recording rules"
    tested = set().union(*(selector_names(expr) for expr in promql_test_exprs()))
    assert set(names) <= tested, f"not tested: {sorted(set(names) - tested)}"


def test_rules_never_sum_distinct_user_counts() -> None:
    """No rule adds up active-user series (distinct counts) with sum or count."""
    offenders = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            operator = re.match(r"[a-z_]+", str(node))
            inner = selector_names(str(node.expr))
            if (
                operator is not None
                and operator.group() in {"sum", "count"}
                and any("active_users" in name for name in inner)
            ):
                offenders.append(str(node))

    for rule in all_rules():
        promql_parser.walk(promql_parser.parse(rule["expr"]), visit)
    assert not offenders, offenders


def test_rules_select_only_metrics_the_service_exports() -> None:
    """Every metric the rules select is exported by the service (or is up or a recorded name)."""
    recorded = {rule["record"] for rule in recording_rules()}
    selected = set().union(*(selector_names(rule["expr"]) for rule in all_rules()))
    external = selected - recorded - {"up"}
    assert external
    missing = external - set(exported_sample_names())
    assert not missing, f"rules select metrics the service does not export: {sorted(missing)}"


# --------------------------------------------------------------------------- generated bundle


def test_generator_check_passes_on_the_committed_files() -> None:
    """``python -m bundle --check`` exits 0: the committed bundle is the defaults' output."""
    result = subprocess.run(
        [sys.executable, "-m", "bundle", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_generator_check_names_a_differing_file(tmp_path: Path) -> None:
    """``--check`` against a changed copy exits 1 and names the file that differs."""
    settings = tmp_path / "settings.json"
    settings.write_text('{"drop_ratio": 0.4}', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bundle", "--check", "--settings", str(settings)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 1
    assert "prometheus/rules/usage-metrics.alerts.yml" in result.stderr
    assert "prometheus/RUNBOOK.md" in result.stderr
    assert "usage-metrics.rules.yml" not in result.stderr


def test_generator_writes_an_operators_bundle(tmp_path: Path) -> None:
    """``--settings`` (TOML) and ``--out`` write a bundle with the operator's job and links."""
    settings = tmp_path / "mine.toml"
    settings.write_text(
        'job_selector = \'job="usage-metrics-svc", namespace="tools"\'\n'
        'runbook_url = "https://wiki.example.com/usage#{anchor}"\n'
        'holidays = ["2026-12-25"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, "-m", "bundle", "--settings", str(settings), "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=TOOL_TIMEOUT_SECONDS,
    )
    alerts_text = (out / "prometheus/rules/usage-metrics.alerts.yml").read_text(encoding="utf-8")
    rules_text = (out / "prometheus/rules/usage-metrics.rules.yml").read_text(encoding="utf-8")
    assert 'up{job="usage-metrics-svc", namespace="tools"}' in alerts_text
    assert "https://wiki.example.com/usage#usagemetricsdown" in alerts_text
    assert "day_of_month() == 25" in rules_text
    assert 'job="usage-metrics"' not in alerts_text + rules_text
    run_tool(promtool(), "check", "rules", str(out / "prometheus/rules/usage-metrics.rules.yml"))


@pytest.mark.parametrize("suffix", [".json", ".toml", ".yaml"])
def test_settings_load_from_each_format(tmp_path: Path, suffix: str) -> None:
    """Settings files in JSON, TOML and YAML override the named fields only."""
    texts = {
        ".json": '{"cluster_label": "cluster", "holidays": ["2026-01-01"]}',
        ".toml": 'cluster_label = "cluster"\nholidays = ["2026-01-01"]\n',
        ".yaml": "cluster_label: cluster\nholidays: ['2026-01-01']\n",
    }
    path = tmp_path / f"settings{suffix}"
    path.write_text(texts[suffix], encoding="utf-8")
    assert Settings.load(path) == Settings(cluster_label="cluster", holidays=("2026-01-01",))


@pytest.mark.parametrize(
    "overrides",
    [{"drop_ratio": 1.5}, {"drop_for": "30 minutes"}, {"holidays": ["25.12.2026"]}, {"nope": 1}],
)
def test_settings_reject_what_would_generate_broken_rules(overrides: dict[str, Any]) -> None:
    """Bad ratios, durations, dates and unknown names are refused."""
    with pytest.raises(ValueError, match=r"."):
        Settings.from_mapping(overrides)


def test_cluster_label_reaches_rules_and_dashboards(tmp_path: Path) -> None:
    """A configured cluster label joins replica matching, target-down alerts and dashboards."""
    files = render_all(Settings(cluster_label="cluster"), ROOT)
    assert "and on (cluster, job, instance)" in files["prometheus/rules/usage-metrics.rules.yml"]
    assert "count by (cluster) (up{" in files["prometheus/rules/usage-metrics.alerts.yml"]
    for name in ("usage-metrics.rules.yml", "usage-metrics.alerts.yml"):
        path = tmp_path / name
        path.write_text(files[f"prometheus/rules/{name}"], encoding="utf-8")
        run_tool(promtool(), "check", "rules", str(path))
    main = dashboards(Settings(cluster_label="cluster"))["usage-metrics.json"]
    assert '"name": "cluster"' in main
    assert 'cluster=\\"$cluster\\"' in main


def test_every_recording_rule_is_read_by_an_alert_or_a_dashboard() -> None:
    """Each recorded name is read by an alert, by a rule an alert reads, or by a panel."""
    panels = "".join(dashboards(Settings()).values())
    used = read_by_alerts(all_rules())
    unused = {
        rule["record"]
        for rule in recording_rules()
        if rule["record"] not in used and rule["record"] not in panels
    }
    assert not unused, f"recording rules nobody reads: {sorted(unused)}"


def test_raw_selectors_carry_the_job_selector() -> None:
    """Every selector of an exported metric (not a recorded name) in the rules names the job."""
    offenders = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector) and ":" not in (node.name or ""):
            jobs = [
                (m.name, m.op, m.value)
                for m in node.matchers.matchers
                if m.name == "job" and m.op == promql_parser.MatchOp.Equal
            ]
            if not jobs or jobs[0][2] != "usage-metrics":
                offenders.append(str(node))

    for rule in all_rules():
        promql_parser.walk(promql_parser.parse(rule["expr"]), visit)
    assert not offenders, offenders


def test_stale_replicas_are_left_out_before_every_max_without_instance() -> None:
    """Each ``max without (instance, pod)`` keeps only replicas with a recent refresh."""
    deduplicating = [r["expr"] for r in all_rules() if "max without (instance, pod)" in r["expr"]]
    assert deduplicating
    for expr in deduplicating:
        count = expr.count("max without (instance, pod)")
        assert expr.count("and on (job, instance)") == count, expr
        assert expr.count("time() - usage_last_refresh_timestamp_seconds") == count, expr


def test_documented_alerts_table_and_promql_agree_with_the_rules() -> None:
    """docs/metrics.md lists every alert with its severities; no PromQL shown uses the old dedup."""
    text = METRICS_DOC.read_text(encoding="utf-8")
    assert "max without (instance)" not in text + README.read_text(encoding="utf-8")
    for name in ALERT_NAMES:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}`")), "")
        assert row, f"docs/metrics.md has no row for {name}"
        severities = {r["labels"]["severity"] for r in alert_rules() if r["alert"] == name}
        for severity in severities:
            assert severity in row, f"docs/metrics.md's row of {name} lacks {severity}"
    for record in {rule["record"] for rule in recording_rules()}:
        if record in text:
            assert re.search(rf"{re.escape(record)}\b", text)
