"""Execution and measurement: contacts and responses, orders attributed within the window after a contact,
results of planned against actual, reactivated customers, and completed campaigns updating the priors."""

import csv
import io
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from campaigns.forecast.service import posterior
from campaigns.settings import CampaignsSettings
from tests.campaigns.conftest import NOW, FakeSegmentation, create, member, members, plan, problem

pytestmark = pytest.mark.isolation("rollback")


async def running(client: httpx.AsyncClient, contacts: str = "recorded", **overrides: Any) -> dict[str, Any]:
    campaign = await create(client, **overrides)
    await plan(client, campaign["id"])
    assert (await client.post(f"/v1/campaigns/campaigns/{campaign['id']}/approve")).status_code == 200
    started = await client.post(f"/v1/campaigns/campaigns/{campaign['id']}/start", json={"contacts": contacts})
    assert started.status_code == 200, started.text
    return started.json()


async def contact(client: httpx.AsyncClient, campaign_id: int, **when: datetime) -> httpx.Response:
    contacts = [{"external_id": k, "contacted_at": at.isoformat()} for k, at in when.items()]
    return await client.post(f"/v1/campaigns/campaigns/{campaign_id}/contacts", json={"contacts": contacts})


def lapsed(external_id: str) -> dict[str, Any]:
    return member(
        external_id, lifecycle="lapsed", phase="win_back", last_order_on=(NOW - timedelta(days=500)).date().isoformat()
    )


async def test_orders_within_the_window_after_a_contact_count_and_lapsed_buyers_are_reactivated(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [lapsed("K-1"), lapsed("K-2"), lapsed("K-3"), lapsed("K-4")]
    campaign = await running(client, kind="reactivation", channel="post", cost_per_contact="2.00")
    cid = campaign["id"]
    early, late = NOW - timedelta(days=80), NOW - timedelta(days=10)
    response = await contact(client, cid, **{"K-1": early, "K-2": early, "K-3": late})
    assert (response.status_code, response.json()) == (200, {"recorded": 3})
    segmentation.order("A-1", "K-1", early + timedelta(days=30), "400.00")  # in the window
    segmentation.order("A-2", "K-2", early + timedelta(days=65), "900.00")  # after 60 days: not the campaign's
    segmentation.order("A-3", "K-2", early - timedelta(days=1), "900.00")  # before the contact
    segmentation.order("A-4", "K-3", late + timedelta(days=5), "250.00", contribution_margin="100.00")
    segmentation.order("A-5", "K-4", late + timedelta(days=1), "700.00")  # never contacted
    reply = [{"external_id": "K-2", "response": "reply", "responded_at": NOW.isoformat()}]
    assert (await client.post(f"/v1/campaigns/campaigns/{cid}/responses", json={"responses": reply})).status_code == 200

    attributed = await client.post(f"/v1/campaigns/campaigns/{cid}/attribution")
    assert attributed.status_code == 200, attributed.text
    results = attributed.json()
    orders_request = next(r for r in segmentation.requests if r.url.path == "/v1/segmentation/orders")
    assert orders_request.url.params["status"] == "booked"
    assert results["last_attribution"]["orders_attributed"] == 2
    actual = results["actual"]
    assert (actual["contacts"], actual["responses"], actual["orders"]) == (3, "3", "2")
    assert (actual["revenue"], actual["contribution"]) == ("650.00", "220.00"), "120 (30 % of 400) + 100 given"
    assert (actual["cost"], actual["net"], actual["roi"]) == ("6.00", "214.00", "35.6667")
    assert results["reactivated"] == 2
    planned = results["planned"]
    assert (planned["contacts"], planned["responses"]) == (4, "0.40")
    assert results["by_z_stage"] == [
        {"z_stage": "Z4", "planned_contacts": 4, "planned_responses": "0.40", "contacts": 3, "responses": 3}
    ]
    reactivated = await members(client, cid, outcome="reactivated")
    assert [m["external_id"] for m in reactivated] == ["K-1", "K-3"]
    assert (await client.get(f"/v1/campaigns/campaigns/{cid}/results")).json() == results

    segmentation.orders = [o for o in segmentation.orders if o["external_id"] != "A-1"]  # cancelled in the ERP
    again = (await client.post(f"/v1/campaigns/campaigns/{cid}/attribution")).json()
    assert (again["actual"]["orders"], again["reactivated"]) == ("1", 1), "attribution starts afresh each time"


async def test_the_last_contact_before_an_order_takes_it(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [member("K-1")]
    first = await running(client)
    second = await running(client, channel="post")
    first_contact = NOW - timedelta(days=20)
    assert (await contact(client, first["id"], **{"K-1": first_contact})).status_code == 200
    assert (await contact(client, second["id"], **{"K-1": first_contact + timedelta(days=5)})).status_code == 200
    segmentation.order("B-1", "K-1", first_contact + timedelta(days=3), "100.00")  # between the two contacts
    segmentation.order("B-2", "K-1", first_contact + timedelta(days=8), "200.00")  # after the second
    one = (await client.post(f"/v1/campaigns/campaigns/{first['id']}/attribution")).json()
    two = (await client.post(f"/v1/campaigns/campaigns/{second['id']}/attribution")).json()
    assert (one["actual"]["revenue"], two["actual"]["revenue"]) == ("100.00", "200.00")


async def test_completed_campaigns_update_the_beta_posterior_of_their_kind_channel_and_group(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [lapsed(f"K-{i}") for i in range(5)]
    campaign = await running(client, kind="reactivation", channel="post")
    cid = campaign["id"]
    sent = NOW - timedelta(days=5)
    assert (await contact(client, cid, **{f"K-{i}": sent for i in range(5)})).status_code == 200
    for i in range(2):
        segmentation.order(f"C-{i}", f"K-{i}", sent + timedelta(days=2), "300.00")
    completed = await client.post(f"/v1/campaigns/campaigns/{cid}/complete", json={"by": "Chef"})
    assert completed.status_code == 200, completed.text
    assert (completed.json()["state"], completed.json()["history"][-1]["by"]) == ("completed", "Chef")

    priors = (await client.get("/v1/campaigns/priors", params={"kind": "reactivation", "channel": "post"})).json()
    z4 = next(p for p in priors if p["z_stage"] == "Z4")
    # Beta(0.10 x 100 + 2, 0.90 x 100 + 5 - 2) = Beta(12, 93)
    assert (z4["campaigns"], z4["contacts"], z4["responses"]) == (1, 5, 2)
    assert (Decimal(z4["alpha"]), Decimal(z4["beta"]), z4["mean"]) == (Decimal(12), Decimal(93), "0.11428571")
    z2 = next(p for p in priors if p["z_stage"] == "Z2")
    assert (z2["mean"], z2["contacts"]) == ("0.05000000", 0), "other groups keep their prior"
    other = (await client.get("/v1/campaigns/priors", params={"kind": "reactivation", "channel": "email"})).json()
    assert next(p for p in other if p["z_stage"] == "Z4")["mean"] == "0.10000000", "each channel learns apart"

    segmentation.members = [lapsed("K-NEW")]
    replanned = await plan(client, (await create(client, kind="reactivation", channel="post"))["id"])
    (scored,) = await members(client, replanned["id"])
    assert scored["p_response"] == "0.11428571", "the next plan uses what the company measured"


def test_the_beta_update_adds_responses_to_alpha_and_non_responses_to_beta() -> None:
    settings = CampaignsSettings(prior_strength=100)
    before = posterior(settings, "second_order", "email", "Z2")
    assert (before.alpha, before.beta, before.mean) == (Decimal("5.000000"), Decimal("95.000000"), Decimal("0.05"))
    after = posterior(settings, "second_order", "email", "Z2", 1, 200, Decimal(200), 30)
    assert (after.alpha, after.beta) == (Decimal("35.000000"), Decimal("265.000000"))
    assert after.mean == Decimal("0.11666667")
    assert after.sd < before.sd, "more evidence, less doubt"


async def test_contacts_and_responses_for_non_members_are_refused_and_nothing_is_recorded(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [member("K-1"), member("K-2")]
    cid = (await running(client))["id"]
    found = problem(await contact(client, cid, **{"K-1": NOW, "K-X": NOW}), 422)
    assert found["detail"].startswith("1 of the contacts name no member of the campaign's audience: 'K-X'.")
    assert (await members(client, cid, outcome="contacted")) == [], "all or nothing"
    reply = {"responses": [{"external_id": "K-1"}]}
    found = problem(await client.post(f"/v1/campaigns/campaigns/{cid}/responses", json=reply), 422)
    assert "record the contact first" in found["detail"]
    problem(await client.post(f"/v1/campaigns/campaigns/{cid}/contacts", json={"contacts": []}), 422)
    draft = await create(client)
    found = problem(await contact(client, draft["id"], **{"K-1": NOW}), 409)
    assert found["type"].endswith("/campaign-state")


async def test_the_audience_is_exported_as_csv_and_ndjson_with_each_personal_incentive(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    gift = {"name": "Thank-you hamper", "kind": "gift", "value": "40", "cost": "25.00", "cost_basis": "per_contact"}
    assert (await client.put("/v1/campaigns/incentives/hamper", json=gift)).status_code == 201
    segmentation.members = [member("K-1", average_order_value="3000.00"), member("K-2")]
    campaign = await create(client, incentives=["hamper"])
    await plan(client, campaign["id"])
    problem(await client.get(f"/v1/campaigns/campaigns/{campaign['id']}/export"), 409)
    assert (await client.post(f"/v1/campaigns/campaigns/{campaign['id']}/approve")).status_code == 200

    exported = await client.get(f"/v1/campaigns/campaigns/{campaign['id']}/export", params={"format": "csv"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["external_id"], r["rank"], r["incentive"], r["incentive_value"]) for r in rows] == [
        ("K-1", "1", "hamper", "40.00"),
        ("K-2", "2", "hamper", "40.00"),
    ]
    assert rows[0]["personal_code"].startswith(f"C{campaign['id']}-")
    assert rows[0]["expected_value"] == "64.00", "10 % x 3000 x 0.30 - 1 contact - 25 hamper"
    lines = (await client.get(f"/v1/campaigns/campaigns/{campaign['id']}/export?format=ndjson")).text.splitlines()
    assert [json.loads(line)["personal_code"] for line in lines] == [r["personal_code"] for r in rows]
