"""Suggestions: what to do now, each scored like a plan (nothing stored), with its forecast and capacity."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from tests.campaigns.conftest import FakeCapacity, FakeSegmentation, member, problem, week

TODAY = datetime.now(UTC).date()


async def test_suggestions_name_the_seed_advice_with_a_forecast_and_capacity(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    segmentation.members = [
        member("K-LAPSED", lifecycle="lapsed", probability_alive=0.5, last_order_on="2024-01-10"),
        member("K-DEAD", lifecycle="lapsed", probability_alive=0.02, last_order_on="2023-01-10"),
        member("K-FIRST", z_stage="Z2", order_count=1, last_order_on=(TODAY - timedelta(days=45)).isoformat()),
        member("K-TOO-NEW", z_stage="Z2", order_count=1, last_order_on=(TODAY - timedelta(days=10)).isoformat()),
        member("K-KEY", key_account=True, average_order_value="5000.00"),
        member("K-KEY-TALKED", key_account=True, average_order_value="5000.00"),
    ]
    segmentation.interactions = [
        {"external_id": "T-1", "customer_external_id": "K-KEY-TALKED", "kind": "meeting", "channel": "visit",
         "occurred_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()}
    ]  # fmt: skip
    capacity.room_by_week[("assembly-hours", week(0))] = Decimal("0")
    response = await client.get("/v1/campaigns/suggestions")
    assert response.status_code == 200, response.text
    found = {s["kind"]: s for s in response.json()["suggestions"]}
    assert set(found) == {"reactivation", "second_order", "loyalty"}

    reactivation = found["reactivation"]
    assert (reactivation["considered"], reactivation["members"]) == (2, 1)
    assert reactivation["excluded"] == {"probability_alive_below_minimum": 1}
    assert reactivation["campaign"]["audience"]["lifecycle"] == ["lapsed"]
    assert reactivation["campaign"]["cost_per_contact"] == "1.50"
    assert found["second_order"]["members"] == 1, "30 to 60 days after the first order"
    loyalty = found["loyalty"]
    assert (loyalty["channel"], loyalty["members"], loyalty["excluded"]) == ("phone", 1, {"recent_contact": 1})
    assert Decimal(loyalty["forecast"]["expected_revenue"]) == Decimal("500.00")
    nets = [Decimal(s["forecast"]["expected_net"]) for s in response.json()["suggestions"]]
    assert nets == sorted(nets, reverse=True), "best first"
    assert all(s["capacity"]["checked"] for s in found.values())
    assert loyalty["capacity"]["fits"] is False, "nothing fits this week"

    created = await client.post("/v1/campaigns/campaigns", json=loyalty["campaign"])
    assert created.status_code == 201, "a suggestion is a campaign body, ready to create"
    assert [c["id"] for c in (await client.get("/v1/campaigns/campaigns")).json()["items"]] == [created.json()["id"]], (
        "suggesting stores nothing"
    )


async def test_suggestions_without_segmentation_are_a_503(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.failure = "down"
    found = problem(await client.get("/v1/campaigns/suggestions"), 503)
    assert found["detail"] == "The segmentation service is unavailable; retry shortly."
