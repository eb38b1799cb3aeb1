from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.capacity.conftest import problem, put_resource, resource, week

pytestmark = pytest.mark.isolation("rollback")


async def test_put_creates_then_replaces_a_resource(client: httpx.AsyncClient) -> None:
    created = await client.put(
        "/v1/capacity/resources/assembly-hours",
        json=resource(weekly_capacity="120.5", load_per_order_by_abc={"A": "4.25"}),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["weekly_capacity"] == "120.50", "capacity is a decimal string with two places"
    assert (body["load_per_order"], body["load_per_order_by_abc"]) == ("2.0000", {"A": "4.2500"})
    assert body["reserve_share"] == "0.1000", "10 % of capacity is kept for existing customers unless said otherwise"
    assert "id" not in body, "resources are addressed by key"

    replaced = await client.put(
        "/v1/capacity/resources/assembly-hours", json=resource(weekly_capacity="80", reserve_share="0.25")
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["created_at"] == body["created_at"]
    read = (await client.get("/v1/capacity/resources/assembly-hours")).json()
    assert (read["weekly_capacity"], read["reserve_share"]) == ("80.00", "0.2500")
    assert read["load_per_order_by_abc"] == {}, "a PUT replaces: the ABC loads left out are gone"


async def test_list_pages_through_every_resource_in_creation_order(client: httpx.AsyncClient) -> None:
    for key in ("assembly-hours", "line-1", "line-2", "line-3", "line-4", "line-5"):
        await put_resource(client, key)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/capacity/resources", params=params)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [r["key"] for r in seen] == ["assembly-hours", "line-1", "line-2", "line-3", "line-4", "line-5"]


async def test_unknown_resource_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/v1/capacity/resources/welding-hours"), 404)
    assert body["detail"] == "No resource with key 'welding-hours'."


async def test_a_key_that_is_no_slug_is_a_422_problem(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/v1/capacity/resources/Assembly_Hours"), 422)
    assert [e["field"] for e in body["errors"]] == ["path.key"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"weekly_capacity": "-1"}, "body.weekly_capacity"),
        ({"weekly_capacity": "lots"}, "body.weekly_capacity"),
        ({"weekly_capacity": "NaN"}, "body.weekly_capacity"),
        ({"load_per_order": "-0.5"}, "body.load_per_order"),
        ({"reserve_share": "1.5"}, "body.reserve_share"),
        ({"load_per_order_by_abc": {"D": "1"}}, "body.load_per_order_by_abc.D.[key]"),
        ({"new_customer_weekly_load": None}, "body.new_customer_weekly_load"),
        ({"colour": "blue"}, "body.colour"),
    ],
)
async def test_invalid_resources_are_422_problems_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    body = problem(await client.put("/v1/capacity/resources/assembly-hours", json=resource(**overrides)), 422)
    assert field in [e["field"] for e in body["errors"]]
    assert (await client.get("/v1/capacity/resources/assembly-hours")).status_code == 404


async def seed(db_url: str, *rows: tuple[Any, ...]) -> None:
    connection = await asyncpg.connect(db_url)
    try:
        await connection.executemany(
            "INSERT INTO capacity.resources (key, name, unit, weekly_capacity, load_per_order, "
            "new_customer_weekly_load, reserve_share) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            rows,
        )
    finally:
        await connection.close()


def row(key: str = "assembly", capacity: int = 1, load: int = 1, new: int = 1, share: str = "0.1") -> tuple[Any, ...]:
    return (key, "Assembly", "h", Decimal(capacity), Decimal(load), Decimal(new), Decimal(share))


@pytest.mark.isolation("truncate")  # writes over a connection of its own
@pytest.mark.parametrize(
    ("bad", "error", "constraint"),
    [
        (row(key="Assembly Hours"), asyncpg.CheckViolationError, "ck_resources_key_slug"),
        (row(key="-assembly"), asyncpg.CheckViolationError, "ck_resources_key_slug"),
        (row(capacity=-1), asyncpg.CheckViolationError, "ck_resources_weekly_capacity_not_negative"),
        (row(load=-1), asyncpg.CheckViolationError, "ck_resources_load_per_order_not_negative"),
        (row(new=-1), asyncpg.CheckViolationError, "ck_resources_new_customer_weekly_load_not_negative"),
        (row(share="1.01"), asyncpg.CheckViolationError, "ck_resources_reserve_share_a_share"),
        (row(key="taken"), asyncpg.UniqueViolationError, "uq_resources_key"),
    ],
)
async def test_database_rejects_invalid_resources(
    db_url: str, bad: tuple[Any, ...], error: type[Exception], constraint: str
) -> None:
    await seed(db_url, row(key="taken"))
    with pytest.raises(error) as raised:
        await seed(db_url, bad)
    assert raised.value.constraint_name == constraint


# --- capacity exceptions --------------------------------------------------------------------------


async def test_an_exception_is_created_listed_read_and_deleted(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    body = {
        "resource": "assembly-hours",
        "starts_on": str(week(1)),
        "ends_on": str(week(2)),
        "capacity": "0",
        "reason": "Plant shutdown",
    }
    created = await client.post("/v1/capacity/exceptions", json=body)
    assert created.status_code == 201, created.text
    exception = created.json()
    assert created.headers["location"] == f"/v1/capacity/exceptions/{exception['id']}"
    assert (exception["first_week"], exception["last_week"]) == (str(week(1)), str(week(2)))
    assert (exception["capacity"], exception["delta"]) == ("0.00", None)
    listed = (await client.get("/v1/capacity/exceptions", params={"resource": "assembly-hours"})).json()
    assert [e["id"] for e in listed["items"]] == [exception["id"]]
    assert (await client.get(f"/v1/capacity/exceptions/{exception['id']}")).json() == exception
    assert (await client.delete(f"/v1/capacity/exceptions/{exception['id']}")).status_code == 204
    problem(await client.get(f"/v1/capacity/exceptions/{exception['id']}"), 404)
    problem(await client.delete(f"/v1/capacity/exceptions/{exception['id']}"), 404)


async def test_an_exception_dated_inside_a_week_covers_the_whole_week(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    wednesday, next_tuesday = week(1) + timedelta(days=2), week(2) + timedelta(days=1)
    created = await client.post(
        "/v1/capacity/exceptions",
        json={
            "resource": "assembly-hours",
            "starts_on": str(wednesday),
            "ends_on": str(next_tuesday),
            "delta": "-8",
            "reason": "Holidays",
        },
    )
    assert (created.json()["first_week"], created.json()["last_week"]) == (str(week(1)), str(week(2)))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity": "-5"}, "body.capacity"),
        ({"capacity": "10", "delta": "-5"}, "body"),
        ({}, "body"),
        ({"delta": "ten"}, "body.delta"),
        ({"delta": "-5", "ends_on": str(week(0) - timedelta(days=1))}, "body"),  # ends before it starts
        ({"delta": "-5", "resource": "welding-hours"}, "body.resource"),
        ({"delta": "-5", "starts_on": str(week(-3)), "ends_on": str(week(-2))}, "body.ends_on"),  # all past
    ],
)
async def test_invalid_exceptions_are_422_problems_and_write_nothing(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    await put_resource(client)
    body = {"resource": "assembly-hours", "starts_on": str(week(0)), "ends_on": str(week(0)), "reason": "x"} | change
    found = problem(await client.post("/v1/capacity/exceptions", json=body), 422)
    assert field in [e["field"] for e in found["errors"]], found
    assert (await client.get("/v1/capacity/exceptions")).json()["items"] == []


async def test_an_exception_with_a_used_idempotency_key_is_replayed_not_doubled(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    body = {
        "resource": "assembly-hours",
        "starts_on": str(week(1)),
        "ends_on": str(week(1)),
        "delta": "-16",
        "reason": "Public holiday",
    }
    headers = {"Idempotency-Key": "holiday-2026-12-08"}
    first = await client.post("/v1/capacity/exceptions", json=body, headers=headers)
    second = await client.post("/v1/capacity/exceptions", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert len((await client.get("/v1/capacity/exceptions")).json()["items"]) == 1
    other = problem(await client.post("/v1/capacity/exceptions", json=body | {"delta": "-8"}, headers=headers), 422)
    assert "Idempotency-Key 'holiday-2026-12-08' was used before" in other["detail"]
