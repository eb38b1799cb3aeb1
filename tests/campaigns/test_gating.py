"""Capacity gating at approval: reserved in full when it fits, the audience trimmed (lowest expected value first)
when only part fits, refused when nothing fits or the policy says so, 503 when capacity is down; nothing
half-done, and a retried approval uses the reservation made before."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.campaigns.conftest import FakeCapacity, FakeSegmentation, create, member, members, plan, problem, week

pytestmark = pytest.mark.isolation("rollback")


def ten_members() -> list[dict[str, Any]]:
    """Z4 customers ordering 1000 down to 100: P 10 % each, 1.00 expected orders in all."""
    return [member(f"K-{i}", average_order_value=f"{1000 - 100 * i}.00") for i in range(10)]


async def planned(client: httpx.AsyncClient, segmentation: FakeSegmentation, **overrides: Any) -> dict[str, Any]:
    """Four weeks from next Monday: 0.25 expected orders a week, 0.50 assembly hours at 2 hours an order."""
    segmentation.members = ten_members()
    campaign = await create(client, **overrides)
    return await plan(client, campaign["id"])


async def approve(client: httpx.AsyncClient, campaign_id: int) -> httpx.Response:
    return await client.post(f"/v1/campaigns/campaigns/{campaign_id}/approve", json={"by": "Chef", "note": "ok"})


async def test_a_campaign_that_fits_reserves_its_expected_demand_and_confirms_it(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    campaign = await planned(client, segmentation)
    assert campaign["plan"]["capacity"] == {
        "checked": True,
        "fits": True,
        "fitting_share": "1.0000",
        "binding_week": None,
        "binding_resource": None,
        "detail": "Capacity can take every expected order.",
    }
    response = await approve(client, campaign["id"])
    assert response.status_code == 200, response.text
    approved = response.json()
    assert approved["state"] == "approved"
    assert approved["history"][-1] | {"at": None} == {
        "action": "approve",
        "from_state": "planned",
        "to_state": "approved",
        "by": "Chef",
        "at": None,
        "note": "ok",
    }
    assert approved["plan"]["approval"]["outcome"] == "fits"
    reservation = approved["reservation"]
    assert (reservation["campaign"], reservation["state"]) == (f"campaign-{campaign['id']}", "confirmed")
    assert [(ln["week_start"], ln["amount"]) for ln in reservation["lines"]] == [
        (week(i).isoformat(), "0.50") for i in range(1, 5)
    ], "0.25 orders a week x 2 hours"
    (made,) = capacity.reservations
    assert made["state"] == "confirmed"
    reserve = next(r for r in capacity.requests if r.method == "POST" and r.url.path == "/v1/capacity/reservations")
    assert reserve.headers["idempotency-key"] == f"campaign-{campaign['id']}-plan-1-1"

    again = await approve(client, campaign["id"])
    assert (again.status_code, len(capacity.reservations)) == (200, 1), "approving twice reserves once"


async def test_what_fits_in_part_is_reserved_after_cutting_the_lowest_expected_values(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    capacity.room_by_week[("assembly-hours", week(2))] = Decimal("0.30")  # 0.15 of the week's 0.25 orders
    campaign = await planned(client, segmentation)
    assert (campaign["plan"]["capacity"]["fits"], campaign["plan"]["capacity"]["fitting_share"]) == (False, "0.6000")

    response = await approve(client, campaign["id"])
    assert response.status_code == 200, response.text
    approved = response.json()
    approval = approved["plan"]["approval"]
    assert (approval["outcome"], approval["fitting_share"], approval["members_trimmed"]) == ("trimmed", "0.6000", 4)
    assert (approval["binding_week"], approval["binding_resource"]) == (week(2).isoformat(), "assembly-hours")
    assert "4 member(s) with the lowest expected value were cut" in approval["detail"]
    assert approved["plan"]["excluded"]["capacity"] == 4
    assert approved["plan"]["included"] == approved["plan"]["forecast"]["members"] == 6
    assert approved["plan"]["forecast_before_capacity"]["members"] == 10
    kept = [m["external_id"] for m in await members(client, campaign["id"], included=True)]
    assert kept == [f"K-{i}" for i in range(6)]
    cut = [m["external_id"] for m in await members(client, campaign["id"], excluded_by="capacity")]
    assert cut == [f"K-{i}" for i in range(6, 10)]
    assert [ln["amount"] for ln in approved["reservation"]["lines"]] == ["0.30"] * 4
    assert capacity.free("assembly-hours", week(2)) == 0


async def test_a_campaign_that_does_not_fit_is_refused_with_the_reason_and_nothing_changes(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    capacity.room_by_week[("assembly-hours", week(2))] = Decimal("0.30")
    refusing = await planned(client, segmentation, capacity_policy="refuse")
    found = problem(await approve(client, refusing["id"]), 409)
    assert found["type"].endswith("/capacity-refused")
    assert found["detail"].startswith("Capacity can take only 60% of the campaign's 1.00 expected orders")
    assert (found["fitting_share"], found["binding_resource"], found["capacity_policy"]) == (
        "0.6000",
        "assembly-hours",
        "refuse",
    )

    capacity.room_by_week[("assembly-hours", week(3))] = Decimal("0")
    trimming = await planned(client, segmentation)
    found = problem(await approve(client, trimming["id"]), 409)
    assert found["detail"].startswith("Capacity cannot take any of the campaign's 1.00 expected orders")

    for campaign in (refusing, trimming):
        after = (await client.get(f"/v1/campaigns/campaigns/{campaign['id']}")).json()
        assert (after["state"], after["reservation"], after["plan"]["approval"]) == ("planned", None, None)
        assert len(await members(client, campaign["id"], included=True)) == 10
    assert capacity.reservations == []


async def test_capacity_down_refuses_approval_with_a_503_and_nothing_changes(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    capacity.room_by_week[("assembly-hours", week(2))] = Decimal("0.30")
    campaign = await planned(client, segmentation)
    for failure in ("down", "reserve-down"):
        capacity.failure = failure
        found = problem(await approve(client, campaign["id"]), 503)
        assert found["detail"] == "The capacity service is unavailable; retry shortly."
        after = (await client.get(f"/v1/campaigns/campaigns/{campaign['id']}")).json()
        assert (after["state"], after["reservation"]) == ("planned", None)
        assert after["plan"]["excluded"]["capacity"] == 0, "the trimming was rolled back"
        assert len(await members(client, campaign["id"], included=True)) == 10
    assert capacity.reservations == []


async def test_a_retried_approval_uses_the_reservation_an_earlier_attempt_made(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    capacity.room_by_week[("assembly-hours", week(2))] = Decimal("0.30")
    campaign = await planned(client, segmentation)
    capacity.failure = "confirm-down"  # reserved at capacity, then the call to confirm fails
    problem(await approve(client, campaign["id"]), 503)
    assert [r["state"] for r in capacity.reservations] == ["held"]
    assert (await client.get(f"/v1/campaigns/campaigns/{campaign['id']}")).json()["state"] == "planned"

    capacity.failure = None
    capacity.room_by_week[("assembly-hours", week(2))] = Decimal("0.60")  # the hold takes 0.30 of it
    response = await approve(client, campaign["id"])
    assert response.status_code == 200, response.text
    approved = response.json()
    assert [r["state"] for r in capacity.reservations] == ["confirmed"], "the same reservation, confirmed"
    assert approved["reservation"]["id"] == capacity.reservations[0]["id"]
    assert approved["plan"]["approval"]["members_trimmed"] == 4, "trimmed as the reservation says"


async def test_cancelling_releases_the_reservation_and_capacity_down_keeps_it(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    campaign = await planned(client, segmentation)
    assert (await approve(client, campaign["id"])).status_code == 200
    capacity.failure = "down"
    problem(await client.post(f"/v1/campaigns/campaigns/{campaign['id']}/cancel"), 503)
    assert (await client.get(f"/v1/campaigns/campaigns/{campaign['id']}")).json()["state"] == "approved"
    capacity.failure = None
    response = await client.post(f"/v1/campaigns/campaigns/{campaign['id']}/cancel", json={"note": "budget cut"})
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert (cancelled["state"], cancelled["reservation"]["state"]) == ("cancelled", "released")
    assert capacity.reservations[0]["state"] == "released"
    assert capacity.held_total() == 0
    found = problem(await approve(client, campaign["id"]), 409)
    assert found["type"].endswith("/campaign-state")


async def test_without_a_baseline_at_capacity_approval_is_refused(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    campaign = await planned(client, segmentation)
    capacity.no_baseline = True
    found = problem(await approve(client, campaign["id"]), 409)
    assert found["detail"] == "Capacity cannot consider the plan: No baseline forecast yet."


async def test_no_resource_loaded_by_orders_means_nothing_to_reserve(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    capacity.loads = {"assembly-hours": Decimal("0")}
    campaign = await planned(client, segmentation, ends_on=(week(1) + timedelta(days=6)).isoformat())
    approved = (await approve(client, campaign["id"])).json()
    assert (approved["state"], approved["reservation"], approved["plan"]["approval"]["outcome"]) == (
        "approved",
        None,
        "no_load",
    )


async def test_planning_says_when_capacity_could_not_be_asked_and_still_plans(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    capacity.failure = "down"
    campaign = await planned(client, segmentation)
    assert campaign["state"] == "planned"
    assert campaign["plan"]["capacity"] == {
        "checked": False,
        "fits": None,
        "fitting_share": None,
        "binding_week": None,
        "binding_resource": None,
        "detail": "Capacity could not be asked: The capacity service is unavailable; retry shortly.",
    }


def test_expected_orders_spread_evenly_over_the_days_of_the_schedule() -> None:
    from datetime import date

    from campaigns.forecast.service import spread

    weeks = spread(Decimal("1.00"), date(2026, 12, 3), date(2026, 12, 16))  # Thursday to Wednesday, 14 days
    assert [(str(w.week_start), str(w.expected_orders)) for w in weeks] == [
        ("2026-11-30", "0.29"),
        ("2026-12-07", "0.50"),
        ("2026-12-14", "0.21"),
    ]
