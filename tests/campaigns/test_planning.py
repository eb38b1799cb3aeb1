"""Planning: the audience chosen by rules, frozen and scored by expected value, every exclusion counted."""

from decimal import Decimal

import httpx
import pytest

from tests.campaigns.conftest import FakeSegmentation, create, member, members, plan, problem

pytestmark = pytest.mark.isolation("rollback")


async def test_members_are_scored_by_expected_value_ranked_and_every_exclusion_counted(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [
        member("K-A"),  # P 10 % x 1000 x 0.30 = 30 - 1 = 29
        member("K-B", probability_alive=0.4, expected_order_value="2000.00"),  # P 4 % x 2000 x 0.30 = 24 - 1 = 23
        member("K-C", consent_email=False),
        member("K-D", open_complaint=True),
        member("K-E", average_order_value="20.00"),  # 10 % x 20 x 0.30 = 0.60 - 1 = -0.40
        member("K-Z2", z_stage="Z2"),  # not asked for: a loyalty campaign is for Z4
    ]
    campaign = await create(client)
    planned = await plan(client, campaign["id"])

    assert planned["state"] == "planned"
    assert [(e["action"], e["from_state"], e["to_state"], e["by"]) for e in planned["history"]] == [
        ("create", "draft", "draft", "unknown"),
        ("plan", "draft", "planned", "Anna"),
    ]
    request = next(r for r in segmentation.requests if r.url.path == "/v1/segmentation/audiences")
    assert request.url.params.get_list("z_stage") == ["Z4"], "the kind's default group, never the whole base"
    result = planned["plan"]
    assert (result["considered"], result["included"]) == (5, 2)
    assert {rule: n for rule, n in result["excluded"].items() if n} == {
        "no_consent": 1,
        "open_complaint": 1,
        "negative_expected_value": 1,
    }
    found = {m["external_id"]: m for m in await members(client, campaign["id"])}
    assert (found["K-A"]["rank"], found["K-A"]["p_response"], found["K-A"]["expected_value"]) == (
        1,
        "0.10000000",
        "29.0000",
    )
    assert (found["K-B"]["rank"], found["K-B"]["p_response"], found["K-B"]["expected_value"]) == (
        2,
        "0.04000000",
        "23.0000",
    )
    assert (found["K-E"]["excluded_by"], found["K-E"]["expected_value"]) == ("negative_expected_value", "-0.4000")
    assert (found["K-C"]["excluded_by"], found["K-D"]["excluded_by"]) == ("no_consent", "open_complaint")
    assert found["K-B"]["features"]["probability_alive"] == 0.4, "each member frozen with his features"

    forecast = result["forecast"]
    assert forecast["members"] == 2
    assert Decimal(forecast["expected_responses"]) == Decimal("0.14")
    assert Decimal(forecast["expected_revenue"]) == Decimal("180.00")
    assert Decimal(forecast["expected_contribution"]) == Decimal("54.00")
    assert Decimal(forecast["expected_cost"]) == Decimal("2.00")
    assert Decimal(forecast["roi"]) == Decimal("26")
    assert sum(Decimal(w["expected_orders"]) for w in forecast["weeks"]) == Decimal("0.14")


async def test_unknown_campaign_plan_is_a_404(client: httpx.AsyncClient) -> None:
    problem(await client.post("/v1/campaigns/campaigns/999/plan"), 404)
