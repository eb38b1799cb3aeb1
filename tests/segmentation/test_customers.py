import base64

import httpx
import pytest

pytestmark = pytest.mark.isolation("rollback")

CUSTOMER = {
    "name": "Müller Maschinenbau GmbH",
    "kind": "b2b",
    "first_contact_on": "2021-03-01",
    "revenue_potential": {"amount": "120000.00", "currency": "EUR"},
    "key_account": True,
    "consent": {"email": True, "post": True},
    "attributes": {"industry": "machinery", "employees": 240},
}


async def test_put_creates_then_replaces(client: httpx.AsyncClient) -> None:
    created = await client.put("/v1/segmentation/customers/K-1001", json=CUSTOMER)
    assert created.status_code == 201
    body = created.json()
    assert body["external_id"] == "K-1001"
    assert body["revenue_potential"] == {"amount": "120000.00", "currency": "EUR"}
    assert body["consent"] == {"email": True, "phone": False, "post": True}

    replaced = await client.put("/v1/segmentation/customers/K-1001", json={"name": "Müller AG", "kind": "b2b"})
    assert replaced.status_code == 200
    assert replaced.json()["name"] == "Müller AG"
    assert replaced.json()["revenue_potential"] is None, "PUT replaces the whole customer"
    assert replaced.json()["created_at"] == body["created_at"]

    fetched = await client.get("/v1/segmentation/customers/K-1001")
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Müller AG"


async def test_unknown_customer_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/segmentation/customers/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No customer with external_id 'nope'."


async def test_invalid_customer_lists_every_bad_field(client: httpx.AsyncClient) -> None:
    bad = {**CUSTOMER, "kind": "b2x", "revenue_potential": {"amount": "1.234", "currency": "euro"}}
    response = await client.put("/v1/segmentation/customers/K-1", json=bad)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.kind", "body.revenue_potential.amount", "body.revenue_potential.currency"}
    assert (await client.get("/v1/segmentation/customers/K-1")).status_code == 404, "nothing was written"


async def test_list_pages_through_every_customer_once(client: httpx.AsyncClient) -> None:
    for i in range(7):
        kind = "b2b" if i % 2 else "b2c"
        await client.put(f"/v1/segmentation/customers/C{i}", json={"name": f"Customer {i}", "kind": kind})
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/segmentation/customers", params=params)).json()
        seen += [c["external_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"C{i}" for i in range(7)]

    b2b = (await client.get("/v1/segmentation/customers", params={"kind": "b2b"})).json()
    assert [c["external_id"] for c in b2b["items"]] == ["C1", "C3", "C5"]


async def test_a_forged_cursor_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/segmentation/customers", params={"cursor": "not-a-cursor!"})
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


async def test_a_cursor_with_a_wrong_position_is_a_400_problem(client: httpx.AsyncClient) -> None:
    for position in ('{"id":"x"}', '{"id":null}', '{"id":1000000000000000000000000000000}', '{"id":-1}'):
        cursor = base64.urlsafe_b64encode(position.encode()).decode()
        response = await client.get("/v1/segmentation/customers", params={"cursor": cursor})
        assert response.status_code == 400, position
        assert response.headers["content-type"] == "application/problem+json"
