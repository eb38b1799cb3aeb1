"""deploy/compose and deploy/docker: the compose file validates, starts the apps only after the migrations, runs
every component from its own locked-down image, and the images install what `make` installs."""

import importlib
import re
from typing import Any

import pytest
import yaml

from tests.deploy.test_k8s import KNOWN_ENV
from tests.deploy.tools import COMPONENTS, DEPLOY, ROOT, compose_command, run

COMPOSE = DEPLOY / "compose" / "compose.yaml"
IMAGES = (*COMPONENTS, "migrate")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def dockerfile(name: str) -> str:
    return (DEPLOY / "docker" / f"{name}.Dockerfile").read_text()


def test_the_compose_file_validates() -> None:
    run(*compose_command(), "--file", str(COMPOSE), "config", "--quiet")


def test_apps_start_after_the_migrations_from_their_own_images(services: dict[str, Any]) -> None:
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in IMAGES:
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT
        assert build["dockerfile"] == f"deploy/docker/{name}.Dockerfile"
    for name in COMPONENTS:
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])


def test_containers_are_locked_down_and_only_the_gateway_is_published(services: dict[str, Any]) -> None:
    for name in IMAGES:
        service = services[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert not service["user"].startswith("0"), name
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"gateway", "prometheus", "grafana"}
    assert all(port.startswith("127.0.0.1:") for name in published for port in services[name]["ports"])


def test_settings_are_ones_the_components_read(services: dict[str, Any]) -> None:
    for name in IMAGES:
        assert set(services[name]["environment"]) <= KNOWN_ENV, name
    upstreams = {
        k: v for k, v in services["gateway"]["environment"].items() if k.endswith("_URL") and k != "DATABASE_URL"
    }
    assert upstreams == {f"GATEWAY_{name.upper()}_URL": f"http://{name}:8000" for name in COMPONENTS[1:]}


def test_every_component_signs_and_verifies_with_the_one_internal_secret(services: dict[str, Any]) -> None:
    secrets = {services[name]["environment"].get("INTERNAL_SIGNING_SECRET") for name in COMPONENTS}
    assert secrets == {"${INTERNAL_SIGNING_SECRET:-development-only-internal-signing-secret}"}


def test_prometheus_scrapes_every_component_with_the_rules_of_deploy_prometheus(services: dict[str, Any]) -> None:
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in services["prometheus"]["volumes"]}
    assert mounts["../prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["../prometheus/rules"] == "/etc/prometheus/rules"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {name: [f"{name}:8000"] for name in COMPONENTS}


@pytest.mark.parametrize("name", IMAGES)
def test_the_image_installs_like_make_and_runs_unprivileged(name: str) -> None:
    text = dockerfile(name)
    assert re.search(r"^FROM python:3\.11-slim\S*$", text, re.M)
    install = " ".join(re.findall(r"^RUN pip install (.+?)(?:\\\n|\n)", text, re.M | re.S))
    assert "-c requirements.lock" in install
    assert "-e libs/servicekit" in install
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / source).exists(), f"{name}.Dockerfile copies {source}, which does not exist"
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user, "the image runs as root"
    assert user[-1].split(":")[0] not in ("0", "root")


@pytest.mark.parametrize("name", COMPONENTS)
def test_the_image_serves_the_component_on_the_port_the_deployments_use(name: str) -> None:
    text = dockerfile(name)
    command = yaml.safe_load(re.search(r"^CMD (.+)$", text, re.M).group(1))
    assert command[:3] == ["uvicorn", "--factory", f"{name}.main:create_app"]
    assert command[command.index("--port") + 1] == "8000"
    assert "EXPOSE 8000" in text
    module, _, factory = command[2].partition(":")
    assert callable(getattr(importlib.import_module(module), factory))
    source = "gateway" if name == "gateway" else f"services/{name}"
    assert f"-e {source}" in text
    assert f"COPY {source} {source}" in text


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignored[0] == "**", "everything is left out but what the images copy"
    copied = {source for name in IMAGES for source in re.findall(r"^COPY (\S+) ", dockerfile(name), re.M)}
    kept = [line[1:] for line in ignored if line.startswith("!")]
    assert all(any(source == k or source.startswith(f"{k}/") for k in kept) for source in copied), (copied, kept)
