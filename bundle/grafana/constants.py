"""Names and identifiers shared by the dashboards."""

from __future__ import annotations

from typing import Final

from exporter.model import Category

SCHEMA_VERSION = 39
GRID_WIDTH = 24
TAGS = ["usage-metrics", "coder"]

PROMETHEUS_TYPE = "prometheus"
PROMETHEUS_UID = "usage-metrics-prometheus"
PROMETHEUS_NAME = "Usage metrics Prometheus"
POSTGRES_TYPE = "grafana-postgresql-datasource"
POSTGRES_UID = "usage-metrics-postgres"
POSTGRES_NAME = "Usage metrics PostgreSQL"

PROM = {"type": PROMETHEUS_TYPE, "uid": "${datasource}"}
PG = {"type": POSTGRES_TYPE, "uid": "${pg_datasource}"}

# (UI name, colour) of each action of the Action filter, in the order of the Metrics view.
_ACTION_LOOK: Final = {
    Category.ANY: ("Any", "text"),
    Category.IDE: ("IDE", "blue"),
    Category.LOGIN: ("Login", "green"),
    Category.APP: ("App", "purple"),
    Category.TUNNEL: ("Tunnel", "orange"),
    Category.WEB_TERMINAL: ("Web Terminal", "yellow"),
}
# (UI name, token, colour) of the Action filter: every exporter category, none invented here.
ACTIONS: Final = tuple(
    (_ACTION_LOOK[category][0], category.token, _ACTION_LOOK[category][1]) for category in Category
)

ORG = 'organization="$organization"'
ACTION = 'category="$action"'

DAY_BOUNDARY_NOTE = (
    "The 1d window rolls: each point counts the distinct users active in the 24 hours before it "
    "(up to one refresh interval earlier), so the point at 00:00 UTC is the previous calendar "
    "day's daily active users (UTC), which is what the platform's Metrics view draws per day."
)
