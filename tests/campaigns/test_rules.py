"""Consent and attention, incentives per member, limits: who is left out of an audience and by which rule."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from servicekit.testing import IsolatedDatabase
from tests.campaigns.conftest import (
    NOW,
    TODAY,
    FakeCapacity,
    FakeSegmentation,
    create,
    make_app,
    member,
    members,
    plan,
    problem,
)

pytestmark = pytest.mark.isolation("rollback")


async def put_incentive(client: httpx.AsyncClient, key: str, **body: Any) -> None:
    defaults = {"name": key, "kind": "gift", "value": "20", "cost": "8.00", "cost_basis": "per_contact"}
    response = await client.put(f"/v1/campaigns/incentives/{key}", json=defaults | body)
    assert response.status_code == 201, response.text


def excluded(planned: dict[str, Any]) -> dict[str, int]:
    return {rule: n for rule, n in planned["plan"]["excluded"].items() if n}


async def test_prepayment_only_customers_get_no_credit_and_incentives_go_by_eligibility(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    await put_incentive(
        client,
        "pay-later",
        kind="payment_terms",
        credit_based=True,
        value="30",
        value_unit="amount",
        cost="5.00",
        cost_basis="per_response",
    )
    await put_incentive(client, "thanks-gift")
    await put_incentive(client, "z3-only", eligibility={"z_stage": ["Z3"]})
    segmentation.members = [member("K-1"), member("K-PRE", payment="prepayment_only")]

    credit_only = await plan(client, (await create(client, incentives=["pay-later"]))["id"])
    assert excluded(credit_only) == {"prepayment_only": 1}
    (k1,) = await members(client, credit_only["id"], included=True)
    assert (k1["external_id"], k1["incentive"], k1["incentive_cost"]) == ("K-1", "pay-later", "0.5000")
    assert k1["expected_value"] == "28.5000", "30 - 1 contact - 10 % x 5 redeemed"
    assert k1["personal_code"].startswith(f"C{credit_only['id']}-")

    fallback = await plan(client, (await create(client, incentives=["pay-later", "thanks-gift"]))["id"])
    assert excluded(fallback) == {}
    found = {m["external_id"]: m["incentive"] for m in await members(client, fallback["id"])}
    assert found == {"K-1": "pay-later", "K-PRE": "thanks-gift"}, "the first incentive each may have"

    nobody = await plan(client, (await create(client, incentives=["z3-only"]))["id"])
    assert excluded(nobody) == {"not_eligible_for_incentive": 2}


async def test_consent_is_per_channel(client: httpx.AsyncClient, segmentation: FakeSegmentation) -> None:
    segmentation.members = [
        member("K-MAIL", consent_phone=False, consent_post=False),
        member("K-PHONE", consent_email=False, consent_post=False),
        member("K-POST", consent_email=False, consent_phone=False),
    ]

    async def included(channel: str) -> list[str]:
        planned = await plan(client, (await create(client, channel=channel, cost_per_contact="0"))["id"])
        assert planned["plan"]["excluded"]["no_consent"] == 3 - planned["plan"]["included"]
        return [m["external_id"] for m in await members(client, planned["id"], included=True)]

    assert await included("email") == ["K-MAIL"]
    assert await included("phone") == ["K-PHONE"]
    assert await included("post") == ["K-POST"]
    assert await included("visit") == ["K-PHONE"], "a visit is arranged by phone"
    assert sorted(await included("event")) == ["K-MAIL", "K-POST"], "an invitation by post or email"


async def test_the_contact_cap_counts_contacts_of_every_campaign_and_spares_complaint_recovery(
    isolated_db: IsolatedDatabase, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    segmentation.members = [member("K-1"), member("K-2"), member("K-3", open_complaint=True)]
    app = make_app(isolated_db.url, segmentation, capacity, contact_cap=2, contact_cap_days=30)
    async with isolated_db.client(app) as client:
        first = await plan(client, (await create(client))["id"])
        assert (await client.post(f"/v1/campaigns/campaigns/{first['id']}/approve")).status_code == 200
        assert (await client.post(f"/v1/campaigns/campaigns/{first['id']}/start")).status_code == 200
        segmentation.members = [member("K-1"), member("K-2")]
        second = await plan(client, (await create(client, channel="post"))["id"])
        assert (await client.post(f"/v1/campaigns/campaigns/{second['id']}/approve")).status_code == 200
        assert excluded(second) == {}, "one contact (recorded) so far: under the cap of 2"

        segmentation.members = [member("K-1"), member("K-2"), member("K-3", open_complaint=True)]
        third = await plan(client, (await create(client, channel="phone"))["id"])
        assert excluded(third) == {"contact_cap": 2, "open_complaint": 1}, "a contact made, one approved to come"
        recovery = await plan(client, (await create(client, kind="complaint_recovery", channel="phone"))["id"])
        assert excluded(recovery) == {"no_open_complaint": 2}
        assert [m["external_id"] for m in await members(client, recovery["id"], included=True)] == ["K-3"]

        later = await create(
            client, starts_on=(TODAY + timedelta(days=70)).isoformat(), ends_on=(TODAY + timedelta(days=80)).isoformat()
        )
        assert excluded(await plan(client, later["id"])) == {"open_complaint": 1}, "outside the rolling period"


async def test_size_limit_budget_and_the_planners_override(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [member(f"K-{i}", average_order_value=f"{1000 - 100 * i}.00") for i in range(5)] + [
        member("K-LOW", average_order_value="10.00")
    ]
    limited = await plan(client, (await create(client, size_limit=3))["id"])
    assert excluded(limited) == {"size_limit": 2, "negative_expected_value": 1}
    assert [m["external_id"] for m in await members(client, limited["id"], included=True)] == ["K-0", "K-1", "K-2"]

    budgeted = await plan(client, (await create(client, budget="2.50"))["id"])
    assert excluded(budgeted) == {"budget": 3, "negative_expected_value": 1}, "two contacts at 1.00 fit in 2.50"

    overridden = await plan(client, (await create(client, include_negative_value=True))["id"])
    assert (overridden["plan"]["included"], overridden["plan"]["negative_value_kept"]) == (6, 1)
    assert excluded(overridden) == {}


async def test_probability_alive_and_recent_contacts_narrow_the_audience(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [
        member("K-ALIVE", lifecycle="lapsed", probability_alive=0.6),
        member("K-GONE", lifecycle="lapsed", probability_alive=0.05),
        member("K-UNKNOWN", lifecycle="lapsed"),
        member("K-TALKED", lifecycle="lapsed", probability_alive=0.9),
    ]
    segmentation.interactions = [
        {
            "external_id": "T-1",
            "customer_external_id": "K-TALKED",
            "kind": "call",
            "channel": "phone",
            "occurred_at": (NOW - timedelta(days=10)).isoformat(),
        }
    ]
    rules = {"min_probability_alive": "0.3", "no_contact_days": 90}
    planned = await plan(client, (await create(client, kind="reactivation", channel="post", audience=rules))["id"])
    request = next(r for r in segmentation.requests if r.url.path == "/v1/segmentation/audiences")
    assert request.url.params.get_list("lifecycle") == ["lapsed"]
    assert excluded(planned) == {"probability_alive_below_minimum": 1, "recent_contact": 1}
    found = {m["external_id"]: m for m in await members(client, planned["id"], included=True)}
    assert set(found) == {"K-ALIVE", "K-UNKNOWN"}, "without a model nobody is ruled out by it"
    assert Decimal(found["K-ALIVE"]["p_response"]) == Decimal("0.06"), "the Z4 prior x probability alive"


async def test_relative_last_order_days_become_segmentation_filters(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    rules = {"last_order_days_ago_min": 30, "last_order_days_ago_max": 60}
    await plan(client, (await create(client, kind="second_order", audience=rules))["id"])
    request = next(r for r in segmentation.requests if r.url.path == "/v1/segmentation/audiences")
    assert request.url.params.get_list("z_stage") == ["Z2"]
    assert request.url.params["last_order_from"] == (TODAY - timedelta(days=60)).isoformat()
    assert request.url.params["last_order_before"] == (TODAY - timedelta(days=29)).isoformat()


async def test_bad_campaigns_are_refused_with_problems_and_nothing_written(client: httpx.AsyncClient) -> None:
    body = {"name": "x", "kind": "cold_calling", "channel": "fax", "cost_per_contact": "-1"}
    found = problem(await client.post("/v1/campaigns/campaigns", json=body), 422)
    assert {e["field"] for e in found["errors"]} == {"body.kind", "body.channel", "body.cost_per_contact"}
    found = problem(
        await client.post(
            "/v1/campaigns/campaigns",
            json={"name": "x", "kind": "loyalty", "channel": "email", "incentives": ["nothing"]},
        ),
        422,
    )
    assert found["errors"][0]["field"] == "body.incentives.0"
    found = problem(
        await client.post(
            "/v1/campaigns/campaigns",
            json={
                "name": "x",
                "kind": "loyalty",
                "channel": "email",
                "starts_on": "2026-12-10",
                "ends_on": "2026-12-01",
            },
        ),
        422,
    )
    assert (await client.get("/v1/campaigns/campaigns")).json()["items"] == []
    unscheduled = await create(client, starts_on=None, ends_on=None)
    found = problem(await client.post(f"/v1/campaigns/campaigns/{unscheduled['id']}/plan"), 409)
    assert "starts_on and ends_on" in found["detail"]
    assert (await client.get(f"/v1/campaigns/campaigns/{unscheduled['id']}")).json()["state"] == "draft"
