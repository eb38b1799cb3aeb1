import time

import httpx

from gateway.keys.schemas import Scope
from tests.e2e.conftest import Stack


def test_customer_round_trip_through_gateway_service_and_postgres(stack: Stack) -> None:
    key = stack.new_key(Scope.write)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=10) as client:
        put = client.put("/v1/segmentation/customers/E2E-1", json={"name": "Hofmann KG", "kind": "b2b"})
        assert put.status_code == 201, put.text
        assert put.headers["x-request-id"]
        assert client.get("/v1/segmentation/customers/E2E-1").json()["name"] == "Hofmann KG"
        listed = client.get("/v1/segmentation/customers", params={"limit": 5}).json()
        assert "E2E-1" in [c["external_id"] for c in listed["items"]]
        assert client.get("/v1/campaigns/campaigns").status_code == 200
        assert client.get("/v1/capacity/resources").status_code == 200


def test_every_component_is_ready_and_exposes_metrics(stack: Stack) -> None:
    for process in [stack.gateway, *stack.services.values()]:
        assert httpx.get(f"{process.url}/readyz").status_code == 200, process.name
        assert "http_request_duration_seconds" in httpx.get(f"{process.url}/metrics").text


def test_merged_openapi_covers_every_service(stack: Stack) -> None:
    document = httpx.get(f"{stack.gateway.url}/openapi.json").json()
    prefixes = {path.split("/")[2] for path in document["paths"]}
    assert prefixes == {"segmentation", "campaigns", "capacity"}


def test_a_killed_service_is_a_503_within_two_seconds_and_recovers(stack: Stack) -> None:
    key = stack.new_key(Scope.read)
    auth = {"Authorization": f"Bearer {key}"}
    capacity = stack.services["capacity"]
    capacity.kill()
    try:
        started = time.monotonic()
        response = httpx.get(f"{stack.gateway.url}/v1/capacity/resources", headers=auth, timeout=10)
        assert time.monotonic() - started < 2
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        other = httpx.get(f"{stack.gateway.url}/v1/campaigns/campaigns", headers=auth, timeout=10)
        assert other.status_code == 200, "one service down does not take the others with it"
    finally:
        capacity.start()
    assert httpx.get(f"{stack.gateway.url}/v1/capacity/resources", headers=auth, timeout=10).status_code == 200
