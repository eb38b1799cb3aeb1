import time
from decimal import ROUND_HALF_UP, Decimal

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


def test_a_bulk_import_streams_through_the_gateway(stack: Stack) -> None:
    key = stack.new_key(Scope.write)
    auth = {"Authorization": f"Bearer {key}"}
    customers = "external_id,name,kind\n" + "".join(f"BULK-{i},Kunde {i},b2b\n" for i in range(500))
    orders = "external_id,customer_external_id,ordered_at,net_amount,currency\n" + "".join(
        f"BULK-O-{i},BULK-{i % 500},2026-0{1 + i % 9}-1{i % 10}T10:00:00Z,{i % 700}.{i % 100:02d},EUR\n"
        for i in range(5000)
    )

    def chunks(text: str):  # no Content-Length: the gateway must stream it on
        data = text.encode()
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=60) as client:
        imported = client.post(
            "/v1/segmentation/imports/customers", content=chunks(customers), headers={"Content-Type": "text/csv"}
        )
        assert imported.status_code == 201, imported.text
        job = client.post(
            "/v1/segmentation/imports/orders", content=chunks(orders), headers={"Content-Type": "text/csv"}
        ).json()
        assert (job["status"], job["rows_accepted"], job["rows_rejected"]) == ("succeeded", 5000, 0)
        assert client.get(f"/v1/segmentation/imports/{job['id']}").json()["rows_created"] == 5000
        order = client.get("/v1/segmentation/orders/BULK-O-4999").json()
        assert (order["customer_external_id"], order["net_amount"]) == ("BULK-499", "99.99")


def test_a_run_a_profile_and_a_fit_through_the_gateway(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.new_key(Scope.write)}"}

    def until_done(client: httpx.Client, location: str) -> dict:
        for _ in range(200):
            job = client.get(location).json()
            if job["status"] != "running":
                return job
            time.sleep(0.05)
        raise AssertionError(job)

    with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=30) as client:
        client.put("/v1/segmentation/customers/E2E-RUN", json={"name": "Lindner OHG", "kind": "b2b"})
        order = {
            "customer_external_id": "E2E-RUN",
            "ordered_at": "2026-06-01T10:00:00Z",
            "net_amount": "80.00",
            "currency": "EUR",
        }
        assert client.put("/v1/segmentation/orders/E2E-RUN-1", json=order).status_code == 201
        run = client.post("/v1/segmentation/runs", json={"as_of": "2026-06-30"})
        assert until_done(client, run.headers["location"])["status"] == "succeeded"
        profile = client.get("/v1/segmentation/customers/E2E-RUN/profile").json()["classification"]
        assert (profile["lifecycle"], profile["z_stage"], profile["as_of"]) == ("new", "Z2", "2026-06-30")

        fit = client.post("/v1/segmentation/predictive/fits", json={"calibration_end": "2000-01-31"})
        assert fit.status_code == 202, fit.text
        ended = until_done(client, fit.headers["location"])
        assert (ended["status"], ended["customers"]) == ("failed", 0)
        model = client.get("/v1/segmentation/predictive/model")
        assert (model.status_code, model.headers["content-type"]) == (404, "application/problem+json")


def test_capacity_forecasts_from_segmentation_and_reserves_through_the_gateway(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.new_key(Scope.write)}"}
    with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=30) as client:
        resource = {
            "name": "Assembly",
            "unit": "service hours",
            "weekly_capacity": "100000",
            "load_per_order": "1",
            "new_customer_weekly_load": "2",
        }
        assert client.put("/v1/capacity/resources/e2e-assembly", json=resource).status_code == 201
        forecast = client.post("/v1/capacity/baseline/refresh")
        assert forecast.status_code == 200, forecast.text
        found = forecast.json()
        if found["source"] == "predictive":  # a run scored the customers with a fitted model
            predicted = client.get(
                "/v1/segmentation/predictive/weekly-purchases", params={"from_date": found["first_week"], "weeks": 1}
            ).json()
            expected = Decimal(predicted["weeks"][0]["expected_orders"]).quantize(Decimal("0.01"))
        else:
            history = client.get(
                "/v1/segmentation/reports/weekly-orders",
                params={"from_date": found["history_first_week"], "to_date": found["first_week"]},
            ).json()
            mean = Decimal(sum(w["orders"] for w in history["weeks"])) / len(history["weeks"])
            expected = mean.quantize(Decimal("0.01"), ROUND_HALF_UP)
        cell = client.get(
            "/v1/capacity/headroom", params={"resource": "e2e-assembly", "to_week": found["first_week"]}
        ).json()["weeks"][0]
        assert Decimal(cell["baseline"]) == expected, "segmentation's expected orders this week, one hour per order"

        lines = [{"resource": "e2e-assembly", "week_start": found["first_week"], "amount": "5"}]
        held = client.post(
            "/v1/capacity/reservations", json={"campaign": "e2e", "lines": lines}, headers={"Idempotency-Key": "e2e-1"}
        )
        assert held.status_code == 201, held.text
        confirmed = client.post(f"/v1/capacity/reservations/{held.json()['id']}/confirm")
        assert confirmed.json()["state"] == "confirmed"
        after = client.get(
            "/v1/capacity/headroom", params={"resource": "e2e-assembly", "to_week": found["first_week"]}
        ).json()["weeks"][0]
        assert Decimal(after["headroom"]) == Decimal(cell["headroom"]) - 5
