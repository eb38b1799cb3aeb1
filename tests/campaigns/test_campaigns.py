from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest


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


async def test_list_pages_through_every_campaign_in_id_order(client: httpx.AsyncClient, db_url: str) -> None:
    ids = await seed(
        db_url,
        {"name": "Win back 2025 lapsed", "kind": "reactivation", "channel": "post",
         "starts_on": date(2026, 1, 5), "ends_on": date(2026, 2, 27)},
        *({"name": f"Campaign {i}", "kind": "loyalty", "channel": "email"} for i in range(1, 7)),
    )  # fmt: skip
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
