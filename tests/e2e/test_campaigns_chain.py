"""The whole chain through the gateway with every service running for real: the ERP's facts imported, the
customers segmented, capacity described, a campaign suggested, planned from segmentation's audience, approved
with a reservation at capacity, started, orders arriving at segmentation, attributed, measured and completed."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from gateway.keys.schemas import Scope
from tests.e2e.conftest import Stack, running_stack

LAPSED, ACTIVE = 12, 6
# Every component's clock (their FIXED_NOW), so that the chain never straddles a midnight or a Sunday night (the
# suggestion, capacity's week and the run's as-of day all read "today"): a Wednesday noon.
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[Stack]:
    yield from running_stack(database_url, fixed_now=NOW)


def facts() -> tuple[str, str]:
    """Twelve customers who bought three times 500 to 600 days ago (lapsed Z4) and six who buy now."""
    now = NOW
    customers = "external_id,name,kind,consent.email,consent.post\n" + "".join(
        f"CH-{i},Kunde {i},b2b,true,true\n" for i in range(LAPSED + ACTIVE)
    )
    orders = ["external_id,customer_external_id,ordered_at,net_amount,currency"]
    for i in range(LAPSED + ACTIVE):
        back = 500 if i < LAPSED else 20
        for n in range(3):
            at = now - timedelta(days=back + 40 * n)
            orders.append(f"CH-O-{i}-{n},CH-{i},{at.isoformat()},{600 + 10 * i}.00,EUR")
    return customers, "\n".join(orders) + "\n"


def until_done(client: httpx.Client, location: str) -> dict:
    for _ in range(300):
        job = client.get(location).json()
        if job["status"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError(job)


def test_import_segment_suggest_plan_approve_orders_results(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.new_key(Scope.write)}"}
    customers, orders = facts()
    with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=30) as client:
        for entity, body in (("customers", customers), ("orders", orders)):
            job = client.post(f"/v1/segmentation/imports/{entity}", content=body, headers={"Content-Type": "text/csv"})
            assert job.status_code == 201, job.text
        run = client.post("/v1/segmentation/runs", json={})
        assert until_done(client, run.headers["location"])["status"] == "succeeded"
        profile = client.get("/v1/segmentation/customers/CH-0/profile").json()["classification"]
        assert (profile["lifecycle"], profile["z_stage"]) == ("lapsed", "Z4")

        resource = {
            "name": "Service",
            "unit": "hours",
            "weekly_capacity": "10000",
            "load_per_order": "1.5",
            "new_customer_weekly_load": "1",
        }
        assert client.put("/v1/capacity/resources/chain-hours", json=resource).status_code in (200, 201)
        assert client.post("/v1/capacity/baseline/refresh").status_code == 200

        suggestions = client.get("/v1/campaigns/suggestions")
        assert suggestions.status_code == 200, suggestions.text
        suggested = {s["kind"]: s for s in suggestions.json()["suggestions"]}
        reactivation = suggested["reactivation"]
        assert (reactivation["members"], reactivation["capacity"]["fits"]) == (LAPSED, True)
        assert Decimal(reactivation["forecast"]["expected_orders"]) == Decimal("1.20")
        body = reactivation["campaign"] | {"name": "Nullkunden zurückgewinnen", "budget": "1000.00"}
        created = client.post("/v1/campaigns/campaigns", json=body, headers={"Idempotency-Key": "chain-1"})
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        replay = client.post("/v1/campaigns/campaigns", json=body, headers={"Idempotency-Key": "chain-1"})
        assert (replay.status_code, replay.json()["id"]) == (200, cid)

        planned = client.post(f"/v1/campaigns/campaigns/{cid}/plan", json={"by": "Vertrieb"})
        assert planned.status_code == 200, planned.text
        plan = planned.json()["plan"]
        assert (plan["considered"], plan["included"]) == (LAPSED, LAPSED), "the lapsed customers, no one else"
        assert plan["segmentation_filters"] == {"lifecycle": ["lapsed"]}
        assert (plan["capacity"]["checked"], plan["capacity"]["fits"]) == (True, True)
        expected_orders = Decimal(plan["forecast"]["expected_orders"])
        assert expected_orders == Decimal("1.20"), "12 lapsed Z4 customers at 10 %"

        approved = client.post(f"/v1/campaigns/campaigns/{cid}/approve", json={"by": "Geschäftsführung"})
        assert approved.status_code == 200, approved.text
        reservation = approved.json()["reservation"]
        at_capacity = client.get(f"/v1/capacity/reservations/{reservation['id']}").json()
        assert (at_capacity["campaign"], at_capacity["state"]) == (f"campaign-{cid}", "confirmed")
        reserved = sum(Decimal(line["granted"]) for line in at_capacity["lines"])
        assert reserved >= expected_orders * Decimal("1.5"), "the expected orders x 1.5 hours each"

        exported = client.get(f"/v1/campaigns/campaigns/{cid}/export", params={"format": "ndjson"})
        assert len(exported.text.splitlines()) == LAPSED
        started = client.post(f"/v1/campaigns/campaigns/{cid}/start", json={"contacts": "recorded"})
        assert started.json()["state"] == "running"
        # The mailing went out this morning and three of them ordered an hour before noon, where the clock stands.
        morning = (NOW - timedelta(hours=3)).isoformat()
        mailed = [
            {"external_id": json.loads(line)["external_id"], "contacted_at": morning}
            for line in exported.text.splitlines()
        ]
        assert client.post(f"/v1/campaigns/campaigns/{cid}/contacts", json={"contacts": mailed}).status_code == 200
        for i in range(3):
            order = {
                "customer_external_id": f"CH-{i}",
                "ordered_at": (NOW - timedelta(hours=1)).isoformat(),
                "net_amount": "800.00",
                "currency": "EUR",
            }
            assert client.put(f"/v1/segmentation/orders/CH-NEW-{i}", json=order).status_code == 201
        order = {
            "customer_external_id": f"CH-{LAPSED}",
            "ordered_at": (NOW - timedelta(hours=1)).isoformat(),
            "net_amount": "999.00",
            "currency": "EUR",
        }
        assert client.put("/v1/segmentation/orders/CH-NEW-X", json=order).status_code == 201  # not a member

        results = client.post(f"/v1/campaigns/campaigns/{cid}/attribution")
        assert results.status_code == 200, results.text
        found = results.json()
        assert (found["actual"]["contacts"], found["actual"]["orders"], found["actual"]["revenue"]) == (
            LAPSED,
            "3",
            "2400.00",
        )
        assert found["reactivated"] == 3
        assert (found["planned"]["responses"], found["actual"]["cost"]) == ("1.20", "18.00")
        reactivated = client.get(f"/v1/campaigns/campaigns/{cid}/members", params={"outcome": "reactivated"})
        assert sorted(m["external_id"] for m in reactivated.json()["items"]) == ["CH-0", "CH-1", "CH-2"]

        completed = client.post(f"/v1/campaigns/campaigns/{cid}/complete", json={"by": "Vertrieb"})
        assert completed.status_code == 200, completed.text
        assert (completed.json()["state"], completed.json()["reservation"]["state"]) == ("completed", "consumed")
        history = [(e["to_state"], e["by"]) for e in completed.json()["history"]]
        assert history[1:] == [
            ("planned", "Vertrieb"),
            ("approved", "Geschäftsführung"),
            ("running", history[3][1]),
            ("completed", "Vertrieb"),
        ]
        assert history[3][1].startswith("api-key:"), "without a name: the API key the gateway saw"
        priors = client.get("/v1/campaigns/priors", params={"kind": "reactivation", "channel": "post"}).json()
        z4 = next(p for p in priors if p["z_stage"] == "Z4")
        assert (z4["contacts"], z4["responses"]) == (LAPSED, 3)
        assert Decimal(z4["mean"]) > Decimal("0.10"), "the company's own result beats the seed's prior"
        metrics = httpx.get(f"{stack.services['campaigns'].url}/metrics").text
        assert 'campaigns_campaigns{state="completed"} 1.0' in metrics
