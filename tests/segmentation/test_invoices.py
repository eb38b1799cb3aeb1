import httpx
import pytest

pytestmark = pytest.mark.isolation("rollback")

INVOICE = {
    "customer_external_id": "K-1",
    "order_external_id": "A-77",
    "issued_on": "2026-03-01",
    "due_on": "2026-03-31",
    "amount": "123.45",
    "currency": "EUR",
}


async def put_customer(client: httpx.AsyncClient, external_id: str = "K-1") -> None:
    response = await client.put(f"/v1/segmentation/customers/{external_id}", json={"name": "Kunde", "kind": "b2b"})
    assert response.status_code in (200, 201)


async def test_put_creates_then_replaces(client: httpx.AsyncClient) -> None:
    await put_customer(client)
    created = await client.put("/v1/segmentation/invoices/R-1", json=INVOICE)
    assert created.status_code == 201
    body = created.json()
    assert body["external_id"] == "R-1"
    assert body["customer_external_id"] == "K-1"
    assert body["amount"] == "123.45"
    assert body["issued_on"] == "2026-03-01"
    assert body["paid_on"] is None
    assert body["dunning_level"] == 0

    paid = {**INVOICE, "order_external_id": None, "paid_on": "2026-04-20", "amount": "100", "dunning_level": 2}
    replaced = await client.put("/v1/segmentation/invoices/R-1", json=paid)
    assert replaced.status_code == 200
    assert replaced.json()["created_at"] == body["created_at"]

    fetched = (await client.get("/v1/segmentation/invoices/R-1")).json()
    assert fetched["paid_on"] == "2026-04-20"
    assert fetched["amount"] == "100.00"
    assert fetched["dunning_level"] == 2
    assert fetched["order_external_id"] is None, "PUT replaces the whole invoice"


async def test_unknown_customer_is_a_422_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/segmentation/invoices/R-1", json=INVOICE)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body.customer_external_id"
    assert (await client.get("/v1/segmentation/invoices/R-1")).status_code == 404
    assert (await client.get("/v1/segmentation/customers/K-1")).status_code == 404


async def test_create_missing_customer_auto_creates_it(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/segmentation/invoices/R-1", json=INVOICE, params={"create_missing_customer": "true"}
    )
    assert response.status_code == 201
    customer = (await client.get("/v1/segmentation/customers/K-1")).json()
    assert customer["auto_created"] is True
    assert customer["kind"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"due_on": "2026-02-28"}, "body.due_on"),
        ({"paid_on": "2026-02-01"}, "body.paid_on"),
        ({"currency": "EUE"}, "body.currency"),
        ({"amount": "-1.00"}, "body.amount"),
        ({"amount": "1.234"}, "body.amount"),
        ({"dunning_level": 12}, "body.dunning_level"),
        ({"order_external_id": "A/1"}, "body.order_external_id"),
        ({"total": "1.00"}, "body.total"),
    ],
)
async def test_invalid_invoice_is_a_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, object], field: str
) -> None:
    await put_customer(client)
    response = await client.put("/v1/segmentation/invoices/R-1", json={**INVOICE, **change})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (await client.get("/v1/segmentation/invoices/R-1")).status_code == 404


async def test_unknown_invoice_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/segmentation/invoices/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No invoice with external_id 'nope'."


async def test_list_filters_open_and_overdue(client: httpx.AsyncClient) -> None:
    await put_customer(client, "K-1")
    await put_customer(client, "K-2")
    invoices = {
        "R-paid": {**INVOICE, "paid_on": "2026-03-10"},
        "R-overdue": {**INVOICE, "due_on": "2026-03-15"},
        "R-open": {**INVOICE, "due_on": "2026-05-01"},
        "R-other": {**INVOICE, "customer_external_id": "K-2", "due_on": "2026-03-15"},
    }
    for external_id, invoice in invoices.items():
        assert (await client.put(f"/v1/segmentation/invoices/{external_id}", json=invoice)).status_code == 201

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/segmentation/invoices", params=params)
        assert response.status_code == 200
        return [i["external_id"] for i in response.json()["items"]]

    assert await ids() == ["R-paid", "R-overdue", "R-open", "R-other"]
    assert await ids(open="true") == ["R-overdue", "R-open", "R-other"]
    assert await ids(open="false") == ["R-paid"]
    assert await ids(overdue_on="2026-04-01") == ["R-overdue", "R-other"]
    assert await ids(overdue_on="2026-04-01", customer_external_id="K-1") == ["R-overdue"]
    assert await ids(overdue_on="2026-03-15") == [], "due today is not overdue yet"

    first = (await client.get("/v1/segmentation/invoices", params={"limit": 3})).json()
    rest = (await client.get("/v1/segmentation/invoices", params={"cursor": first["next_cursor"]})).json()
    assert [i["external_id"] for i in rest["items"]] == ["R-other"]
    assert rest["next_cursor"] is None
