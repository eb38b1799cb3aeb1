"""Issue 17: text the database cannot hold is a 422 naming the field and stores nothing
(docs/api.md, "Input rules")."""

import httpx
import pytest

from tests.campaigns.conftest import campaign_body, problem
from tests.campaigns.test_incentives import incentive

pytestmark = pytest.mark.isolation("rollback")


def located(response: httpx.Response) -> list[tuple[list, str]]:
    return [(e["location"], e["type"]) for e in problem(response, 422)["errors"]]


async def test_a_nul_character_in_a_campaign_is_refused(client: httpx.AsyncClient) -> None:
    for field in ("name", "by"):
        response = await client.post("/v1/campaigns/campaigns", json=campaign_body(**{field: "Anna\u0000"}))
        assert located(response) == [(["body", field], "nul_character")]
    assert (await client.get("/v1/campaigns/campaigns")).json()["items"] == []


async def test_a_nul_character_in_an_incentive_name_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/campaigns/incentives/spring", json=incentive(name="Spring\u0000discount"))
    assert located(response) == [(["body", "name"], "nul_character")]
    assert (await client.get("/v1/campaigns/incentives/spring")).status_code == 404


async def test_an_unknown_query_parameter_is_refused(client: httpx.AsyncClient) -> None:
    errors = problem(await client.get("/v1/campaigns/campaigns", params={"sate": "draft"}), 422)["errors"]
    assert errors[0]["location"] == ["query", "sate"]
    assert errors[0]["message"] == "Unknown query parameter; this route takes cursor, kind, limit, state."
