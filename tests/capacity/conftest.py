from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from capacity.main import create_app
from capacity.settings import CapacitySettings
from capacity.weeks import current_week
from servicekit.testing import app_client

THIS_WEEK = current_week("UTC")


def week(offset: int) -> date:
    """The Monday `offset` weeks from this week's."""
    return THIS_WEEK + timedelta(weeks=offset)


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CapacitySettings(database_url=db_url, log_json=False))
    async with app_client(app) as client:
        yield client


def resource(**overrides: Any) -> dict[str, Any]:
    """A resource body: 200 assembly hours a week, 2 per order, a new customer 3 a week, the default reserve."""
    body = {"name": "Assembly", "unit": "service hours", "weekly_capacity": "200", "load_per_order": "2",
            "new_customer_weekly_load": "3"}  # fmt: skip
    return body | overrides


async def put_resource(client: httpx.AsyncClient, key: str = "assembly-hours", **overrides: Any) -> dict[str, Any]:
    response = await client.put(f"/v1/capacity/resources/{key}", json=resource(**overrides))
    assert response.status_code in (200, 201), response.text
    return response.json()


def units(value: str | int | float) -> str:
    """A decimal as the API writes amounts: two places."""
    return str(Decimal(value).quantize(Decimal("0.01")))


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()
