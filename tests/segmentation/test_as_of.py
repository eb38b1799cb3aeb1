"""Classifications as of any day: a profile as of a day is what a full run as of that day gives the customer,
stores nothing, and says where its cut points came from; a back-dated run is a look at the past, read by its
id, that leaves the current classifications and their history alone; ties are broken and explained alike."""

import asyncio
from datetime import date, datetime, timedelta

import asyncpg
import httpx
import pytest

from segmentation.classification import compute
from tests.segmentation.conftest import TODAY
from tests.segmentation.test_classification import AS_OF, classify, customer, day, order, profile

EARLIER = AS_OF - timedelta(days=180)  # 2026-01-01


async def as_of(client: httpx.AsyncClient, external_id: str, on: date) -> dict:
    response = await client.get(f"/v1/segmentation/customers/{external_id}/profile", params={"as_of": on.isoformat()})
    assert response.status_code == 200, response.text
    return response.json()


async def by_run(client: httpx.AsyncClient, run_id: str, external_id: str) -> dict:
    response = await client.get(f"/v1/segmentation/runs/{run_id}/customers/{external_id}/profile")
    assert response.status_code == 200, response.text
    return response.json()["classification"]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def without_time(classification: dict) -> dict:
    """A classification without the instant it was computed at: what two computations of it can share."""
    return {k: v for k, v in classification.items() if k != "computed_at"}


async def lifecycles(client: httpx.AsyncClient) -> list[str]:
    """Customers whose lifecycle differs from 2026-01-01 to 2026-06-30 in every way it can, and others."""
    await customer(client, "COLD")  # Z0 prospect throughout
    await customer(client, "ASKED")  # Z1 prospect
    contact = {
        "customer_external_id": "ASKED",
        "kind": "inquiry",
        "channel": "web",
        "occurred_at": f"{day(5)}T09:00:00Z",
    }
    assert (await client.put("/v1/segmentation/interactions/I-1", json=contact)).status_code == 201
    await customer(client, "FIRST-BUY")  # prospect -> new
    await order(client, "FIRST-BUY", 30, "120.00")
    await customer(client, "SETTLED")  # new -> active
    await order(client, "SETTLED", 250, "80.00")
    await order(client, "SETTLED", 10, "93.95")
    await customer(client, "DRIFTED")  # active -> lapsed
    await order(client, "DRIFTED", 400, "500.00")
    await customer(client, "BACK")  # lapsed -> reactivated
    await order(client, "BACK", 900, "60.00")
    await order(client, "BACK", 50, "93.95")
    await customer(client, "STEADY", revenue_potential={"amount": "9000.00", "currency": "EUR"})  # active, Z4
    for d in (700, 500, 300, 100):
        await order(client, "STEADY", d, "250.00")
    await customer(client, "TIED")  # as much as BACK and SETTLED on the later day
    await order(client, "TIED", 20, "93.95")
    await customer(client, "LATE-PAYER")
    await order(client, "LATE-PAYER", 150, "40.00")
    invoice = {
        "customer_external_id": "LATE-PAYER",
        "issued_on": day(150),
        "due_on": day(120),
        "paid_on": day(60),
        "amount": "40.00",
        "currency": "EUR",
        "dunning_level": 1,
    }
    assert (await client.put("/v1/segmentation/invoices/R-1", json=invoice)).status_code == 201
    return ["COLD", "ASKED", "FIRST-BUY", "SETTLED", "DRIFTED", "BACK", "STEADY", "TIED", "LATE-PAYER"]


async def test_a_profile_as_of_a_day_is_what_a_run_as_of_that_day_gives(client: httpx.AsyncClient) -> None:
    customers = await lifecycles(client)
    before_any_run = {c: await as_of(client, c, EARLIER) for c in customers}
    for shown in before_any_run.values():
        assert shown["cut_points_from"]["source"] == "computed", "no run as of that day: computed for it"
        assert shown["classification"]["as_of"] == EARLIER.isoformat()
    assert len({p["cut_points_from"]["computed_at"] for p in before_any_run.values()}) == 1, "computed once, kept"
    assert (await profile(client, "BACK")) is None, "nothing stored by a read as of a day"
    assert (await client.get("/v1/segmentation/customers/BACK/history")).json() == []

    await classify(client, AS_OF)
    past = await classify(client, EARLIER)
    assert (past["back_dated"], past["changes"], past["customers"]) == (True, 0, len(customers))
    transitions = set()
    for c in customers:
        found = await by_run(client, past["id"], c)
        assert without_time(found) == without_time(before_any_run[c]["classification"]), c
        from_run = await as_of(client, c, EARLIER)
        assert (from_run["cut_points_from"]["source"], from_run["cut_points_from"]["run_id"]) == ("run", past["id"])
        assert without_time(from_run["classification"]) == without_time(found), c
        current = await profile(client, c)
        assert without_time((await as_of(client, c, AS_OF))["classification"]) == without_time(current), c
        transitions.add((found["lifecycle"], current["lifecycle"]))
    assert {
        ("prospect", "new"),
        ("new", "active"),
        ("active", "lapsed"),
        ("lapsed", "reactivated"),
        ("prospect", "prospect"),
        ("active", "active"),
    } <= transitions


async def test_a_back_dated_run_leaves_the_current_classifications_and_history_alone(
    client: httpx.AsyncClient,
) -> None:
    customers = await lifecycles(client)
    await classify(client, EARLIER)
    latest = await classify(client, AS_OF)
    assert latest["back_dated"] is False

    async def current() -> dict:
        shown = {}
        for c in customers:
            shown[c] = [
                (await client.get(f"/v1/segmentation/customers/{c}/{path}")).json() for path in ("profile", "history")
            ]
        return shown

    summary = (await client.get("/v1/segmentation/reports/summary")).json()
    before = await current()
    past = await classify(client, EARLIER + timedelta(days=1))
    assert past["back_dated"] is True
    assert await current() == before
    assert (await client.get("/v1/segmentation/reports/summary")).json() == summary
    # BACK was lapsed on the earlier day and reactivated on the later one: the look at the past records no
    # "reactivated -> lapsed" after it.
    history = [(c["attribute"], c["from_value"], c["to_value"], c["changed_on"]) for c in before["BACK"][1]]
    assert ("lifecycle", "lapsed", "reactivated", AS_OF.isoformat()) in history
    assert [c["changed_on"] for c in before["BACK"][1]] == sorted(c["changed_on"] for c in before["BACK"][1])
    assert (await by_run(client, past["id"], "BACK"))["lifecycle"] == "lapsed"

    page = (await client.get(f"/v1/segmentation/runs/{past['id']}/profiles", params={"limit": 4})).json()
    listed = [p["customer"]["external_id"] for p in page["items"]]
    while page["next_cursor"]:
        params = {"limit": 4, "cursor": page["next_cursor"]}
        page = (await client.get(f"/v1/segmentation/runs/{past['id']}/profiles", params=params)).json()
        listed += [p["customer"]["external_id"] for p in page["items"]]
    assert sorted(listed) == sorted(customers)
    current_run = await client.get(f"/v1/segmentation/runs/{latest['id']}/customers/BACK/profile")
    assert (current_run.status_code, current_run.headers["content-type"]) == (404, "application/problem+json")
    assert "wrote the current classifications" in current_run.json()["detail"]
    # An ingest after it still classifies against the latest current run's cut points, as of today.
    await order(client, "COLD", -100, "10.00")
    assert (await profile(client, "COLD"))["as_of"] == TODAY.isoformat()


async def test_kept_cut_points_are_computed_again_once_the_facts_change(client: httpx.AsyncClient, db_url: str) -> None:
    customers = await lifecycles(client)
    at_once = await asyncio.gather(*(as_of(client, c, AS_OF) for c in customers))
    assert len({p["cut_points_from"]["computed_at"] for p in at_once}) == 1, "computed once, by one of them"
    first = (await as_of(client, "SETTLED", AS_OF))["cut_points_from"]
    assert first == at_once[0]["cut_points_from"], "kept for the day"

    await customer(client, "BIG")  # an order before the day: A ends elsewhere now
    await order(client, "BIG", 60, "5000.00")
    again = await as_of(client, "SETTLED", AS_OF)
    assert instant(again["cut_points_from"]["computed_at"]) > instant(first["computed_at"])
    assert again["classification"]["reasons"]["abc"]["a_min_revenue"] == "5000.00"

    connection = await asyncpg.connect(db_url)
    try:
        # Recorded ingests that every kept snapshot sees are pruned.
        assert await connection.fetchval("SELECT count(*) FROM segmentation.fact_writes") == 0
        # An ingest still open when cut points are computed does not count until it commits, and then it does.
        ingest = connection.transaction()
        await ingest.start()
        await connection.execute("""UPDATE segmentation.orders SET net_amount = 9000.00, net_cents = 900000
                                    WHERE customer_id = (SELECT id FROM segmentation.customers
                                                         WHERE external_id = 'BIG')""")
        await connection.execute("INSERT INTO segmentation.fact_writes VALUES (pg_current_xact_id())")
        computed_meanwhile = await as_of(client, "SETTLED", AS_OF - timedelta(days=1))
        assert computed_meanwhile["classification"]["reasons"]["abc"]["a_min_revenue"] == "5000.00"
        await ingest.commit()
    finally:
        await connection.close()
    after = await as_of(client, "SETTLED", AS_OF - timedelta(days=1))
    assert instant(after["cut_points_from"]["computed_at"]) > instant(
        computed_meanwhile["cut_points_from"]["computed_at"]
    )
    assert after["classification"]["reasons"]["abc"]["a_min_revenue"] == "9000.00"


@pytest.mark.parametrize(
    ("on", "why"),
    [(TODAY + timedelta(days=1), "after today"), ("2026-02-30", "date"), ("1899-12-31", "between")],
)
async def test_a_day_to_come_or_no_day_is_refused(client: httpx.AsyncClient, on: object, why: str) -> None:
    await customer(client, "ANY")
    response = await client.get("/v1/segmentation/customers/ANY/profile", params={"as_of": str(on)})
    assert (response.status_code, response.headers["content-type"]) == (422, "application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["query.as_of"]
    assert why in response.text
    today = await client.get("/v1/segmentation/customers/ANY/profile", params={"as_of": TODAY.isoformat()})
    assert today.json()["classification"]["lifecycle"] == "prospect"
    assert (
        await client.get("/v1/segmentation/customers/NOBODY/profile", params={"as_of": "2026-01-01"})
    ).status_code == 404


async def test_an_ingest_breaks_a_tie_as_the_run_did(client: httpx.AsyncClient) -> None:
    for external_id, amount in {"A1": "50.00", "A2": "30.00", "B1": "10.00", "B2": "5.00", "C1": "5.00"}.items():
        await customer(client, external_id)
        await order(client, external_id, 30, amount)
    await classify(client, TODAY)
    assert [(await profile(client, c))["abc"] for c in ("B2", "C1")] == ["B", "C"]
    for external_id in ("C1", "B2"):  # a contact changes no revenue, but classifies the customer again
        contact = {
            "customer_external_id": external_id,
            "kind": "inquiry",
            "channel": "web",
            "occurred_at": f"{TODAY}T08:00:00Z",
        }
        assert (await client.put(f"/v1/segmentation/interactions/T-{external_id}", json=contact)).status_code == 201
    c1 = await profile(client, "C1")
    assert (c1["abc"], c1["reasons"]["z_stage"]["interactions"]) == ("C", 1), "as the run broke the tie"
    assert (await profile(client, "B2"))["abc"] == "B"
    assert (
        c1["reasons"]["abc"]["ties"][0]["said"]
        == "tie at 5.00 with 2 customers, broken by external id: B up to B2, C after"
    )


async def test_cut_points_and_reasons_are_exact_decimals(client: httpx.AsyncClient) -> None:
    for external_id, amount in {"LOW": "63.27", "HIGH": "63.28"}.items():
        await customer(client, external_id)
        await order(client, external_id, 30, amount)
    run = await classify(client)
    splits = (run["cut_points"]["matrix_revenue_split"], run["cut_points"]["matrix_potential_split"])
    assert splits == ("63.275", "63.275")
    assert (run["cut_points"]["abc_a_last_external_id"], run["cut_points"]["abc_a_tied"]) == ("LOW", 1)
    quadrant = (await profile(client, "LOW"))["reasons"]["quadrant"]
    assert (quadrant["revenue_split"], quadrant["revenue_12m"], quadrant["potential"]) == ("63.275", "63.27", "63.27")
    assert (await as_of(client, "LOW", AS_OF))["classification"]["reasons"]["quadrant"]["revenue_split"] == "63.275"


async def test_cut_points_stored_before_ties_were_kept_give_a_tie_the_higher_class(
    client: httpx.AsyncClient, db_url: str
) -> None:
    for external_id, amount in {"A1": "50.00", "A2": "30.00", "B1": "10.00", "B2": "5.00", "C1": "5.00"}.items():
        await customer(client, external_id)
        await order(client, external_id, 30, amount)
    await classify(client, TODAY)
    connection = await asyncpg.connect(db_url)
    try:  # as runs stored them before: the lowest revenue of each class alone
        await connection.execute("""
            UPDATE segmentation.runs SET cut_points = cut_points - ARRAY(
                SELECT key FROM jsonb_object_keys(cut_points) key
                WHERE key LIKE '%\\_last\\_external\\_id' OR key LIKE '%\\_tied%')""")
    finally:
        await connection.close()
    contact = {"customer_external_id": "C1", "kind": "inquiry", "channel": "web", "occurred_at": f"{TODAY}T08:00:00Z"}
    assert (await client.put("/v1/segmentation/interactions/T-C1", json=contact)).status_code == 201
    c1 = await profile(client, "C1")
    assert (c1["abc"], c1["reasons"]["abc"]["b_min_revenue"], c1["reasons"]["abc"]["ties"]) == ("B", "5.00", [])


async def test_the_newest_back_dated_runs_results_are_kept(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compute, "PAST_RUNS_KEPT", 2)
    await customer(client, "ANY")
    await order(client, "ANY", 100)
    await classify(client, AS_OF)
    past = [await classify(client, EARLIER + timedelta(days=n)) for n in range(3)]
    gone = await client.get(f"/v1/segmentation/runs/{past[0]['id']}/customers/ANY/profile")
    assert (gone.status_code, gone.headers["content-type"]) == (404, "application/problem+json")
    assert "no longer kept" in gone.json()["detail"]
    for run in past[1:]:
        assert (await by_run(client, run["id"], "ANY"))["as_of"] == run["as_of"]


async def test_a_run_as_of_an_earlier_day_than_an_ingests_leaves_that_customer_as_the_ingest_left_him(
    client: httpx.AsyncClient,
) -> None:
    await customer(client, "LATE")
    await order(client, "LATE", 500, "70.00")
    await classify(client, EARLIER)
    assert (await profile(client, "LATE"))["lifecycle"] == "active"
    # Today (after every run's day) he orders again: the ingest classifies him as of today.
    await order(client, "LATE", (AS_OF - TODAY).days, "30.00")
    ingested = await profile(client, "LATE")
    history = (await client.get("/v1/segmentation/customers/LATE/history")).json()
    assert (ingested["as_of"], ingested["order_count"]) == (TODAY.isoformat(), 2)

    # A run as of a day after the last run's but before today is not back-dated; it sees only his first order.
    run = await classify(client, AS_OF)
    assert run["back_dated"] is False
    assert (await by_run_or_none(client, run["id"])) == 404

    assert await profile(client, "LATE") == ingested, "not written backwards to the run's day"
    assert (await client.get("/v1/segmentation/customers/LATE/history")).json() == history
    assert (await as_of(client, "LATE", AS_OF))["classification"]["order_count"] == 1, "the run's day, read as such"


async def by_run_or_none(client: httpx.AsyncClient, run_id: str) -> int:
    return (await client.get(f"/v1/segmentation/runs/{run_id}/customers/LATE/profile")).status_code
