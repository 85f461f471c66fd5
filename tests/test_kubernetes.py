"""The Kubernetes base and its examples: rendered offline by kubectl, checked against real schemas.

Every kustomization under deploy/kubernetes renders with ``kubectl kustomize``; core objects are
validated strictly against the Kubernetes 1.32 schemas (the kubernetes-validate package), the
Prometheus Operator objects against the operator's schemas (tests/kubernetes, an npm package run
by node). The checks below are the mistakes that render fine and fail in a cluster.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aiohttp.test_utils import TestClient

from bundle import Settings, render_all
from exporter.cli.serve import SHUTDOWN_GRACE_SECONDS
from tests.external import require_tool

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = [BASE, BASE / "examples" / "coder", BASE / "examples" / "kube-prometheus-stack"]
CRD_CHECKS = ROOT / "tests" / "kubernetes"
KUBERNETES_VERSION = "1.32.0"
OPERATOR_GROUP = "monitoring.coreos.com/v1"
JOB_SELECTOR = re.compile(r'\bup\{job="([^"]+)"')

Object = dict[str, Any]


def render(path: Path) -> list[Object]:
    """The objects ``kubectl kustomize`` renders from the kustomization at ``path``."""
    kubectl = require_tool("kubectl", "kubernetes-client")
    done = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Object]]:
    """Each kustomization's rendered objects, by its path relative to deploy/kubernetes."""
    return {str(path.relative_to(BASE)): render(path) for path in KUSTOMIZATIONS}


def only(objects: list[Object], kind: str) -> Object:
    """The single object of ``kind``."""
    found = [item for item in objects if item["kind"] == kind]
    assert len(found) == 1, f"{len(found)} objects of kind {kind}"
    return found[0]


def containers(deployment: Object) -> Iterator[Object]:
    """Every container and init container of a Deployment's pods."""
    pod = deployment["spec"]["template"]["spec"]
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A matchLabels selector selects ``labels``."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def validate_operator_objects(objects: list[Object]) -> subprocess.CompletedProcess[str]:
    """Run the Prometheus Operator schema check (node) over ``objects``."""
    node = require_tool("node", "nodejs")
    if not (CRD_CHECKS / "node_modules").is_dir():
        reason = f"run: npm ci --prefix {CRD_CHECKS.relative_to(ROOT)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the operator schemas are not installed: {reason}")
        pytest.skip(reason)
    return subprocess.run(
        [node, "validate-crds.mjs"],
        cwd=CRD_CHECKS,
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=False,
    )


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("name", ["."] + [str(p.relative_to(BASE)) for p in KUSTOMIZATIONS[1:]])
def test_core_objects_match_the_kubernetes_schemas(
    rendered: dict[str, list[Object]], name: str
) -> None:
    """Every core object validates strictly (no unknown field) against Kubernetes 1.32."""
    core = [item for item in rendered[name] if item["apiVersion"] != OPERATOR_GROUP]
    assert {item["kind"] for item in core} >= {
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    }
    for item in core:
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_schemas_catch_a_misspelt_field() -> None:
    """The strict schema check refuses a probe with a typo, so it is a real check."""
    deployment = yaml.safe_load((BASE / "base" / "deployment.yaml").read_text(encoding="utf-8"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", ["."] + [str(p.relative_to(BASE)) for p in KUSTOMIZATIONS[1:]])
def test_operator_objects_match_the_operator_schemas(
    rendered: dict[str, list[Object]], name: str
) -> None:
    """ServiceMonitor and PrometheusRule validate against the Prometheus Operator's schemas."""
    objects = [item for item in rendered[name] if item["apiVersion"] == OPERATOR_GROUP]
    assert sorted(item["kind"] for item in objects) == ["PrometheusRule", "ServiceMonitor"]
    done = validate_operator_objects(objects)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_operator_schemas_catch_a_wrong_type(rendered: dict[str, list[Object]]) -> None:
    """The operator schema check refuses a ServiceMonitor whose port is a number."""
    monitor = copy.deepcopy(only(rendered["."], "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["port"] = 9717
    done = validate_operator_objects([monitor])
    assert done.returncode == 1
    assert "ServiceMonitor/usage-metrics" in done.stdout


# --------------------------------------------------------------------------- wiring


def test_service_monitor_selects_the_service_and_its_port(
    rendered: dict[str, list[Object]],
) -> None:
    """The ServiceMonitor's selector matches the Service's labels and names one of its ports."""
    objects = rendered["."]
    monitor, service = only(objects, "ServiceMonitor"), only(objects, "Service")
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    ports = {port["name"] for port in service["spec"]["ports"]}
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "metrics" in ports


def test_service_and_budget_select_the_pods(rendered: dict[str, list[Object]]) -> None:
    """The Service and the PodDisruptionBudget select the Deployment's pods and port."""
    objects = rendered["."]
    deployment = only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = only(objects, "Service")
    assert matches(service["spec"]["selector"], pod_labels)
    assert matches(
        only(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels
    )
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    named = {
        port["name"] for port in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= named


def test_alerts_select_the_job_the_service_monitor_produces(
    rendered: dict[str, list[Object]],
) -> None:
    """Under the operator the job is the Service's name; the alerts' `up{job=...}` uses it."""
    objects = rendered["."]
    monitor = only(objects, "ServiceMonitor")
    assert "jobLabel" not in monitor["spec"]
    job = only(objects, "Service")["metadata"]["name"]
    expressions = [
        rule["expr"]
        for group in only(objects, "PrometheusRule")["spec"]["groups"]
        for rule in group["rules"]
        if "up{" in rule["expr"]
    ]
    selected = {name for expr in expressions for name in JOB_SELECTOR.findall(expr)}
    assert selected == {job}


def test_settings_and_secrets_come_by_reference(rendered: dict[str, list[Object]]) -> None:
    """Settings come from the ConfigMap, credentials from the Secret; no Secret is rendered."""
    objects = rendered["."]
    assert not [item for item in objects if item["kind"] == "Secret"]
    settings = only(
        [item for item in objects if "grafana_dashboard" not in item["metadata"]["labels"]],
        "ConfigMap",
    )
    for container in containers(only(objects, "Deployment")):
        assert {"configMapRef": {"name": settings["metadata"]["name"]}} in container["envFrom"]
        variables = {item["name"]: item for item in container["env"]}
        url = variables["USAGE_METRICS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert url == {"name": "usage-metrics", "key": "database-url"}
    server = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert server["args"] == ["serve", "--no-migrate"]
    init = only(objects, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert init["args"] == ["migrate"]


def test_pods_run_as_the_images_user_locked_down(rendered: dict[str, list[Object]]) -> None:
    """Non-root as the Dockerfile's USER, read-only root, no capabilities, no API token."""
    user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert user is not None
    pod = only(rendered["."], "Deployment")["spec"]["template"]["spec"]
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (str(security["runAsUser"]), str(security["runAsGroup"])) == user.groups()
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    account = only(rendered["."], "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    scratch = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    for container in containers(only(rendered["."], "Deployment")):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {mount["name"] for mount in container["volumeMounts"]} <= scratch
        assert {"requests", "limits"} <= set(container["resources"])


async def test_probes_hit_real_routes_of_the_images_port(
    rendered: dict[str, list[Object]], client: TestClient[Any, Any]
) -> None:
    """Probes use the port the image listens on, and their paths answer 200 on the service."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    exposed = re.search(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE)
    assert exposed is not None
    objects = rendered["."]
    settings = only(
        [item for item in objects if "grafana_dashboard" not in item["metadata"]["labels"]],
        "ConfigMap",
    )
    assert settings["data"]["USAGE_METRICS_LISTEN"].rsplit(":", 1)[1] == exposed.group(1)
    server = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in server["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        action = server[probe]["httpGet"]
        assert ports[action["port"]] == int(exposed.group(1))
        response = await client.get(action["path"])
        assert response.status == 200, (probe, action["path"])
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_a_stopping_pod_has_time_to_finish_requests(rendered: dict[str, list[Object]]) -> None:
    """The grace period covers the preStop pause plus the service's own shutdown grace."""
    pod = only(rendered["."], "Deployment")["spec"]["template"]["spec"]
    pause = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pause + SHUTDOWN_GRACE_SECONDS


# --------------------------------------------------------------------------- the bundle


def test_generated_files_are_the_bundles_output() -> None:
    """The bundle generator makes the Kubernetes files, and the committed ones are its output."""
    generated = {
        path: content
        for path, content in render_all(Settings(), ROOT).items()
        if path.startswith("deploy/kubernetes/")
    }
    assert set(generated) >= {
        "deploy/kubernetes/base/prometheusrule.yaml",
        "deploy/kubernetes/base/dashboards/kustomization.yaml",
    }
    for path, content in generated.items():
        assert (ROOT / path).read_text(encoding="utf-8") == content, f"{path} is stale"


def test_prometheus_rule_holds_exactly_the_rule_files(rendered: dict[str, list[Object]]) -> None:
    """The rendered PrometheusRule's groups are the rule files' groups, in order, unchanged."""
    groups = [
        group
        for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    ]
    assert groups
    for objects in rendered.values():
        assert only(objects, "PrometheusRule")["spec"]["groups"] == groups


def test_rules_from_the_prometheus_rule_pass_promtool(
    rendered: dict[str, list[Object]], tmp_path: Path
) -> None:
    """promtool check rules accepts the rules as the cluster will get them."""
    promtool = require_tool("promtool")
    rules = tmp_path / "rules.yml"
    groups = only(rendered["."], "PrometheusRule")["spec"]["groups"]
    rules.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    done = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_config_maps_hold_exactly_the_dashboards(
    rendered: dict[str, list[Object]],
) -> None:
    """One ConfigMap per dashboard, labelled for Grafana's sidecar, holding the same JSON."""
    held = {
        name: json.loads(text)
        for item in rendered["."]
        if item["kind"] == "ConfigMap" and item["metadata"]["labels"].get("grafana_dashboard")
        for name, text in item["data"].items()
    }
    files = {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in (ROOT / "grafana" / "dashboards").glob("*.json")
    }
    assert files
    assert held == files
    for item in rendered["."]:
        if item["metadata"]["name"].startswith("dashboard-"):
            assert item["metadata"]["labels"]["grafana_dashboard"] == "1"


# --------------------------------------------------------------------------- the examples


def test_coder_example_reads_the_coder_url_from_the_secret(
    rendered: dict[str, list[Object]],
) -> None:
    """The Coder overlay gives the server the Coder database URL by Secret reference."""
    server = only(rendered["examples/coder"], "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    variables = {item["name"]: item for item in server["env"]}
    reference = variables["USAGE_METRICS_CODER_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "usage-metrics", "key": "coder-database-url"}


def test_kube_prometheus_stack_example_labels_monitor_and_rule(
    rendered: dict[str, list[Object]],
) -> None:
    """kube-prometheus-stack selects ServiceMonitors and PrometheusRules by `release`."""
    objects = rendered["examples/kube-prometheus-stack"]
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert only(objects, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "release" not in only(rendered["."], "ServiceMonitor")["metadata"]["labels"]
