"""The incentive catalogue and the loyalty rule (seed 002): an offer to existing customers is never worse than
the same offer to new customers; every change that would break it is refused and writes nothing."""

from typing import Any

import httpx
import pytest

from tests.campaigns.conftest import problem

pytestmark = pytest.mark.isolation("rollback")


def incentive(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Spring discount",
        "kind": "loyalty_discount",
        "offer": "spring",
        "audience": "existing",
        "value": "10",
        "value_unit": "percent",
        "cost": "15.00",
        "cost_basis": "per_response",
    }
    return body | overrides


async def put(client: httpx.AsyncClient, key: str, **overrides: Any) -> httpx.Response:
    return await client.put(f"/v1/campaigns/incentives/{key}", json=incentive(**overrides))


async def test_an_incentive_is_created_replaced_and_listed(client: httpx.AsyncClient) -> None:
    created = await put(client, "spring-loyal", eligibility={"z_stage": ["Z3", "Z4"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["value"], body["cost"], body["offer"], body["eligibility"]["z_stage"]) == (
        "10.00",
        "15.00",
        "spring",
        ["Z3", "Z4"],
    )
    replaced = await put(client, "spring-loyal", value="12")
    assert (replaced.status_code, replaced.json()["value"]) == (200, "12.00")
    assert replaced.json()["eligibility"]["z_stage"] == [], "a field left out goes back to its default"
    listed = (await client.get("/v1/campaigns/incentives", params={"offer": "spring"})).json()
    assert [i["key"] for i in listed["items"]] == ["spring-loyal"]
    problem(await client.get("/v1/campaigns/incentives/nothing"), 404)


async def test_new_customers_never_get_more_than_existing_customers_for_the_same_offer(
    client: httpx.AsyncClient,
) -> None:
    refused = problem(await put(client, "spring-new", audience="new", value="15"), 409)
    assert refused["type"].endswith("/loyalty-rule")
    assert "existing customers nothing comparable" in refused["detail"]
    assert (await client.get("/v1/campaigns/incentives/spring-new")).status_code == 404, "nothing written"

    assert (await put(client, "spring-loyal", value="10")).status_code == 201
    refused = problem(await put(client, "spring-new", audience="new", value="15"), 409)
    assert refused["detail"] == (
        "Offer 'spring' would give new customers 15.00 % ('spring-new') but existing customers only 10.00 % "
        "('spring-loyal'): an offer to existing customers is never worse than the same offer to new customers."
    )
    assert (refused["new_customers"], refused["existing_customers"]) == (
        {"key": "spring-new", "value": "15.00", "value_unit": "percent"},
        {"key": "spring-loyal", "value": "10.00", "value_unit": "percent"},
    )
    assert (await put(client, "spring-new", audience="new", value="10")).status_code == 201, "as good is allowed"


async def test_existing_customers_offer_cannot_be_lowered_or_withdrawn_below_the_new_customers_one(
    client: httpx.AsyncClient,
) -> None:
    assert (await put(client, "spring-loyal", value="10")).status_code == 201
    assert (await put(client, "spring-new", audience="new", value="8")).status_code == 201
    problem(await put(client, "spring-loyal", value="5"), 409)
    problem(await put(client, "spring-loyal", value="10", active=False), 409)
    problem(await put(client, "spring-loyal", value="10", offer="summer"), 409)
    kept = (await client.get("/v1/campaigns/incentives/spring-loyal")).json()
    assert (kept["value"], kept["active"], kept["offer"]) == ("10.00", True, "spring"), "nothing changed"
    # An amount is not a percentage: the same offer is compared in one unit.
    problem(await put(client, "spring-new-eur", audience="new", value="5", value_unit="amount"), 409)


async def test_bad_incentives_are_422_problems_naming_the_field(client: httpx.AsyncClient) -> None:
    found = problem(await put(client, "Bad Key"), 422)
    assert found["errors"][0]["field"] == "path.key"
    found = problem(await put(client, "too-much", value="120"), 422)
    assert "at most 100" in found["errors"][0]["message"]
    found = problem(await put(client, "terms", kind="payment_terms"), 422)
    assert "credit_based" in found["errors"][0]["message"]
    found = problem(await put(client, "typo", colour="red"), 422)
    assert found["errors"][0]["field"] == "body.colour"
