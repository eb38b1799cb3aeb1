"""Issue 17: input the database cannot hold or a client did not mean is a 422 naming the field, and stores
nothing (docs/api.md, "Input rules"). Each case here was a 500, a wrong 400 or a silent success before."""

import json

import httpx
import pytest

from tests.segmentation.test_customers import CUSTOMER
from tests.segmentation.test_interactions import INTERACTION
from tests.segmentation.test_orders import ORDER

pytestmark = pytest.mark.isolation("rollback")


def refusal(response: httpx.Response) -> list[dict]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["errors"]


async def put_raw(client: httpx.AsyncClient, path: str, body: bytes) -> httpx.Response:
    return await client.put(path, content=body, headers={"Content-Type": "application/json"})


async def customers(client: httpx.AsyncClient) -> list[str]:
    return [c["external_id"] for c in (await client.get("/v1/segmentation/customers")).json()["items"]]


async def test_a_nul_character_in_a_customer_name_is_refused_and_nothing_stored(client: httpx.AsyncClient) -> None:
    errors = refusal(await client.put("/v1/segmentation/customers/K-1", json={**CUSTOMER, "name": "Acme\u0000"}))
    assert [(e["location"], e["type"]) for e in errors] == [(["body", "name"], "nul_character")]
    assert await customers(client) == []


async def test_a_nul_character_in_an_attribute_key_is_refused_naming_the_key(client: httpx.AsyncClient) -> None:
    body = {**CUSTOMER, "attributes": {"indus\u0000try": "machinery"}}
    errors = refusal(await client.put("/v1/segmentation/customers/K-1", json=body))
    assert errors[0]["location"] == ["body", "attributes", "indus\\u0000try"]
    assert await customers(client) == []


@pytest.mark.parametrize(
    ("body", "location"),
    [
        (b'{"name": "A", "kind": "b2b", "attributes": {"note": "A\\ud800B"}}', ["body", "attributes", "note"]),
        (b'{"name": "A", "kind": "b2b", "attributes": {"employees": NaN}}', ["body", "attributes", "employees"]),
        (b'{"name": "A", "kind": "b2b", "attributes": {"x": -Infinity}}', ["body", "attributes", "x"]),
        (b'{"name": "A", "kind": "b2b", "attributes": {"fuzz": 1e400}}', ["body", "attributes", "fuzz"]),
    ],
)
async def test_lone_surrogates_nan_and_overflowing_numbers_in_a_customer_are_refused(
    client: httpx.AsyncClient, body: bytes, location: list
) -> None:
    errors = refusal(await put_raw(client, "/v1/segmentation/customers/K-1", body))
    assert [e["location"] for e in errors] == [location]
    assert await customers(client) == []


async def test_a_body_that_is_not_utf8_or_nested_without_end_is_json_invalid(client: httpx.AsyncClient) -> None:
    latin1 = json.dumps(CUSTOMER, ensure_ascii=False).encode("latin-1")
    for body in (latin1, b"[" * 50_000 + b"]" * 50_000):
        errors = refusal(await put_raw(client, "/v1/segmentation/customers/K-1", body))
        assert [(e["location"], e["type"]) for e in errors] == [(["body"], "json_invalid")]
    assert await customers(client) == []


async def test_an_id_whose_percent_encoding_is_not_utf8_is_refused(client: httpx.AsyncClient) -> None:
    """A%ffB and A%feB were both stored as A\ufffdB: two ERP ids became one customer."""
    for external_id in ("A%ffB", "A%feB"):
        errors = refusal(await client.put(f"/v1/segmentation/customers/{external_id}", json=CUSTOMER))
        assert [(e["location"], e["type"]) for e in errors] == [(["path", "external_id"], "invalid_utf8")]
        assert external_id in errors[0]["message"]
    assert await customers(client) == []


@pytest.mark.parametrize("path", ["/v1/segmentation/customers/K%0a1", "/v1/segmentation/orders/O%001"])
async def test_a_control_character_in_an_id_is_refused(client: httpx.AsyncClient, path: str) -> None:
    errors = refusal(await client.get(path))
    assert [(e["location"], e["type"]) for e in errors] == [(["path", "external_id"], "control_character")]


async def test_a_misspelt_filter_is_refused_instead_of_answering_everyone(client: httpx.AsyncClient) -> None:
    await client.put("/v1/segmentation/customers/K-1", json=CUSTOMER)
    for path in ("/v1/segmentation/profiles", "/v1/segmentation/audiences", "/v1/segmentation/customers"):
        errors = refusal(await client.get(path, params={"lifecylce": "lapsed"}))
        assert [e["location"] for e in errors] == [["query", "lifecylce"]], path
        assert "limit" in errors[0]["message"] or path.endswith("audiences")
        assert "lifecycle" in errors[0]["message"] or path.endswith("customers")


async def test_the_profile_refuses_a_query_parameter_it_does_not_take(client: httpx.AsyncClient) -> None:
    await client.put("/v1/segmentation/customers/K-1", json=CUSTOMER)
    errors = refusal(await client.get("/v1/segmentation/customers/K-1/profile", params={"asof": "2026-01-01"}))
    assert errors[0]["location"] == ["query", "asof"]
    assert "as_of" in errors[0]["message"], "the one it takes"


async def test_a_query_value_that_is_not_utf8_is_refused(client: httpx.AsyncClient) -> None:
    errors = refusal(await client.get("/v1/segmentation/orders?customer_external_id=A%ffB"))
    assert [(e["location"], e["type"]) for e in errors] == [(["query", "customer_external_id"], "invalid_utf8")]


async def test_nan_and_nul_in_an_order_are_refused(client: httpx.AsyncClient) -> None:
    await client.put("/v1/segmentation/customers/K-1", json=CUSTOMER)
    body = json.dumps(ORDER).replace('"1250.50"', "NaN").encode()
    errors = refusal(await put_raw(client, "/v1/segmentation/orders/O-1", body))
    assert [(e["location"], e["type"]) for e in errors] == [(["body", "net_amount"], "json_invalid")]
    errors = refusal(await client.put("/v1/segmentation/orders/O-1", json={**ORDER, "currency": "EU\u0000"}))
    assert errors[0]["location"] == ["body", "currency"]
    assert (await client.get("/v1/segmentation/orders/O-1")).status_code == 404


async def test_a_nul_character_in_an_interaction_subject_is_refused(client: httpx.AsyncClient) -> None:
    await client.put("/v1/segmentation/customers/K-1", json=CUSTOMER)
    errors = refusal(await client.put("/v1/segmentation/interactions/I-1", json={**INTERACTION, "subject": "a\u0000"}))
    assert errors[0]["location"] == ["body", "subject"]
    assert (await client.get("/v1/segmentation/interactions/I-1")).status_code == 404
