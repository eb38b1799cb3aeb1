from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest


async def seed(db_url: str, *resources: tuple[str, str, str, Decimal]) -> None:
    """Insert (key, name, unit, weekly_capacity) rows straight into the table (no write endpoints yet)."""
    connection = await asyncpg.connect(db_url)
    try:
        await connection.executemany(
            "INSERT INTO capacity.resources (key, name, unit, weekly_capacity) VALUES ($1, $2, $3, $4)", resources
        )
    finally:
        await connection.close()


async def test_list_pages_through_every_resource_in_creation_order(client: httpx.AsyncClient, db_url: str) -> None:
    await seed(
        db_url,
        ("assembly-hours", "Assembly", "service hours", Decimal("120.5")),
        *((f"line-{i}", f"Line {i}", "production units", Decimal(i * 100)) for i in range(1, 6)),
    )
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
    assert seen[0]["weekly_capacity"] == "120.50", "capacity is a decimal string with two places"
    assert seen[0]["unit"] == "service hours"
    assert "id" not in seen[0], "resources are addressed by key"


async def test_get_resource_by_key(client: httpx.AsyncClient, db_url: str) -> None:
    await seed(db_url, ("delivery-slots", "Delivery slots", "delivery slots", Decimal(40)))
    response = await client.get("/v1/capacity/resources/delivery-slots")
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == "delivery-slots"
    assert body["name"] == "Delivery slots"
    assert body["weekly_capacity"] == "40.00"


async def test_unknown_resource_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/capacity/resources/welding-hours")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No resource with key 'welding-hours'."


async def test_a_key_that_is_no_slug_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/capacity/resources/Assembly_Hours")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["path.key"]


@pytest.mark.parametrize(
    ("row", "error", "constraint"),
    [
        (("Assembly Hours", "Assembly", "h", Decimal(1)), asyncpg.CheckViolationError, "ck_resources_key_slug"),
        (("-assembly", "Assembly", "h", Decimal(1)), asyncpg.CheckViolationError, "ck_resources_key_slug"),
        (("assembly", "Assembly", "h", Decimal(-1)), asyncpg.CheckViolationError,
         "ck_resources_weekly_capacity_not_negative"),
        (("taken", "Second", "h", Decimal(1)), asyncpg.UniqueViolationError, "uq_resources_key"),
    ],
)  # fmt: skip
async def test_database_rejects_invalid_resources(
    db_url: str, row: tuple[Any, ...], error: type[Exception], constraint: str
) -> None:
    await seed(db_url, ("taken", "First", "h", Decimal(1)))
    with pytest.raises(error) as raised:
        await seed(db_url, row)
    assert raised.value.constraint_name == constraint
