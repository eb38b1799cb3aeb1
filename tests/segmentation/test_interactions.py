import httpx
import pytest

pytestmark = pytest.mark.isolation("rollback")

INTERACTION = {
    "customer_external_id": "K-1",
    "kind": "complaint",
    "channel": "phone",
    "occurred_at": "2026-03-01T09:30:00+01:00",
    "subject": "Lieferung beschädigt",
}


async def put_customer(client: httpx.AsyncClient, external_id: str = "K-1") -> None:
    response = await client.put(f"/v1/segmentation/customers/{external_id}", json={"name": "Kunde", "kind": "b2b"})
    assert response.status_code in (200, 201)


async def test_put_creates_then_replaces(client: httpx.AsyncClient) -> None:
    await put_customer(client)
    created = await client.put("/v1/segmentation/interactions/I-1", json=INTERACTION)
    assert created.status_code == 201
    body = created.json()
    assert body["external_id"] == "I-1"
    assert body["customer_external_id"] == "K-1"
    assert body["kind"] == "complaint"
    assert body["resolved_at"] is None

    resolved = {**INTERACTION, "resolved_at": "2026-03-02T10:00:00Z", "subject": None}
    replaced = await client.put("/v1/segmentation/interactions/I-1", json=resolved)
    assert replaced.status_code == 200
    assert replaced.json()["created_at"] == body["created_at"]

    fetched = (await client.get("/v1/segmentation/interactions/I-1")).json()
    assert fetched["resolved_at"] == "2026-03-02T10:00:00Z"
    assert fetched["subject"] is None, "PUT replaces the whole interaction"


async def test_unknown_customer_is_a_422_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/segmentation/interactions/I-1", json=INTERACTION)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body.customer_external_id"
    assert (await client.get("/v1/segmentation/interactions/I-1")).status_code == 404
    assert (await client.get("/v1/segmentation/customers/K-1")).status_code == 404


async def test_create_missing_customer_auto_creates_it(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/segmentation/interactions/I-1",
        json={**INTERACTION, "kind": "lead"},
        params={"create_missing_customer": "true"},
    )
    assert response.status_code == 201
    customer = (await client.get("/v1/segmentation/customers/K-1")).json()
    assert customer["auto_created"] is True
    assert customer["kind"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"resolved_at": "2026-03-01T08:00:00Z"}, "body.resolved_at"),
        ({"occurred_at": "2026-03-01T09:30:00"}, "body.occurred_at"),
        ({"kind": "gossip"}, "body.kind"),
        ({"channel": "fax"}, "body.channel"),
        ({"subject": "x" * 501}, "body.subject"),
    ],
)
async def test_invalid_interaction_is_a_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, object], field: str
) -> None:
    await put_customer(client)
    response = await client.put("/v1/segmentation/interactions/I-1", json={**INTERACTION, **change})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (await client.get("/v1/segmentation/interactions/I-1")).status_code == 404


async def test_unknown_interaction_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/segmentation/interactions/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No interaction with external_id 'nope'."


async def test_list_filters_open_complaints_kind_and_time(client: httpx.AsyncClient) -> None:
    await put_customer(client, "K-1")
    await put_customer(client, "K-2")
    interactions = {
        "I-open": INTERACTION,
        "I-resolved": {**INTERACTION, "resolved_at": "2026-03-05T12:00:00Z"},
        "I-lead": {**INTERACTION, "kind": "lead", "channel": "web", "occurred_at": "2026-04-01T00:00:00Z"},
        "I-open-2": {**INTERACTION, "customer_external_id": "K-2", "occurred_at": "2026-05-01T00:00:00Z"},
    }
    for external_id, interaction in interactions.items():
        assert (await client.put(f"/v1/segmentation/interactions/{external_id}", json=interaction)).status_code == 201

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/segmentation/interactions", params=params)
        assert response.status_code == 200
        return [i["external_id"] for i in response.json()["items"]]

    assert await ids() == ["I-open", "I-resolved", "I-lead", "I-open-2"]
    assert await ids(open_complaints="true") == ["I-open", "I-open-2"]
    assert await ids(open_complaints="true", customer_external_id="K-1") == ["I-open"]
    assert await ids(open_complaints="false") == ["I-resolved", "I-lead"]
    assert await ids(kind="lead") == ["I-lead"]
    assert await ids(occurred_from="2026-04-01T00:00:00Z", occurred_before="2026-05-01T00:00:00Z") == ["I-lead"]
    response = await client.get("/v1/segmentation/interactions", params={"kind": "gossip"})
    assert response.status_code == 422
