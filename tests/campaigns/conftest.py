"""The campaigns service against a real Postgres, with segmentation and capacity faked over httpx.MockTransport
(DESIGN rule 10): what those fakes answer is what docs/api.md says the real services answer."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from campaigns.main import create_app
from campaigns.settings import CampaignsSettings
from servicekit.testing import IsolatedDatabase

# The campaigns app's clock in these tests (CAMPAIGNS_FIXED_NOW), so that no test depends on the day or the hour it
# runs: the last half hour of an ISO week, where "today" and "this week" are easiest to get wrong. A test proving
# a rule for every weekday or another time zone makes its app with its own (make_app(..., fixed_now=...)).
NOW = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # a Sunday
TODAY = NOW.date()
THIS_WEEK = TODAY - timedelta(days=TODAY.weekday())


def week(offset: int) -> date:
    return THIS_WEEK + timedelta(weeks=offset)


def member(external_id: str, **overrides: Any) -> dict[str, Any]:
    """An audience line as segmentation streams it: a Z4 active A customer, consenting on every channel."""
    line = {
        "external_id": external_id,
        "kind": "b2b",
        "consent_email": True,
        "consent_phone": True,
        "consent_post": True,
        "lifecycle": "active",
        "z_stage": "Z4",
        "abc": "A",
        "quadrant": "top",
        "payment": "punctual",
        "phase": "maturity",
        "key_account": False,
        "order_count": 5,
        "revenue_12m": "5000.00",
        "average_order_value": "1000.00",
        "potential": None,
        "last_order_on": (TODAY - timedelta(days=40)).isoformat(),
        "open_complaint": False,
        "probability_alive": None,
        "expected_purchases": None,
        "expected_order_value": None,
        "predicted_revenue_12m": None,
        "clv": None,
    }
    return line | overrides


_LIST_FILTERS = ("lifecycle", "z_stage", "abc", "quadrant", "payment", "phase")


@dataclass
class FakeSegmentation:
    """Segmentation's audiences, orders and interactions. `failure`: "down", "500", "garbage"."""

    members: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def order(self, order_id: str, customer: str, ordered_at: datetime, amount: str, **extra: Any) -> None:
        self.orders.append(
            {
                "external_id": order_id,
                "customer_external_id": customer,
                "ordered_at": ordered_at.isoformat(),
                "net_amount": amount,
                "currency": "EUR",
                "contribution_margin": None,
                "status": "booked",
                "created_at": ordered_at.isoformat(),
                "updated_at": ordered_at.isoformat(),
                **extra,
            }
        )

    def _matches(self, m: dict[str, Any], params: httpx.QueryParams) -> bool:
        for name in _LIST_FILTERS:
            wanted = params.get_list(name)
            if wanted and m.get(name) not in wanted:
                return False
        if "key_account" in params and str(m["key_account"]).lower() != params["key_account"]:
            return False
        for channel in params.get_list("consent"):
            if not m.get(f"consent_{channel}"):
                return False
        if "min_revenue_12m" in params and Decimal(m["revenue_12m"]) < Decimal(params["min_revenue_12m"]):
            return False
        if "max_revenue_12m" in params and Decimal(m["revenue_12m"]) > Decimal(params["max_revenue_12m"]):
            return False
        last = m.get("last_order_on")
        if "last_order_from" in params and (last is None or last < params["last_order_from"]):
            return False
        return not ("last_order_before" in params and (last is None or last >= params["last_order_before"]))

    def _page(self, items: list[dict[str, Any]], params: httpx.QueryParams) -> httpx.Response:
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 50)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return httpx.Response(200, json={"items": page, "next_cursor": str(start + limit) if more else None})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failure == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.failure == "500":
            return httpx.Response(500, json={"title": "Internal Server Error"})
        if self.failure == "garbage":
            return httpx.Response(200, content=b"<html>maintenance</html>\n")
        params = request.url.params
        if request.url.path == "/v1/segmentation/audiences":
            lines = "".join(json.dumps(m) + "\n" for m in self.members if self._matches(m, params))
            return httpx.Response(200, content=lines.encode(), headers={"content-type": "application/x-ndjson"})
        if request.url.path == "/v1/segmentation/orders":
            start = datetime.fromisoformat(params["ordered_from"])
            end = datetime.fromisoformat(params["ordered_before"])
            found = [
                o
                for o in self.orders
                if start <= datetime.fromisoformat(o["ordered_at"]) < end
                and o["status"] == params.get("status", o["status"])
            ]
            return self._page(found, params)
        if request.url.path == "/v1/segmentation/interactions":
            since = datetime.fromisoformat(params["occurred_from"])
            found = [i for i in self.interactions if datetime.fromisoformat(i["occurred_at"]) >= since]
            return self._page(found, params)
        return httpx.Response(404, json={"title": "Not Found"})


@dataclass
class FakeCapacity:
    """Capacity's resources, what-if and reservations, with `room` units free per resource and week (minus what
    its reservations hold). `failure`: "down" fails every call, "reserve-down" only reservations, "confirm-down"
    only confirming."""

    loads: dict[str, Decimal] = field(default_factory=lambda: {"assembly-hours": Decimal("2")})
    room: dict[str, Decimal] = field(default_factory=lambda: {"assembly-hours": Decimal("100000")})
    room_by_week: dict[tuple[str, date], Decimal] = field(default_factory=dict)
    reservations: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
    failure: str | None = None
    no_baseline: bool = False
    requests: list[httpx.Request] = field(default_factory=list)

    def free(self, resource: str, week_start: date) -> Decimal:
        room = self.room_by_week.get((resource, week_start), self.room[resource])
        held = sum(
            (
                Decimal(ln["granted"])
                for r in self.reservations
                if r["state"] in ("held", "confirmed", "consumed")
                for ln in r["lines"]
                if ln["resource"] == resource and ln["week_start"] == week_start.isoformat()
            ),
            Decimal(0),
        )
        return max(Decimal(0), room - held)

    def held_total(self) -> Decimal:
        return sum(
            (
                Decimal(ln["granted"])
                for r in self.reservations
                if r["state"] in ("held", "confirmed", "consumed")
                for ln in r["lines"]
            ),
            Decimal(0),
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if (
            self.failure == "down"
            or (self.failure == "reserve-down" and "/reservations" in path)
            or (self.failure == "confirm-down" and path.endswith("/confirm"))
        ):
            raise httpx.ConnectError("connection refused", request=request)
        if path == "/v1/capacity/resources":
            items = [{"key": k, "load_per_order": str(v)} for k, v in self.loads.items()]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        if (
            self.no_baseline
            and request.method == "POST"
            and path in ("/v1/capacity/what-if", "/v1/capacity/reservations")
        ):
            return httpx.Response(409, json={"title": "Conflict", "status": 409, "detail": "No baseline forecast yet."})
        if path == "/v1/capacity/what-if":
            return self._what_if(json.loads(request.content))
        if path == "/v1/capacity/reservations" and request.method == "POST":
            return self._reserve(json.loads(request.content), request.headers.get("idempotency-key"))
        if path == "/v1/capacity/reservations":
            campaign = request.url.params.get("campaign")
            items = [r for r in self.reservations if r["campaign"] == campaign]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        if path.startswith("/v1/capacity/reservations/"):
            _, _, _, _, rid, action = path.split("/")
            found = next(r for r in self.reservations if r["id"] == int(rid))
            moves = {
                "confirm": ("held", "confirmed"),
                "release": ("held confirmed", "released"),
                "consume": ("confirmed", "consumed"),
            }
            allowed, to = moves[action]
            if found["state"] != to:
                if found["state"] not in allowed.split():
                    return httpx.Response(
                        409,
                        json={
                            "title": "Conflict",
                            "status": 409,
                            "state": found["state"],
                            "detail": f"Reservation is {found['state']}.",
                        },
                    )
                found["state"] = to
            return httpx.Response(200, json=found)
        return httpx.Response(404, json={"title": "Not Found"})

    def _what_if(self, body: dict[str, Any]) -> httpx.Response:
        weeks = []
        for w in body["weeks"]:
            monday = date.fromisoformat(w["week_start"])
            orders = Decimal(w["orders"])
            fitting, binding, resources = orders, None, []
            for key, load in self.loads.items():
                if load <= 0:
                    continue
                free = self.free(key, monday)
                fit = (free / load).quantize(Decimal("0.01"), ROUND_FLOOR)
                resources.append({"resource": key, "needed": str(orders * load), "available": str(free)})
                if fit < fitting:
                    fitting, binding = fit, key
            weeks.append(
                {
                    "week_start": monday.isoformat(),
                    "iso_week": "",
                    "orders": str(orders),
                    "fitting_orders": str(fitting),
                    "fits": fitting == orders,
                    "binding_resource": binding,
                    "resources": resources,
                }
            )
        total = sum((Decimal(w["orders"]) for w in weeks), Decimal(0))
        fit = sum((Decimal(w["fitting_orders"]) for w in weeks), Decimal(0))
        return httpx.Response(
            200,
            json={
                "baseline": {},
                "fits": fit == total,
                "orders": str(total),
                "fitting_orders": str(fit),
                "fitting_share": None,
                "weeks": weeks,
                "reservation_lines": [],
            },
        )

    def _reserve(self, body: dict[str, Any], key: str | None) -> httpx.Response:
        if key and key in self.keys:
            found = next(r for r in self.reservations if r["id"] == self.keys[key])
            return httpx.Response(200, json=found)
        shortfalls = []
        for line in body["lines"]:
            free = self.free(line["resource"], date.fromisoformat(line["week_start"]))
            if Decimal(line["amount"]) > free:
                shortfalls.append(
                    {
                        "resource": line["resource"],
                        "week_start": line["week_start"],
                        "requested": line["amount"],
                        "available": str(free),
                    }
                )
        if shortfalls:
            return httpx.Response(
                409,
                json={
                    "title": "Conflict",
                    "status": 409,
                    "detail": "Does not fit.",
                    "shortfalls": shortfalls,
                    "would_fit": [],
                },
            )
        reservation = {
            "id": len(self.reservations) + 1,
            "campaign": body["campaign"],
            "state": "held",
            "partial": False,
            "lines": [
                {
                    "resource": ln["resource"],
                    "week_start": ln["week_start"],
                    "requested": ln["amount"],
                    "granted": ln["amount"],
                }
                for ln in body["lines"]
            ],
        }
        self.reservations.append(reservation)
        if key:
            self.keys[key] = reservation["id"]
        return httpx.Response(201, json=reservation)


@pytest.fixture
def segmentation() -> FakeSegmentation:
    return FakeSegmentation()


@pytest.fixture
def capacity() -> FakeCapacity:
    return FakeCapacity()


def make_app(db_url: str, segmentation: FakeSegmentation, capacity: FakeCapacity, **settings: Any) -> FastAPI:
    return create_app(
        # Business metrics read afresh on every scrape, so that a test sees what it just did.
        CampaignsSettings(
            **{"database_url": db_url, "log_json": False, "metrics_cache_seconds": 0, "fixed_now": NOW, **settings}
        ),
        segmentation_transport=httpx.MockTransport(segmentation.handle),
        capacity_transport=httpx.MockTransport(capacity.handle),
    )


@pytest.fixture
async def client(
    isolated_db: IsolatedDatabase, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> AsyncIterator[httpx.AsyncClient]:
    async with isolated_db.client(make_app(isolated_db.url, segmentation, capacity)) as client:
        yield client


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def campaign_body(**overrides: Any) -> dict[str, Any]:
    """A loyalty mailing to Z4 customers over the next four weeks, 1 EUR per contact."""
    body = {
        "name": "Thank-you mailing",
        "kind": "loyalty",
        "channel": "email",
        "starts_on": week(1).isoformat(),
        "ends_on": (week(1) + timedelta(days=27)).isoformat(),
        "cost_per_contact": "1.00",
    }
    return body | overrides


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/campaigns/campaigns", json=campaign_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def plan(client: httpx.AsyncClient, campaign_id: int) -> dict[str, Any]:
    response = await client.post(f"/v1/campaigns/campaigns/{campaign_id}/plan", json={"by": "Anna"})
    assert response.status_code == 200, response.text
    return response.json()


async def members(client: httpx.AsyncClient, campaign_id: int, **params: Any) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        query = {"limit": 1000, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/v1/campaigns/campaigns/{campaign_id}/members", params=query)
        assert response.status_code == 200, response.text
        found += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if not cursor:
            return found
