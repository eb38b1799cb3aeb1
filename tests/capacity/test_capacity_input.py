"""Issue 17: text the database cannot hold is a 422 naming the field and stores nothing; so is an
Idempotency-Key that is not printable ASCII (docs/api.md, "Input rules")."""

import httpx
import pytest

from tests.capacity.conftest import problem, put_resource, refresh, resource, week

pytestmark = pytest.mark.isolation("rollback")


def located(response: httpx.Response) -> list[tuple[list, str]]:
    return [(e["location"], e["type"]) for e in problem(response, 422)["errors"]]


@pytest.mark.parametrize("field", ["name", "unit"])
async def test_a_nul_character_in_a_resource_is_refused(client: httpx.AsyncClient, field: str) -> None:
    response = await client.put("/v1/capacity/resources/assembly-hours", json=resource(**{field: "Ass\u0000embly"}))
    assert located(response) == [(["body", field], "nul_character")]
    assert (await client.get("/v1/capacity/resources/assembly-hours")).status_code == 404


async def test_a_nul_character_in_an_exception_reason_is_refused(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    body = {
        "resource": "assembly-hours",
        "starts_on": str(week(1)),
        "ends_on": str(week(2)),
        "capacity": "0",
        "reason": "Plant\u0000shutdown",
    }
    assert located(await client.post("/v1/capacity/exceptions", json=body)) == [(["body", "reason"], "nul_character")]
    assert (await client.get("/v1/capacity/exceptions")).json()["items"] == []


@pytest.mark.parametrize(
    ("overrides", "location"),
    [
        ({"campaign": "winback\u0000q1"}, ["body", "campaign"]),
        (
            {"lines": [{"resource": "assembly\u0000hours", "week_start": "W", "amount": "5"}]},
            ["body", "lines", 0, "resource"],
        ),
    ],
)
async def test_a_nul_character_in_a_reservation_is_refused(
    client: httpx.AsyncClient, overrides: dict, location: list
) -> None:
    await put_resource(client)
    await refresh(client)
    body = {
        "campaign": "winback-q1",
        "lines": [{"resource": "assembly-hours", "week_start": str(week(1)), "amount": "5"}],
    } | overrides
    assert located(await client.post("/v1/capacity/reservations", json=body)) == [(location, "nul_character")]
    assert (await client.get("/v1/capacity/reservations")).json()["items"] == []


@pytest.mark.parametrize("key", [b"retry\t1", "schl\u00fcssel".encode()])
async def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(client: httpx.AsyncClient, key: bytes) -> None:
    await put_resource(client)
    body = {
        "resource": "assembly-hours",
        "starts_on": str(week(1)),
        "ends_on": str(week(1)),
        "capacity": "0",
        "reason": "Inventory",
    }
    response = await client.post("/v1/capacity/exceptions", json=body, headers=[(b"Idempotency-Key", key)])
    assert [location for location, _ in located(response)] == [["header", "idempotency-key"]]
    assert (await client.get("/v1/capacity/exceptions")).json()["items"] == []


async def test_an_unknown_query_parameter_is_refused(client: httpx.AsyncClient) -> None:
    errors = problem(await client.get("/v1/capacity/reservations", params={"campaing": "winback-q1"}), 422)["errors"]
    assert errors[0]["location"] == ["query", "campaing"]
    assert errors[0]["message"] == "Unknown query parameter; this route takes campaign, cursor, limit, state."
