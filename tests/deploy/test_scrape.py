"""The whole stack as real processes, scraped by a real Prometheus with deploy/prometheus's configuration and
rules: every /metrics passes promtool's lint, the expected series arrive, the rules evaluate without error,
and every query of the Grafana dashboard runs."""

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from gateway.keys.schemas import Scope
from servicekit.testing import ServerProcess, free_port, truncate_all
from tests.deploy.tools import COMPONENTS, DEPLOY, run, tool
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

ORDERS = """\
external_id,customer_external_id,ordered_at,net_amount,currency
O-1,K-1,2026-01-05T08:00:00Z,100.00,EUR
O-2,K-1,2026-03-05T08:00:00Z,250.00,EUR
O-3,K-2,2026-02-05T08:00:00Z,80.00,EUR
O-4,K-2,not a time,80.00,EUR
"""


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[Stack]:
    """tests/e2e's stack, with business metrics that are never cached."""
    asyncio.run(truncate_all(database_url))
    # Business metrics read afresh on every scrape, so that the test sees what it just did.
    env = {
        "DATABASE_URL": database_url,
        "SEGMENTATION_METRICS_CACHE_SECONDS": "0",
        "CAMPAIGNS_METRICS_CACHE_SECONDS": "0",
        "CAPACITY_METRICS_CACHE_SECONDS": "0",
    }
    services = {name: ServerProcess(f"{name}.main:create_app", env, name=name) for name in COMPONENTS[1:]}
    gateway_env = {**env, **{f"GATEWAY_{name.upper()}_URL": process.url for name, process in services.items()}}
    gateway = ServerProcess("gateway.main:create_app", gateway_env, name="gateway")
    started: list[ServerProcess] = []
    try:
        for process in [*services.values(), gateway]:
            started.append(process.start())
        yield Stack(gateway, services, database_url)
    finally:
        for process in started:
            process.stop()


@pytest.fixture(scope="module")
def traffic(stack: Stack) -> None:
    """What an ERP does in a day: customers and orders in (one bad row), a segmentation run; and a wrong URL."""
    auth = {"Authorization": f"Bearer {stack.new_key(Scope.admin)}"}
    with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=30) as client:
        csv = {"Content-Type": "text/csv"}
        customers = "external_id,name,kind\nK-1,Kunde 1,b2b\nK-2,Kunde 2,b2c\n"
        assert client.post("/v1/segmentation/imports/customers", content=customers, headers=csv).status_code == 201
        orders = client.post("/v1/segmentation/imports/orders", content=ORDERS, headers=csv)
        assert orders.json()["rows_rejected"] == 1
        run = client.post("/v1/segmentation/runs", json={"as_of": "2026-06-30"})
        for _ in range(300):
            status = client.get(run.headers["location"]).json()["status"]
            if status != "running":
                break
            time.sleep(0.1)
        assert status == "succeeded"
        assert client.get("/v1/campaigns/campaigns").status_code == 200
        assert client.get("/v1/capacity/resources").status_code == 200
        assert client.get("/v1/segmentation/customers/NOBODY").status_code == 404


def metrics_of(stack: Stack) -> dict[str, str]:
    processes = {"gateway": stack.gateway, **stack.services}
    return {name: httpx.get(f"{process.url}/metrics", timeout=10).text for name, process in processes.items()}


@pytest.fixture(scope="module")
def prometheus(stack: Stack, traffic: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus with deploy/prometheus/prometheus.yml and its rules, its targets pointed at this stack."""
    binary = tool("prometheus")
    home = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "rules" / "*.yml")]
    urls = {"gateway": stack.gateway.url, **{name: p.url for name, p in stack.services.items()}}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [urls[job["job_name"]].removeprefix("http://")]}]
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(home / "log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Ready once it has scraped every component (all after the traffic above) and run the rules a few times.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (home / "log").read_text()
            try:
                # Until its storage is open Prometheus answers queries with a plain-text 503: ask /-/ready first.
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200 and len(query(url, "up == 1")) == 4:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"Prometheus did not scrape all four components within 60 s:\n{(home / 'log').read_text()}")
        time.sleep(2)  # a few rule evaluations
        yield url
    finally:
        process.terminate()
        process.wait(10)


def query(url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200, f"{expr}: {body}"
    assert body["status"] == "success", f"{expr}: {body}"
    return body["data"]["result"]


def test_every_components_metrics_pass_promtool_lint(stack: Stack, traffic: None) -> None:
    promtool = tool("promtool")
    for name, text in metrics_of(stack).items():
        result = run(promtool, "check", "metrics", input_text=text, check=False)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert not result.stdout.strip(), f"{name}: {result.stdout}"


def test_prometheus_gets_the_red_and_business_series(prometheus: str) -> None:
    def values(expr: str, label: str) -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in query(prometheus, expr)}

    assert values("up", "job") == dict.fromkeys(COMPONENTS, 1.0)
    assert values('sum by (job) (http_requests_total{route!~"/healthz|/readyz"})', "job").keys() == set(COMPONENTS)
    gateway = values('sum by (route) (http_requests_total{job="gateway"})', "route")
    assert {"/v1/segmentation/*", "/v1/campaigns/*", "/v1/capacity/*"} <= gateway.keys()
    assert values("gateway_circuit_breaker_state", "upstream") == dict.fromkeys(COMPONENTS[1:], 0.0)
    attempts = values("sum by (upstream) (gateway_upstream_request_duration_seconds_count)", "upstream")
    assert attempts.keys() == set(COMPONENTS[1:])

    # K-1 ordered twice, K-2 once (its second order was the rejected row); both within the year before the run.
    assert values("sum by (lifecycle) (segmentation_customers)", "lifecycle") == {"active": 2.0}
    assert values("sum by (z_stage) (segmentation_customers)", "z_stage") == {"Z2": 1.0, "Z3": 1.0}
    assert values('segmentation_import_rows_total{entity="orders"}', "outcome") == {"accepted": 3.0, "rejected": 1.0}
    assert values("segmentation_runs_total", "status") == {"succeeded": 1.0, "failed": 0.0}
    assert 0 <= values("segmentation_last_run_age_seconds", "job")["segmentation"] < 120
    assert values("campaigns_campaigns", "state").keys() >= {"draft", "running", "completed"}


def test_the_alert_rules_evaluate_on_the_real_series(prometheus: str) -> None:
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == sum(len(g["rules"]) for g in _rule_groups())
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
    alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    assert [alert["labels"] for alert in alerts] == [], "a healthy stack raises no alert, not even a pending one"


def _rule_groups() -> list[dict[str, Any]]:
    files = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
    return [group for path in files for group in yaml.safe_load(path.read_text())["groups"]]


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "retention.json").read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]


PLATFORM_METRIC = re.compile(r"\b(?:http|gateway|segmentation|campaigns|capacity|business)_[a-z0-9_]+")


def declared(metrics: str) -> set[str]:
    """The series names a /metrics text declares, with samples or not yet (a counter that no error has
    incremented still has its TYPE line)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\w+)$", metrics, re.M):
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def test_dashboard_and_rules_query_metrics_that_exist(stack: Stack, prometheus: str) -> None:
    names = set(httpx.get(f"{prometheus}/api/v1/label/__name__/values", timeout=10).json()["data"])
    names |= {name for text in metrics_of(stack).values() for name in declared(text)}
    queries = dashboard_queries()
    assert queries
    for title, expr in queries:
        concrete = expr.replace("$__rate_interval", "1m")
        query(prometheus, concrete)  # parses and evaluates
        unknown = set(PLATFORM_METRIC.findall(concrete)) - names
        assert not unknown, f"dashboard panel {title!r} reads {unknown}, which no component exports"
    for rule in (rule for group in _rule_groups() for rule in group["rules"]):
        unknown = set(PLATFORM_METRIC.findall(rule["expr"])) - names
        assert not unknown, f"{rule['alert']} reads {unknown}, which no component exports"
