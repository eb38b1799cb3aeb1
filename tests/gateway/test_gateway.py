import time

from gateway.keys.schemas import Scope
from tests.gateway.conftest import BODY_LIMIT, ORIGIN, Gateway

CUSTOMER = {"name": "Bäckerei Schmidt", "kind": "b2c"}
PROBLEM = "application/problem+json"


async def test_round_trip_through_the_gateway_with_a_write_key(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.write)
    put = await gateway.client.put("/v1/segmentation/customers/S-77", json=CUSTOMER, headers=gateway.auth(key))
    assert put.status_code == 201
    assert put.json()["name"] == "Bäckerei Schmidt"
    got = await gateway.client.get("/v1/segmentation/customers/S-77", headers={"X-API-Key": key})
    assert got.status_code == 200
    assert got.json()["external_id"] == "S-77"
    listed = await gateway.client.get("/v1/segmentation/customers?limit=10", headers=gateway.auth(key))
    assert [c["external_id"] for c in listed.json()["items"]] == ["S-77"]


async def test_request_id_is_echoed_and_made_when_missing(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.read)
    given = await gateway.client.get(
        "/v1/segmentation/customers", headers={**gateway.auth(key), "X-Request-ID": "erp-sync-42"}
    )
    assert given.headers["x-request-id"] == "erp-sync-42"
    made = await gateway.client.get("/v1/segmentation/customers", headers=gateway.auth(key))
    assert len(made.headers["x-request-id"]) == 32


async def test_no_key_is_401(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/segmentation/customers")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "API key is required" in response.json()["detail"]


async def test_unknown_and_revoked_keys_are_401(gateway: Gateway) -> None:
    unknown = await gateway.client.get("/v1/segmentation/customers", headers=gateway.auth("rk_" + "x" * 43))
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "The API key is unknown or revoked."


async def test_read_key_cannot_write(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.read)
    response = await gateway.client.put("/v1/segmentation/customers/S-1", json=CUSTOMER, headers=gateway.auth(key))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert "needs write" in response.json()["detail"]
    assert (await gateway.client.get("/v1/segmentation/customers/S-1", headers=gateway.auth(key))).status_code == 404


async def test_admin_key_may_read_and_write(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.admin)
    put = await gateway.client.put("/v1/segmentation/customers/S-2", json=CUSTOMER, headers=gateway.auth(key))
    assert put.status_code == 201


async def test_malformed_json_is_a_422_problem(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.write)
    response = await gateway.client.put(
        "/v1/segmentation/customers/S-3",
        content=b'{"name": "broken",',
        headers={**gateway.auth(key), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_wrong_types_name_each_field(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.write)
    response = await gateway.client.put(
        "/v1/segmentation/customers/S-4",
        json={"name": 42, "kind": "b2b", "key_account": "maybe", "first_contact_on": "yesterday"},
        headers=gateway.auth(key),
    )
    assert response.status_code == 422
    problem = response.json()
    assert {e["field"] for e in problem["errors"]} == {"body.name", "body.key_account", "body.first_contact_on"}
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_unknown_routes_are_404_problems(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.read)
    in_service = await gateway.client.get("/v1/segmentation/nothing-here", headers=gateway.auth(key))
    assert in_service.status_code == 404
    assert in_service.headers["content-type"] == PROBLEM
    no_service = await gateway.client.get("/v1/billing/invoices", headers=gateway.auth(key))
    assert no_service.status_code == 404
    assert "No service 'billing'" in no_service.json()["detail"]
    outside = await gateway.client.get("/nowhere")
    assert outside.status_code == 404
    assert outside.headers["content-type"] == PROBLEM


async def test_wrong_method_is_a_405_problem(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.write)
    response = await gateway.client.delete("/v1/segmentation/customers", headers=gateway.auth(key))
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


async def test_oversized_body_is_413_and_writes_nothing(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.write)
    big = {**CUSTOMER, "attributes": {"notes": "x" * BODY_LIMIT}}
    response = await gateway.client.put("/v1/segmentation/customers/S-5", json=big, headers=gateway.auth(key))
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert str(BODY_LIMIT) in response.json()["detail"]

    async def chunks():  # no Content-Length: the limit must hold while streaming too
        yield b'{"name": "n", "kind": "b2c", "attributes": {"notes": "'
        for _ in range(BODY_LIMIT // 1000 + 1):
            yield b"y" * 1000
        yield b'"}}'

    streamed = await gateway.client.put(
        "/v1/segmentation/customers/S-5",
        content=chunks(),
        headers={**gateway.auth(key), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert (await gateway.client.get("/v1/segmentation/customers/S-5", headers=gateway.auth(key))).status_code == 404


async def test_a_service_that_is_down_is_a_fast_503(gateway: Gateway) -> None:
    key = await gateway.new_key(Scope.read)
    started = time.monotonic()
    response = await gateway.client.get("/v1/campaigns/campaigns", headers=gateway.auth(key))
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert "campaigns service is unavailable" in response.json()["detail"]


async def test_cors_preflight_and_responses_for_allowed_origins_only(gateway: Gateway) -> None:
    preflight = await gateway.client.options(
        "/v1/segmentation/customers",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    denied = await gateway.client.get("/v1/segmentation/customers", headers={"Origin": ORIGIN})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == ORIGIN, "errors must be readable by the frontend"
    other = await gateway.client.options(
        "/v1/segmentation/customers",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in other.headers


async def test_health_and_metrics_need_no_key(gateway: Gateway) -> None:
    assert (await gateway.client.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.client.get("/readyz")).status_code == 200
    metrics = await gateway.client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text


async def test_merged_openapi_lists_service_paths_and_says_what_is_missing(gateway: Gateway) -> None:
    response = await gateway.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert "/v1/segmentation/customers/{external_id}" in document["paths"]
    assert "bearerAuth" in document["components"]["securitySchemes"]
    assert "campaigns" in response.headers["warning"], "an unreachable service is named, not hidden"
    docs = await gateway.client.get("/docs")
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text
