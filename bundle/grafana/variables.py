"""Dashboard variables and the dashboard envelope."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bundle.grafana.blocks import Grid, Json
from bundle.grafana.constants import ACTIONS, PROM, SCHEMA_VERSION, TAGS
from bundle.settings import Settings


def datasource_variable(name: str, label: str, plugin: str, uid: str, text: str) -> Json:
    """Pick the data source; ``uid`` "default" is Grafana's default data source of the type."""
    return {
        "current": {"selected": False, "text": text, "value": uid},
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": plugin,
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


ANY_CURRENT = {"selected": True, "text": "Any", "value": "any"}


def action_variable() -> Json:
    """The Action filter: the UI name is shown, the category token is the value."""
    return {
        "current": ANY_CURRENT,
        "description": "Only count activity of this action; Any is the distinct union.",
        "hide": 0,
        "includeAll": False,
        "label": "Action",
        "multi": False,
        "name": "action",
        "options": [
            {"selected": value == "any", "text": name, "value": value}
            for name, value, _colour in ACTIONS
        ],
        "query": ", ".join(f"{name} : {token}" for name, token, _colour in ACTIONS),
        "skipUrlSync": False,
        "type": "custom",
    }


def organization_variable(
    datasource: Json, query: str, *, regex: str = "", sort: int = 0, description: str
) -> Json:
    """The Organization filter: "Any" (value ``any``) and each organization by name."""
    return {
        "current": ANY_CURRENT,
        "datasource": datasource,
        "definition": query,
        "description": description,
        "hide": 0,
        "includeAll": False,
        "label": "Organization",
        "multi": False,
        "name": "organization",
        "options": [],
        "query": query,
        "refresh": 1,
        "regex": regex,
        "skipUrlSync": False,
        "sort": sort,
        "type": "query",
    }


# Grafana 11 has no static options on query variables, so the Prometheus query itself yields the
# "Any" option: a constant series {organization="any", title="Any"} next to one series per
# organization. The regex takes the value from `organization` and the text from `title` when
# present (else the value). Sort 1 (alphabetical) puts "Any" before lower-case names.
def prometheus_organization_query(settings: Settings) -> str:
    """The organizations of the selected job, after a constant "Any" series."""
    matchers = ", ".join([*(f'{label}="$cluster"' for label in settings.cluster), 'job="$job"'])
    return (
        "query_result("
        'label_replace(label_replace(vector(1), "organization", "any", "", ""), '
        '"title", "Any", "", "")'
        f" or max by (organization) (usage_organization_info{{{matchers}}}))"
    )


def _label_variable(name: str, label: str, query: str, description: str, *, key: str) -> Json:
    """A variable listing the values of label ``key`` in the service's ``usage_up`` series."""
    return {
        "current": {},
        "datasource": PROM,
        "definition": query,
        "description": description,
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 1,
        "regex": f'/{key}="(?<value>[^"]+)"/',
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def job_variable(settings: Settings) -> Json:
    """The scrape job of usage-metrics (under the Prometheus Operator: the Service's name)."""
    cluster = [f'{label}="$cluster"' for label in settings.cluster]
    matchers = ", ".join([settings.job_selector, *cluster])
    variable = _label_variable(
        "job",
        "Job",
        f"query_result(max by (job) (usage_up{{{matchers}}}))",
        "The Prometheus job that scrapes usage-metrics.",
        key="job",
    )
    default = re.search(r'\bjob="([^"]*)"', settings.job_selector)
    if default:
        variable["current"] = {"selected": False, "text": default[1], "value": default[1]}
    return variable


def cluster_variable(settings: Settings) -> list[Json]:
    """The cluster variable, when the settings name a cluster label (else none)."""
    return [
        _label_variable(
            "cluster",
            "Cluster",
            f"query_result(max by ({label}) (usage_up{{{settings.job_selector}}}))",
            "The cluster whose usage-metrics to show.",
            key=label,
        )
        for label in settings.cluster
    ]


PROM_ORGANIZATION_REGEX = '/organization="(?<value>[^"]+)"(?:,title="(?<text>[^"]+)")?/'

PG_ORGANIZATION_QUERY = (
    "SELECT __text, __value FROM ("
    "SELECT 0 AS sort_key, 'Any' AS __text, 'any' AS __value "
    "UNION ALL SELECT 1, name, name FROM usage_organizations"
    ") AS choices ORDER BY sort_key, __value"
)


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    variables: Iterable[Json],
    grid: Grid,
) -> Json:
    """The dashboard envelope shared by both dashboards."""
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["usage-metrics"],
                "targetBlank": False,
                "title": "Usage metrics",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ],
        "liveNow": False,
        "panels": grid.panels,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": list(TAGS),
        "templating": {"list": list(variables)},
        "time": {"from": "now-30d", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
