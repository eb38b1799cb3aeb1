from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from tests.campaigns.conftest import FakeSegmentation, create, member, members, plan

pytestmark = pytest.mark.isolation("rollback")


async def seed(db_url: str, *campaigns: dict[str, Any]) -> list[int]:
    """Insert campaigns straight into the table (in states no endpoint would reach so quickly); returns their ids."""
    connection = await asyncpg.connect(db_url)
    try:
        ids = []
        for campaign in campaigns:
            columns = ", ".join(campaign)
            placeholders = ", ".join(f"${i}" for i in range(1, len(campaign) + 1))
            sql = f"INSERT INTO campaigns.campaigns ({columns}) VALUES ({placeholders}) RETURNING id"
            ids.append(await connection.fetchval(sql, *campaign.values()))
        return ids
    finally:
        await connection.close()


@pytest.mark.isolation("truncate")  # seeds over a connection of its own
async def test_list_pages_through_every_campaign_in_id_order(client: httpx.AsyncClient, db_url: str) -> None:
    ids = await seed(
        db_url,
        {
            "name": "Win back 2025 lapsed",
            "kind": "reactivation",
            "channel": "post",
            "starts_on": date(2026, 1, 5),
            "ends_on": date(2026, 2, 27),
        },
        *({"name": f"Campaign {i}", "kind": "loyalty", "channel": "email"} for i in range(1, 7)),
    )
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/campaigns/campaigns", params=params)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 3
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [c["id"] for c in seen] == ids
    first = seen[0]
    shown = ("id", "name", "kind", "channel", "state", "starts_on", "ends_on")
    assert {k: first[k] for k in shown} == {
        "id": ids[0],
        "name": "Win back 2025 lapsed",
        "kind": "reactivation",
        "channel": "post",
        "state": "draft",
        "starts_on": "2026-01-05",
        "ends_on": "2026-02-27",
    }
    assert (first["plan"], first["reservation"], first["history"]) == (None, None, [])

    fetched = await client.get(f"/v1/campaigns/campaigns/{ids[0]}")
    assert fetched.status_code == 200
    assert fetched.json() == first


@pytest.mark.isolation("truncate")  # seeds over a connection of its own
async def test_list_filters_by_state_and_kind(client: httpx.AsyncClient, db_url: str) -> None:
    await seed(
        db_url,
        {"name": "A", "kind": "loyalty", "channel": "email", "state": "running"},
        {"name": "B", "kind": "reactivation", "channel": "visit", "state": "running"},
        {"name": "C", "kind": "loyalty", "channel": "event", "state": "planned"},
        {"name": "D", "kind": "loyalty", "channel": "phone", "state": "running"},
    )

    async def names(**params: str) -> list[str]:
        response = await client.get("/v1/campaigns/campaigns", params=params)
        assert response.status_code == 200
        return [c["name"] for c in response.json()["items"]]

    assert await names(state="running") == ["A", "B", "D"]
    assert await names(kind="loyalty") == ["A", "C", "D"]
    assert await names(state="running", kind="loyalty") == ["A", "D"]
    assert await names(state="cancelled") == []


async def test_unknown_campaign_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/campaigns/campaigns/424242")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No campaign with id 424242."


async def test_unknown_filter_values_are_a_422_problem_naming_each_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/campaigns/campaigns", params={"state": "bogus", "kind": "spam"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"query.state", "query.kind"}


@pytest.mark.isolation("truncate")  # writes over a connection of its own
@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"kind": "cold_calling"}, "ck_campaigns_kind"),
        ({"channel": "fax"}, "ck_campaigns_channel"),
        ({"state": "paused"}, "ck_campaigns_state"),
        ({"starts_on": date(2026, 3, 1), "ends_on": date(2026, 2, 1)}, "ck_campaigns_ends_after_start"),
    ],
)
async def test_database_rejects_what_the_api_could_not_return(
    db_url: str, values: dict[str, Any], constraint: str
) -> None:
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await seed(db_url, {"name": "Bad", "kind": "nurture", "channel": "email", **values})
    assert raised.value.constraint_name == constraint


async def test_a_campaign_is_created_once_per_idempotency_key(client: httpx.AsyncClient) -> None:
    body = {"name": "Spring", "kind": "second_order", "channel": "email", "cost_per_contact": "0.10"}
    first = await client.post("/v1/campaigns/campaigns", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"/v1/campaigns/campaigns/{first.json()['id']}"
    again = await client.post("/v1/campaigns/campaigns", json=body, headers={"Idempotency-Key": "k-1"})
    assert (again.status_code, again.headers["idempotent-replayed"], again.json()) == (200, "true", first.json())
    other = await client.post(
        "/v1/campaigns/campaigns", json=body | {"name": "Autumn"}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert len((await client.get("/v1/campaigns/campaigns")).json()["items"]) == 1


async def test_changing_a_planned_campaign_drops_its_plan_and_later_states_cannot_change(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [member("K-1")]
    campaign = await create(client)
    await plan(client, campaign["id"])
    changed = await client.patch(
        f"/v1/campaigns/campaigns/{campaign['id']}", json={"cost_per_contact": "2.00", "by": "Anna"}
    )
    assert changed.status_code == 200, changed.text
    found = changed.json()
    assert (found["state"], found["plan"], found["cost_per_contact"]) == ("draft", None, "2.00")
    assert found["history"][-1]["action"] == "change"
    assert await members(client, campaign["id"]) == []
    await plan(client, campaign["id"])
    assert (await client.post(f"/v1/campaigns/campaigns/{campaign['id']}/approve")).status_code == 200
    refused = await client.patch(f"/v1/campaigns/campaigns/{campaign['id']}", json={"name": "Other"})
    assert refused.status_code == 409
    assert refused.json()["allowed_states"] == ["draft", "planned"]
    bad = await client.patch(f"/v1/campaigns/campaigns/{campaign['id']}", json={"kind": "loyalty"})
    assert bad.status_code == 422, "the kind is what a campaign is: make another one"


async def test_segmentation_failing_during_planning_leaves_the_campaign_as_it_was(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.members = [member("K-1")]
    campaign = await create(client)
    for failure, status in (("down", 503), ("500", 502), ("garbage", 502)):
        segmentation.failure = failure
        response = await client.post(f"/v1/campaigns/campaigns/{campaign['id']}/plan")
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        after = (await client.get(f"/v1/campaigns/campaigns/{campaign['id']}")).json()
        assert (after["state"], after["plan"], after["history"][-1]["action"]) == ("draft", None, "create")
        assert await members(client, campaign["id"]) == []


@pytest.mark.isolation("truncate")  # seeds over a connection of its own; /metrics reads over the engine
async def test_gauges_count_campaigns_per_state(client: httpx.AsyncClient, db_url: str) -> None:
    await seed(
        db_url,
        {"name": "A", "kind": "loyalty", "channel": "email", "state": "running"},
        {"name": "B", "kind": "loyalty", "channel": "email"},
    )
    text = (await client.get("/metrics")).text
    assert 'campaigns_campaigns{state="running"} 1.0' in text
    assert 'campaigns_campaigns{state="draft"} 1.0' in text
    assert 'campaigns_planned_responses{campaign="' in text


async def test_an_idempotency_key_belongs_to_the_api_key_that_used_it(client: httpx.AsyncClient) -> None:
    body = {"name": "Spring", "kind": "second_order", "channel": "email"}
    created = {}
    for key_id, name in (("key-a", "Spring"), ("key-b", "Autumn")):
        headers = {"X-API-Key-Id": key_id, "Idempotency-Key": "k-1"}
        response = await client.post("/v1/campaigns/campaigns", json=body | {"name": name}, headers=headers)
        assert response.status_code == 201, response.text
        created[key_id] = response.json()
    for key_id, campaign in created.items():
        headers = {"X-API-Key-Id": key_id, "Idempotency-Key": "k-1"}
        again = await client.post("/v1/campaigns/campaigns", json=body | {"name": campaign["name"]}, headers=headers)
        assert (again.status_code, again.json()["id"]) == (200, campaign["id"])
        assert again.json()["history"][0]["by"] == f"api-key:{key_id}"
    assert len((await client.get("/v1/campaigns/campaigns")).json()["items"]) == 2
