import httpx
import pytest

pytestmark = pytest.mark.isolation("rollback")

ORDER = {
    "customer_external_id": "K-1",
    "ordered_at": "2026-03-14T09:30:00+01:00",
    "net_amount": "1250.50",
    "currency": "EUR",
    "contribution_margin": "310.00",
}


async def _customer(client: httpx.AsyncClient, external_id: str = "K-1") -> None:
    response = await client.put(f"/v1/segmentation/customers/{external_id}", json={"name": "Kunde", "kind": "b2b"})
    assert response.status_code in (200, 201)


async def test_put_creates_then_replaces_an_order(client: httpx.AsyncClient) -> None:
    await _customer(client)
    created = await client.put("/v1/segmentation/orders/A-100", json=ORDER)
    assert created.status_code == 201
    body = created.json()
    assert body["external_id"] == "A-100"
    assert body["customer_external_id"] == "K-1"
    assert body["net_amount"] == "1250.50"
    assert body["status"] == "booked", "an order is booked unless the ERP says otherwise"
    assert body["ordered_at"] == "2026-03-14T08:30:00Z", "times come back in UTC"

    cancelled = await client.put("/v1/segmentation/orders/A-100", json={**ORDER, "status": "cancelled"})
    assert cancelled.status_code == 200
    fetched = (await client.get("/v1/segmentation/orders/A-100")).json()
    assert fetched["status"] == "cancelled"
    assert fetched["created_at"] == body["created_at"]


async def test_an_order_of_an_unknown_customer_is_refused_and_not_stored(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/segmentation/orders/A-1", json={**ORDER, "customer_external_id": "ghost"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body.customer_external_id"
    assert (await client.get("/v1/segmentation/orders/A-1")).status_code == 404
    assert (await client.get("/v1/segmentation/customers/ghost")).status_code == 404


async def test_an_order_can_create_its_missing_customer(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/segmentation/orders/A-2",
        params={"create_missing_customer": "true"},
        json={**ORDER, "customer_external_id": "new"},
    )
    assert response.status_code == 201
    customer = (await client.get("/v1/segmentation/customers/new")).json()
    assert customer["auto_created"] is True
    assert customer["kind"] is None

    completed = await client.put("/v1/segmentation/customers/new", json={"name": "Neu GmbH", "kind": "b2b"})
    assert completed.status_code == 200
    assert completed.json()["auto_created"] is False, "once the ERP sends the customer it is a real one"


async def test_bad_orders_name_every_bad_field(client: httpx.AsyncClient) -> None:
    await _customer(client)
    bad = {
        **ORDER,
        "ordered_at": "2026-02-30T10:00:00Z",
        "net_amount": "-5",
        "currency": "EUE",
        "status": "paid",
        "contribution_margin": "abc",
    }
    response = await client.put("/v1/segmentation/orders/A-3", json=bad)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.ordered_at", "body.net_amount", "body.currency", "body.status", "body.contribution_margin"}
    naive = await client.put("/v1/segmentation/orders/A-3", json={**ORDER, "ordered_at": "2026-03-14T09:30:00"})
    assert naive.status_code == 422, "a time without a zone is ambiguous"
    long_ago = await client.put("/v1/segmentation/orders/A-3", json={**ORDER, "ordered_at": "0026-03-14T09:30:00Z"})
    assert long_ago.status_code == 422, "a typo'd year"
    assert long_ago.json()["errors"][0]["message"] == "must lie between 1900-01-01 and 2099-12-31"


async def test_list_filters_by_customer_status_and_time(client: httpx.AsyncClient) -> None:
    await _customer(client, "K-1")
    await _customer(client, "K-2")
    for i, (customer, status, day) in enumerate(
        [("K-1", "booked", 1), ("K-2", "booked", 2), ("K-1", "returned", 3), ("K-1", "booked", 4)]
    ):
        order = {**ORDER, "customer_external_id": customer, "status": status, "ordered_at": f"2026-04-0{day}T12:00:00Z"}
        assert (await client.put(f"/v1/segmentation/orders/O{i}", json=order)).status_code == 201

    async def ids(**params: str) -> list[str]:
        page = (await client.get("/v1/segmentation/orders", params=params)).json()
        return [o["external_id"] for o in page["items"]]

    assert await ids(customer_external_id="K-1") == ["O0", "O2", "O3"]
    assert await ids(customer_external_id="K-1", status="booked") == ["O0", "O3"]
    assert await ids(ordered_from="2026-04-02T00:00:00Z", ordered_before="2026-04-04T00:00:00Z") == ["O1", "O2"]
    first = (await client.get("/v1/segmentation/orders", params={"limit": 3})).json()
    rest = (await client.get("/v1/segmentation/orders", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [o["external_id"] for o in first["items"] + rest["items"]] == ["O0", "O1", "O2", "O3"]
    assert rest["next_cursor"] is None
