"""PromQL of the dashboards: recorded series where the bundle records one, raw ones otherwise.

Every query selects the dashboard's job (and cluster, when configured) variable. Distinct-user
gauges are only combined with ``max``: replicas export the same values, and distinct counts of
organizations, actions or windows do not add up.
"""

from __future__ import annotations

from dataclasses import dataclass

from bundle.grafana.constants import ORG
from bundle.recording import ACTIVE, HOURS_PER_DAY
from bundle.settings import Settings


def selector(metric: str, *matchers: str) -> str:
    """``metric{m1, m2}`` (or the bare metric name without matchers)."""
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def max_by(labels: str, expr: str) -> str:
    """Collapse replicas: every replica exports the same value, so ``max`` is the value."""
    return f"max by ({labels}) ({expr})"


@dataclass(frozen=True)
class Queries:
    """Query builders bound to the bundle's settings."""

    settings: Settings

    @property
    def target(self) -> list[str]:
        """Matchers of the dashboard's job (and cluster) variables."""
        cluster = [f'{label}="$cluster"' for label in self.settings.cluster]
        return [*cluster, 'job="$job"']

    def series(self, metric: str, *matchers: str) -> str:
        """``metric`` of the selected job (and cluster)."""
        return selector(metric, *self.target, *matchers)

    def active_users(self, window: str, *matchers: str, by: str = "organization, category") -> str:
        """Distinct users active in ``window`` (the recorded, replica-deduplicated series)."""
        return max_by(by, self.series(ACTIVE, *matchers, f'window="{window}"'))

    def rate(self, metric: str, *matchers: str) -> str:
        """Per-second rate over Grafana's ``$__rate_interval`` (at least four scrapes)."""
        return f"rate({self.series(metric, *matchers)}[$__rate_interval])"

    def time_spent_hours_per_day(self) -> str:
        """Hours per day spent in each action, for one organization or for all of them.

        The activity counters carry no ``organization="any"`` series. For one organization the
        first branch selects it; for "Any" that branch is empty and the second sums the
        organizations (time adds up across organizations, unlike distinct users). The ``unless``
        keeps the second branch out whenever a real organization is selected.
        """
        per_org = self.series(HOURS_PER_DAY, ORG)
        every_org = self.series(HOURS_PER_DAY)
        info = self.series("usage_organization_info", ORG)
        return (
            "(\n"
            f"  sum by (category) ({per_org})\n"
            "  or\n"
            f"  (\n    sum by (category) ({every_org})\n"
            f"    unless on () {info}\n  )\n"
            ")"
        )
