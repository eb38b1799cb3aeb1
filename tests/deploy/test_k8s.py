"""deploy/k8s: each overlay renders, validates strictly against the Kubernetes API schemas (offline), and keeps
the platform's rules: probes, requests and limits, locked-down containers, the gateway as the only way in."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from campaigns.settings import CampaignsSettings
from capacity.settings import CapacitySettings
from gateway.settings import GatewaySettings
from segmentation.settings import SegmentationSettings
from tests.deploy.tools import COMPONENTS, DEPLOY, run, tool
from tests.test_readme import _env_names

OVERLAYS = ("dev", "prod")
# The oldest Kubernetes the manifests are meant for, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
SETTINGS = (GatewaySettings, SegmentationSettings, CampaignsSettings, CapacitySettings)
KNOWN_ENV = {name for settings in SETTINGS for name in _env_names(settings).values()}


def render(overlay: str) -> str:
    return run(tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)).stdout


@pytest.fixture(scope="module", params=OVERLAYS)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The resources an overlay renders."""
    return [doc for doc in yaml.safe_load_all(render(request.param)) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_validates_strictly(overlay: str, version: str, tmp_path: Path) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(render(overlay))
    run(tool("kubernetes-validate"), "--strict", "--quiet", "--kubernetes-version", version, str(manifest))


def test_every_component_has_a_deployment_service_autoscaler_and_disruption_budget(docs: list[dict[str, Any]]) -> None:
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert set(of_kind(docs, kind)) == set(COMPONENTS), kind
    for name, autoscaler in of_kind(docs, "HorizontalPodAutoscaler").items():
        assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    for name, budget in of_kind(docs, "PodDisruptionBudget").items():
        assert (
            budget["spec"]["selector"]["matchLabels"]
            == of_kind(docs, "Deployment")[name]["spec"]["selector"]["matchLabels"]
        )


def test_every_container_is_locked_down_and_sized(docs: list[dict[str, Any]]) -> None:
    for where, spec in pod_specs(docs).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), where
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), where


def test_deployments_probe_liveness_and_readiness(docs: list[dict[str, Any]]) -> None:
    for name, deployment in of_kind(docs, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["ports"] == [{"name": "http", "containerPort": 8000}], name


def test_the_migration_job_upgrades_every_schema(docs: list[dict[str, Any]]) -> None:
    (container,) = of_kind(docs, "Job")["migrate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "servicekit.migrations", "upgrade"]
    assert container["image"].split(":")[0].endswith("retention/migrate")


def test_settings_and_secrets_are_ones_the_components_read(docs: list[dict[str, Any]]) -> None:
    (config,) = of_kind(docs, "ConfigMap").values()
    assert set(config["data"]) <= KNOWN_ENV, "a ConfigMap key no settings class reads"
    secrets = of_kind(docs, "Secret")  # rendered by dev only; prod expects it to exist
    for where, spec in pod_specs(docs).items():
        for container in spec["containers"]:
            for env in container.get("env", []):
                assert env["name"] in KNOWN_ENV, f"{where}: {env['name']} is read by no component"
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["name"].startswith("retention-secrets"), where
                if secrets and not ref.get("optional"):
                    assert env["name"] in secrets[ref["name"]]["data"], f"{where}: the Secret lacks {env['name']}"
    gateway_urls = {k: v for k, v in config["data"].items() if k.startswith("GATEWAY_") and k.endswith("_URL")}
    assert gateway_urls == {f"GATEWAY_{name.upper()}_URL": f"http://{name}" for name in COMPONENTS[1:]}


def test_every_component_signs_and_verifies_with_the_one_internal_secret(docs: list[dict[str, Any]]) -> None:
    """Without it a service refuses the gateway's calls (servicekit.signing); all four read the same key."""
    for name in COMPONENTS:
        (container,) = of_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        refs = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in container.get("env", [])}
        ref = refs["INTERNAL_SIGNING_SECRET"]  # dev renders the Secret with a hash suffix
        assert (ref["name"].startswith("retention-secrets"), ref["key"]) == (True, "INTERNAL_SIGNING_SECRET"), name


def test_only_the_gateway_is_reachable_from_outside(docs: list[dict[str, Any]]) -> None:
    (ingress,) = of_kind(docs, "Ingress").values()
    backends = {
        path["backend"]["service"]["name"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    assert all(service["spec"].get("type", "ClusterIP") == "ClusterIP" for service in of_kind(docs, "Service").values())


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", "only In is evaluated here"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def allowed_in(
    docs: list[dict[str, Any]], target: dict[str, str], source: dict[str, str] | None, namespace: str
) -> bool:
    """Whether the NetworkPolicies let a pod (labels `source` in this namespace, or any pod of `namespace`)
    in to a pod labelled `target`."""
    policies = [p for p in of_kind(docs, "NetworkPolicy").values() if _selects(p["spec"]["podSelector"], target)]
    assert any(p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"] for p in policies)
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if source is None and "namespaceSelector" in peer:
                    if _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
                        return True
                elif source is not None and "namespaceSelector" not in peer and _selects(peer["podSelector"], source):
                    return True
    return False


def test_services_are_reachable_only_from_the_gateway_each_other_and_prometheus(docs: list[dict[str, Any]]) -> None:
    pods = {name: {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "retention"} for name in COMPONENTS}
    migrate = {"app.kubernetes.io/name": "migrate", "app.kubernetes.io/part-of": "retention"}
    stranger = {"app": "something-else"}
    for name in ("segmentation", "campaigns", "capacity"):
        assert all(allowed_in(docs, pods[name], pods[caller], "") for caller in COMPONENTS if caller != name)
        assert not allowed_in(docs, pods[name], migrate, "")
        assert not allowed_in(docs, pods[name], stranger, "")
        assert not allowed_in(docs, pods[name], None, "ingress-nginx")
        assert allowed_in(docs, pods[name], None, "monitoring")
    assert allowed_in(docs, pods["gateway"], None, "ingress-nginx")
    assert not allowed_in(docs, pods["gateway"], stranger, "")


def test_prod_runs_released_images_from_a_registry() -> None:
    docs = [doc for doc in yaml.safe_load_all(render("prod")) if doc]
    for where, spec in pod_specs(docs).items():
        for container in spec["containers"]:
            name, _, tag = container["image"].rpartition(":")
            assert "." in name.split("/")[0], f"{where}: {container['image']} names no registry"
            assert tag not in ("", "latest", "dev"), f"{where}: {container['image']}"
    assert not of_kind(docs, "Secret"), "production secrets are never rendered from the repository"
