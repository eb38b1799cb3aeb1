from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from capacity.main import create_app
from capacity.settings import CapacitySettings
from servicekit.testing import IsolatedDatabase

# The capacity app's clock in these tests (CAPACITY_FIXED_NOW), so that none depends on the day or hour it runs
# (a run across Sunday midnight UTC saw two different weeks): the last half hour of an ISO week.
NOW = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # a Sunday
THIS_WEEK = NOW.date() - timedelta(days=NOW.weekday())


def week(offset: int) -> date:
    """The Monday `offset` weeks from this week's."""
    return THIS_WEEK + timedelta(weeks=offset)


@dataclass
class FakeSegmentation:
    """The segmentation service's two endpoints capacity calls, over httpx.MockTransport.

    `orders(week_start, abc)` gives booked orders per week (abc None: every customer); `predicted` the
    expected orders per week from this week on (None: no usable model, a 409); `failure` makes every call
    fail the way it says.
    """

    orders: Callable[[date, str | None], int] = lambda week_start, abc: 40 if abc is None else 0
    predicted: list[str] | None = None
    model_response: httpx.Response | None = None  # answers weekly-purchases as given, when set
    failure: str | None = None  # "down", "500", "garbage", "timeout"
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failure == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.failure == "timeout":
            raise httpx.ReadTimeout("no answer", request=request)
        if self.failure == "500":
            return httpx.Response(500, json={"title": "Internal Server Error"})
        if self.failure == "garbage":
            return httpx.Response(200, content=b"<html>maintenance</html>")
        params = request.url.params
        if request.url.path == "/v1/segmentation/reports/weekly-orders":
            first, end = date.fromisoformat(params["from_date"]), date.fromisoformat(params["to_date"])
            weeks = [first + timedelta(weeks=i) for i in range((end - first).days // 7)]
            abc = params.get("abc")
            return httpx.Response(
                200,
                json={
                    "from_date": first.isoformat(),
                    "to_date": end.isoformat(),
                    "customers": 500,
                    "weeks": [
                        {
                            "week_start": w.isoformat(),
                            "iso_week": "",
                            "orders": self.orders(w, abc),
                            "net_amount": "0.00",
                        }
                        for w in weeks
                    ],
                },
            )
        if request.url.path == "/v1/segmentation/predictive/weekly-purchases":
            if self.model_response is not None:
                return self.model_response
            if self.predicted is None:
                return httpx.Response(409, json={"title": "Conflict", "detail": "No predictive model yet."})
            first = date.fromisoformat(params["from_date"])
            weeks = int(params["weeks"])
            return httpx.Response(
                200,
                json={
                    "fit_id": "4f6c1d2e-0000-4000-8000-000000000001",
                    "fitted_at": "2026-11-20T08:00:00Z",
                    "customers": 480,
                    "weeks": [
                        {
                            "week_start": (first + timedelta(weeks=i)).isoformat(),
                            "expected_orders": self.predicted[min(i, len(self.predicted) - 1)],
                        }
                        for i in range(weeks)
                    ],
                },
            )
        return httpx.Response(404, json={"title": "Not Found"})


@pytest.fixture
def segmentation() -> FakeSegmentation:
    return FakeSegmentation()


def make_app(db_url: str, segmentation: FakeSegmentation, **settings: Any) -> FastAPI:
    # Business metrics read afresh on every scrape, so that a test sees what it just did.
    settings = {
        "database_url": db_url,
        "log_json": False,
        "maintenance_interval_seconds": 0,
        "metrics_cache_seconds": 0,
        "fixed_now": NOW,
        **settings,
    }
    return create_app(CapacitySettings(**settings), segmentation_transport=httpx.MockTransport(segmentation.handle))


@pytest.fixture
async def client(isolated_db: IsolatedDatabase, segmentation: FakeSegmentation) -> AsyncIterator[httpx.AsyncClient]:
    async with isolated_db.client(make_app(isolated_db.url, segmentation)) as client:
        yield client


def resource(**overrides: Any) -> dict[str, Any]:
    """A resource body: 200 assembly hours a week, 2 per order, a new customer 3 a week, the default reserve."""
    body = {
        "name": "Assembly",
        "unit": "service hours",
        "weekly_capacity": "200",
        "load_per_order": "2",
        "new_customer_weekly_load": "3",
    }
    return body | overrides


async def put_resource(client: httpx.AsyncClient, key: str = "assembly-hours", **overrides: Any) -> dict[str, Any]:
    response = await client.put(f"/v1/capacity/resources/{key}", json=resource(**overrides))
    assert response.status_code in (200, 201), response.text
    return response.json()


async def refresh(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/v1/capacity/baseline/refresh")
    assert response.status_code == 200, response.text
    return response.json()


async def headroom(client: httpx.AsyncClient, key: str, week_start: date) -> dict[str, Any]:
    response = await client.get(
        "/v1/capacity/headroom", params={"resource": key, "from_week": str(week_start), "to_week": str(week_start)}
    )
    assert response.status_code == 200, response.text
    (cell,) = response.json()["weeks"]
    return cell


def units(value: str | int | float) -> str:
    """A decimal as the API writes amounts: two places."""
    return str(Decimal(value).quantize(Decimal("0.01")))


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()
