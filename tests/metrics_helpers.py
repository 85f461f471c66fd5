"""Reading /metrics the way Prometheus does: parsed samples, never text matching."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import ProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from exporter.metric_families import FAMILIES
from exporter.web.keys import REFRESHER

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def refresh(client: TestClient[Any, Any]) -> None:
    """Run one refresh now and insist that it succeeded."""
    assert await client.app[REFRESHER].refresh(), "the refresh failed"


async def scrape(client: TestClient[Any, Any], **headers: str) -> Samples:
    """GET /metrics and parse every sample."""
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, ``None`` when the series is absent."""
    return samples.get((name, frozenset(labels.items())))


def active(samples: Samples, organization: str, category: str, window: str) -> float | None:
    """``usage_active_users`` for one label set."""
    return value(
        samples, "usage_active_users", organization=organization, category=category, window=window
    )


def exported_sample_names() -> frozenset[str]:
    """Every sample name the service can export: its families and the client's process ones."""
    process = {
        sample.name
        for family in ProcessCollector(registry=None).collect()
        for sample in family.samples
    }
    return frozenset({family.sample_name for family in FAMILIES} | process)
