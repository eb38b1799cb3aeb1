"""Dates and quantities outside what capacity plans for are refused with the range, and change nothing."""

import httpx
import pytest

from tests.capacity.conftest import problem, put_resource

pytestmark = pytest.mark.isolation("rollback")

FAR = "must lie between 1900-01-01 and 2099-12-31"


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in problem(response, 422)["errors"]]


async def test_an_exception_in_the_year_9999_is_refused(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    far = {
        "resource": "assembly-hours",
        "starts_on": "9999-12-25",
        "ends_on": "9999-12-31",
        "delta": "-8",
        "reason": "far future",
    }
    assert _errors(await client.post("/v1/capacity/exceptions", json=far)) == [
        ("body.starts_on", FAR),
        ("body.ends_on", FAR),
    ]
    assert (await client.get("/v1/capacity/exceptions")).json()["items"] == []


async def test_a_reservation_line_in_a_far_week_or_a_huge_hold_is_refused(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    line = {"resource": "assembly-hours", "week_start": "9999-12-27", "amount": "1"}
    response = await client.post("/v1/capacity/reservations", json={"campaign": "c-1", "lines": [line]})
    assert _errors(response) == [("body.lines.0.week_start", FAR)]
    held = {"campaign": "c-1", "lines": [line | {"week_start": "2026-12-07"}], "hold_seconds": 2**63}
    assert ("body.hold_seconds", "must be from 1 to 604800 seconds") in _errors(
        await client.post("/v1/capacity/reservations", json=held)
    )
    assert (await client.get("/v1/capacity/reservations")).json()["items"] == []


async def test_a_quantity_too_large_for_its_column_names_the_range(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/capacity/resources/assembly-hours",
        json={
            "name": "Assembly",
            "unit": "hours",
            "weekly_capacity": "1e400",
            "load_per_order": "1e20",
            "new_customer_weekly_load": "0",
        },
    )
    assert _errors(response) == [
        ("body.weekly_capacity", "must be from 0 to 999999999999.99, with at most 2 decimal places"),
        ("body.load_per_order", "must be from 0 to 9999999999.9999, with at most 4 decimal places"),
    ]
    assert (await client.get("/v1/capacity/resources/assembly-hours")).status_code == 404
