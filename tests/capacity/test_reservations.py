"""Reservations for campaigns: granted in full, in part or refused; held until confirmed or expired;
released and consumed; idempotent replays; bad input refused with nothing written."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from capacity import maintenance
from servicekit.testing import app_client
from tests.capacity.conftest import FakeSegmentation, headroom, make_app, problem, put_resource, refresh, week

pytestmark = pytest.mark.isolation("rollback")


@pytest.fixture
async def ready(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Assembly: 200 hours, baseline 80 (40 orders x 2), reserve 20: a headroom of 100 every week.
    Delivery: 50 slots, baseline 20, reserve 5: 25."""
    await put_resource(client)
    await put_resource(client, "delivery-slots", weekly_capacity="50", load_per_order="0.5")
    await refresh(client)
    return client


def line(amount: str, offset: int = 1, key: str = "assembly-hours") -> dict[str, str]:
    return {"resource": key, "week_start": str(week(offset)), "amount": amount}


async def reserve(client: httpx.AsyncClient, *lines: dict, key: str | None = None, **options: Any) -> httpx.Response:
    body = {"campaign": "winback-q1", "lines": list(lines), **options}
    return await client.post("/v1/capacity/reservations", json=body, headers={"Idempotency-Key": key} if key else {})


async def room(client: httpx.AsyncClient, offset: int = 1, key: str = "assembly-hours") -> str:
    return (await headroom(client, key, week(offset)))["headroom"]


async def test_a_reservation_that_fits_is_held_in_full_and_counts_against_the_headroom(
    ready: httpx.AsyncClient,
) -> None:
    response = await reserve(ready, line("60"), line("10", key="delivery-slots"))
    assert response.status_code == 201, response.text
    held = response.json()
    assert response.headers["location"] == f"/v1/capacity/reservations/{held['id']}"
    assert (held["state"], held["partial"]) == ("held", False)
    assert [(x["resource"], x["requested"], x["granted"]) for x in held["lines"]] == [
        ("assembly-hours", "60.00", "60.00"),
        ("delivery-slots", "10.00", "10.00"),
    ]
    expires_in = datetime.fromisoformat(held["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=890) < expires_in <= timedelta(seconds=900), "held for the default 15 minutes"
    cell = await headroom(ready, "assembly-hours", week(1))
    assert (cell["held"], cell["headroom"], cell["acquisition_limit"]) == ("60.00", "40.00", 13)
    assert await room(ready, 1, "delivery-slots") == "15.00"
    assert await room(ready, 2) == "100.00", "other weeks are untouched"


async def test_what_does_not_fit_is_refused_with_the_reason_and_what_would_fit(ready: httpx.AsyncClient) -> None:
    found = problem(await reserve(ready, line("60"), line("30", key="delivery-slots")), 409)
    assert found["type"].endswith("/insufficient-capacity")
    assert "delivery-slots in" in found["detail"]
    assert "has 25.00 left of 30.00 asked" in found["detail"]
    assert found["shortfalls"] == [
        {
            "resource": "delivery-slots",
            "week_start": str(week(1)),
            "iso_week": found["shortfalls"][0]["iso_week"],
            "requested": "30.00",
            "available": "25.00",
        }
    ]
    assert [(x["resource"], x["amount"]) for x in found["would_fit"]] == [
        ("assembly-hours", "60.00"),
        ("delivery-slots", "25.00"),
    ]
    assert (await room(ready), await room(ready, 1, "delivery-slots")) == ("100.00", "25.00"), "nothing held"
    assert (await ready.get("/v1/capacity/reservations")).json()["items"] == []


async def test_with_allow_partial_what_fits_is_granted(ready: httpx.AsyncClient) -> None:
    response = await reserve(ready, line("60"), line("30", key="delivery-slots"), allow_partial=True)
    assert response.status_code == 201, response.text
    held = response.json()
    assert held["partial"] is True
    assert [x["granted"] for x in held["lines"]] == ["60.00", "25.00"]
    assert await room(ready, 1, "delivery-slots") == "0.00"
    nothing = problem(await reserve(ready, line("5", key="delivery-slots"), allow_partial=True), 409)
    assert nothing["detail"].startswith("Nothing fits")


async def test_held_confirmed_consumed_and_released_count_as_they_should(ready: httpx.AsyncClient) -> None:
    first = (await reserve(ready, line("30"))).json()
    second = (await reserve(ready, line("20"))).json()
    assert await room(ready) == "50.00"

    confirmed = await ready.post(f"/v1/capacity/reservations/{first['id']}/confirm")
    assert (confirmed.status_code, confirmed.json()["state"], confirmed.json()["expires_at"]) == (
        200,
        "confirmed",
        None,
    )
    consumed = await ready.post(f"/v1/capacity/reservations/{first['id']}/consume")
    assert consumed.json()["state"] == "consumed"
    cell = await headroom(ready, "assembly-hours", week(1))
    assert (cell["held"], cell["confirmed"], cell["consumed"], cell["headroom"]) == ("20.00", "0.00", "30.00", "50.00")

    released = await ready.post(f"/v1/capacity/reservations/{second['id']}/release")
    assert released.json()["state"] == "released"
    assert await room(ready) == "70.00", "a released hold frees its capacity; consumed orders keep counting"

    again = await ready.post(f"/v1/capacity/reservations/{second['id']}/release")
    assert (again.status_code, again.json()["state"]) == (200, "released"), "releasing twice changes nothing"
    for action, reservation, state in [
        ("confirm", second, "released"),
        ("consume", second, "released"),
        ("release", first, "consumed"),
    ]:
        found = problem(await ready.post(f"/v1/capacity/reservations/{reservation['id']}/{action}"), 409)
        assert found["state"] == state
        assert f"is {state}" in found["detail"]
    held = (await reserve(ready, line("5"))).json()
    problem(await ready.post(f"/v1/capacity/reservations/{held['id']}/consume"), 409)  # confirm first

    listed = (await ready.get("/v1/capacity/reservations", params={"state": "consumed"})).json()["items"]
    assert [r["id"] for r in listed] == [first["id"]]


@pytest.mark.isolation("truncate")  # reads the stored state over a connection of its own
async def test_a_hold_stops_counting_when_it_expires_even_before_a_sweep(
    ready: httpx.AsyncClient, db_url: str, segmentation: FakeSegmentation
) -> None:
    short = (await reserve(ready, line("70"), hold_seconds=1)).json()
    lasting = (await reserve(ready, line("10"))).json()
    assert await room(ready) == "20.00"
    await asyncio.sleep(1.2)

    assert await room(ready) == "90.00", "the expired hold counts for nothing"
    assert (await ready.get(f"/v1/capacity/reservations/{short['id']}")).json()["state"] == "expired"
    expired = (await ready.get("/v1/capacity/reservations", params={"state": "expired"})).json()["items"]
    held = (await ready.get("/v1/capacity/reservations", params={"state": "held"})).json()["items"]
    assert ([r["id"] for r in expired], [r["id"] for r in held]) == ([short["id"]], [lasting["id"]])
    found = problem(await ready.post(f"/v1/capacity/reservations/{short['id']}/confirm"), 409)
    assert found["state"] == "expired"
    assert (await reserve(ready, line("90"))).status_code == 201, "its capacity went to the next campaign"

    assert await stored_state(db_url, short["id"]) == "held", "no sweep has run: reads alone say expired"
    app = make_app(db_url, segmentation)
    async with app_client(app):
        await maintenance.run_once(app)
    assert await stored_state(db_url, short["id"]) == "expired", "the sweep writes down what reads already said"
    assert await stored_state(db_url, lasting["id"]) == "held"


async def stored_state(db_url: str, reservation_id: int) -> str:
    connection = await asyncpg.connect(db_url)
    try:
        return await connection.fetchval("SELECT state FROM capacity.reservations WHERE id = $1", reservation_id)
    finally:
        await connection.close()


async def test_the_same_idempotency_key_replays_the_first_reservation(ready: httpx.AsyncClient) -> None:
    first = await reserve(ready, line("30"), key="campaign-7-week-1")
    again = await reserve(ready, line("30"), key="campaign-7-week-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()
    assert await room(ready) == "70.00", "held once"

    other = problem(await reserve(ready, line("31"), key="campaign-7-week-1"), 422)
    assert other["type"].endswith("/idempotency-key-reused")
    await ready.post(f"/v1/capacity/reservations/{first.json()['id']}/release")
    replayed = await reserve(ready, line("30"), key="campaign-7-week-1")
    assert (replayed.status_code, replayed.json()["state"]) == (200, "released"), "a replay shows it as it is now"


async def test_a_refused_request_stores_nothing_so_its_retry_asks_again(ready: httpx.AsyncClient) -> None:
    blocking = (await reserve(ready, line("90"))).json()
    problem(await reserve(ready, line("30"), key="retry-me"), 409)
    await ready.post(f"/v1/capacity/reservations/{blocking['id']}/release")
    assert (await reserve(ready, line("30"), key="retry-me")).status_code == 201


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([line("10"), line("5", key="welding-hours")], "body.lines.1.resource"),
        ([line("10", offset=-1)], "body.lines.0.week_start"),
        ([line("10", offset=26)], "body.lines.0.week_start"),
        ([{**line("10"), "week_start": str(week(1) + timedelta(days=2))}], "body.lines.0.week_start"),
        ([line("ten")], "body.lines.0.amount"),
        ([line("NaN")], "body.lines.0.amount"),
        ([line("-5")], "body.lines.0.amount"),
        ([line("0")], "body.lines.0.amount"),
        ([line("1.005")], "body.lines.0.amount"),
        ([line("10"), line("20")], "body.lines"),
        ([], "body.lines"),
    ],
)
async def test_bad_reservations_are_422_problems_and_write_nothing(
    ready: httpx.AsyncClient, lines: list, field: str
) -> None:
    found = problem(await reserve(ready, *lines), 422)
    assert [e["field"] for e in found["errors"]] == [field], found
    assert (await ready.get("/v1/capacity/reservations")).json()["items"] == []
    assert await room(ready) == "100.00"


async def test_an_unknown_reservation_is_a_404_problem(ready: httpx.AsyncClient) -> None:
    for request in (
        ready.get("/v1/capacity/reservations/999"),
        ready.post("/v1/capacity/reservations/999/confirm"),
        ready.post("/v1/capacity/reservations/999/release"),
    ):
        found = problem(await request, 404)
        assert found["detail"] == "No reservation with id 999."
    problem(await ready.get("/v1/capacity/reservations/not-a-number"), 422)


async def test_without_a_baseline_nothing_is_reserved(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    found = problem(await reserve(client, line("1")), 409)
    assert found["type"].endswith("/baseline-missing")


async def test_reservations_are_listed_by_campaign_a_page_at_a_time(ready: httpx.AsyncClient) -> None:
    for campaign in ("a", "b", "a", "a"):
        body = {"campaign": campaign, "lines": [line("1")]}
        assert (await ready.post("/v1/capacity/reservations", json=body)).status_code == 201
    pages, cursor = [], None
    while True:
        params = {"campaign": "a", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await ready.get("/v1/capacity/reservations", params=params)).json()
        pages.append([r["campaign"] for r in page["items"]])
        if not (cursor := page["next_cursor"]):
            break
    assert pages == [["a", "a"], ["a"]]
