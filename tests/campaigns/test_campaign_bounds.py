"""A campaign's dates lie in the supported range and span at most three years: its plan works per week, so a
campaign from the year 1 to the year 9999 is refused when it is written, not a failure when it is planned."""

from datetime import timedelta

import httpx
import pytest

from tests.campaigns.conftest import campaign_body, create, problem, week

pytestmark = pytest.mark.isolation("rollback")

FAR = "must lie between 1900-01-01 and 2099-12-31"


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in problem(response, 422)["errors"]]


async def test_a_campaign_from_the_year_1_to_9999_is_refused(client: httpx.AsyncClient) -> None:
    body = campaign_body(starts_on="0001-01-01", ends_on="9999-12-31")
    response = await client.post("/v1/campaigns/campaigns", json=body)
    assert _errors(response) == [("body.starts_on", FAR), ("body.ends_on", FAR)]
    assert (await client.get("/v1/campaigns/campaigns")).json()["items"] == [], "nothing was created"


async def test_a_campaign_runs_at_most_three_years(client: httpx.AsyncClient) -> None:
    start = week(1)
    longest = await client.post(
        "/v1/campaigns/campaigns",
        json=campaign_body(starts_on=start.isoformat(), ends_on=(start + timedelta(days=1095)).isoformat()),
    )
    assert longest.status_code == 201, longest.text
    too_long = campaign_body(starts_on=start.isoformat(), ends_on=(start + timedelta(days=1096)).isoformat())
    ((field, message),) = _errors(await client.post("/v1/campaigns/campaigns", json=too_long))
    assert field == "body.ends_on"
    assert "at most 1096 days" in message

    campaign = await create(client)
    stretched = await client.patch(
        f"/v1/campaigns/campaigns/{campaign['id']}", json={"ends_on": (start + timedelta(days=2000)).isoformat()}
    )
    ((field, message),) = _errors(stretched)
    assert field == "body.ends_on"
    assert "at most 1096 days" in message
    unchanged = (await client.get(f"/v1/campaigns/campaigns/{campaign['id']}")).json()
    assert unchanged["ends_on"] == campaign["ends_on"]


@pytest.mark.parametrize(
    ("audience", "field", "message"),
    [
        ({"last_order_from": "0001-01-01"}, "body.audience.last_order_from", FAR),
        ({"no_contact_days": 2**63}, "body.audience.no_contact_days", "must be from 1 to 3650 days"),
        (
            {"min_probability_alive": "1e400"},
            "body.audience.min_probability_alive",
            "must be from 0 to 1, with at most 4 decimal places",
        ),
    ],
)
async def test_audience_rules_outside_their_range_are_refused(
    client: httpx.AsyncClient, audience: dict, field: str, message: str
) -> None:
    response = await client.post("/v1/campaigns/campaigns", json=campaign_body(audience=audience))
    assert _errors(response) == [(field, message)]
